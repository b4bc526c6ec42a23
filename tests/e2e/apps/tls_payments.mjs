// A Node.js `https` server for the agent's TLS end-to-end test. Usage: node tls_payments.mjs CERT
// KEY EDGE_PORT. Prints "port N" once listening. GET /pay/<id> asks the edge (nginx, HTTPS) for
// /receipt/<id> over a keep-alive agent and answers with both.
import fs from 'node:fs';
import https from 'node:https';

const [certFile, keyFile, edgePort] = process.argv.slice(2);
const cert = fs.readFileSync(certFile);
const agent = new https.Agent({ keepAlive: true, ca: cert });

function receipt(id) {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: Number(edgePort), path: `/receipt/${id}`, agent, servername: 'localhost' },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      }).on('error', reject);
  });
}

const server = https.createServer({ cert, key: fs.readFileSync(keyFile) }, async (req, res) => {
  const m = /^\/pay\/([^/?]+)/.exec(req.url);
  if (!m) {
    res.writeHead(404).end('not found\n');
    return;
  }
  try {
    const r = await receipt(m[1]);
    const body = JSON.stringify({ paid: m[1], receipt: r.body, receiptStatus: r.status });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } catch (e) {
    res.writeHead(502).end(String(e));
  }
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
