// Frontend of the overhead benchmark's 2-hop service: plain node:http. Each GET /api/items/<id>
// calls the backend's /items/<id> over a keep-alive node:http Agent and wraps its answer.
// The tls-db suite (BACKEND_TLS=1, REDIS_PORT): the call goes over HTTPS (keep-alive, the test
// certificate not checked), and each request first reads item:<id> from Redis with ioredis.
'use strict';
const http = require('node:http');
const https = require('node:https');

const backendPort = Number(process.env.BACKEND_PORT);
const backendTls = process.env.BACKEND_TLS === '1';
const agent = backendTls
  ? new https.Agent({ keepAlive: true, maxSockets: 128, rejectUnauthorized: false })
  : new http.Agent({ keepAlive: true, maxSockets: 128 });
const backend = backendTls ? https : http;
const redis = process.env.REDIS_PORT
  ? new (require('ioredis'))({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT), enableReadyCheck: false })
  : undefined;

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// POST /api/check/<k> (the injection chain, run.mjs): forwards the body to the backend's
// /check/<k> and answers with the backend's answer, as bench/overhead/python/frontend.py does.
function check(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const k = req.url.split('/').pop();
    const call = http.request({
      host: '127.0.0.1', port: backendPort, path: `/check/${k}`, method: 'POST', agent,
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
    }, (answer) => {
      const parts = [];
      answer.on('data', (c) => parts.push(c));
      answer.on('end', () => {
        const text = Buffer.concat(parts);
        res.writeHead(answer.statusCode === 200 ? 200 : 502, { 'content-type': 'text/plain', 'content-length': text.length });
        res.end(text);
      });
    });
    call.on('error', () => reply(res, 502, '{"error":"backend unreachable"}'));
    call.end(body);
  });
}

function item(id, res, cached) {
  const call = backend.request({ host: '127.0.0.1', port: backendPort, path: `/items/${id}`, agent }, (answer) => {
    const chunks = [];
    answer.on('data', (c) => chunks.push(c));
    answer.on('end', () => {
      if (answer.statusCode !== 200) return reply(res, 502, '{"error":"backend"}');
      const found = JSON.parse(Buffer.concat(chunks).toString());
      reply(res, 200, JSON.stringify({ item: found, cached, served_by: 'frontend' }));
    });
  });
  call.on('error', () => reply(res, 502, '{"error":"backend unreachable"}'));
  call.end();
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST') return check(req, res);
  const id = Number(req.url.split('/').pop()) || 0;
  if (!redis) return item(id, res, undefined);
  redis.get(`item:${id}`).then((cached) => item(id, res, cached),
                               () => reply(res, 502, '{"error":"redis unreachable"}'));
});
server.keepAliveTimeout = 120_000;
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
// Stop by letting the event loop drain, so an SDK loaded with --require flushes its spans on exit.
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
  redis?.disconnect();
  setTimeout(() => process.exit(0), 5000).unref();
});
