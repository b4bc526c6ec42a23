// A Node.js `https` server for the agent's TLS end-to-end test. Usage: node tls_payments.mjs CERT
// KEY EDGE_PORT REDIS_PORT. Prints "port N" once listening. GET /pay/<id> reads pay:<id> from
// Redis (RESP over one plain connection), then asks the edge (nginx, HTTPS) for /receipt/<id> over
// a keep-alive agent and answers with both. The first request's TLS session to the edge starts
// right after the Redis answer was read: the agent must not take that socket for the session's.
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';

const [certFile, keyFile, edgePort, redisPort] = process.argv.slice(2);
const cert = fs.readFileSync(certFile);
const agent = new https.Agent({ keepAlive: true, ca: cert });

let redis;  // connected by the first request
function redisGet(key) {
  if (!redis) {
    redis = net.connect(Number(redisPort), '127.0.0.1');
    redis.on('error', () => {});
  }
  return new Promise((resolve) => {
    redis.once('data', (d) => resolve(d.toString()));
    redis.write(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`);
  });
}

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
    const cached = await redisGet(`pay:${m[1]}`);
    const r = await receipt(m[1]);
    const body = JSON.stringify({ paid: m[1], receipt: r.body, receiptStatus: r.status, cached });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } catch (e) {
    res.writeHead(502).end(String(e));
  }
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
