// A Node.js `http` server for the agent's end-to-end tests. Usage: node node_server.mjs WWW_DIR
// BACKEND_PORT. Prints "port N" once listening. /call/N calls the backend with fetch.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [www, backendPort] = process.argv.slice(2);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (req.method === 'GET' && url.pathname.startsWith('/items/')) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: url.pathname.slice('/items/'.length) }));
    } else if (req.method === 'GET' && url.pathname.startsWith('/call/')) {
      // Passes on the query string and the Authorization header, as a proxy would.
      const r = await fetch(`http://127.0.0.1:${backendPort}/items/${url.pathname.slice(6)}${url.search}`,
                            { headers: { authorization: req.headers.authorization ?? '' } });
      res.writeHead(r.status, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from(await r.arrayBuffer()));
    } else if (req.method === 'GET' && url.pathname === '/chunked') {
      // No Content-Length: the parts go out chunked.
      for (let i = 0; i < 5; ++i) res.write(`part ${i} of a chunked body\n`);
      res.end();
    } else if (req.method === 'GET' && url.pathname.startsWith('/files/')) {
      const file = path.join(www, path.basename(url.pathname));
      if (!fs.existsSync(file)) {
        res.writeHead(404).end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-length': fs.statSync(file).size });
      fs.createReadStream(file).pipe(res);
    } else if (req.method === 'POST' && url.pathname === '/upload') {
      const hash = crypto.createHash('sha256');
      for await (const chunk of req) hash.update(chunk);
      res.end(hash.digest('hex'));
    } else if (url.pathname === '/fail') {
      res.writeHead(500).end('failed on purpose\n');
    } else {
      res.writeHead(404).end('not found\n');
    }
  } catch (e) {
    res.writeHead(502).end(`${e}\n`);
  }
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
