// Backend of the overhead benchmark's 2-hop service: plain node:http, answers GET /items/<id> with
// a small JSON document (and POST /check/<k>, below), over HTTPS when given a certificate. CommonJS on purpose, so the OpenTelemetry SDK's require hooks see node:http
// exactly as in a typical service.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const zlib = require('node:zlib');

// POST /check/<k> (the injection chain, run.mjs): answers "<k> <body length> <crc32 of the body>
// <traceparent or ->", as bench/overhead/python/backend.py does.
function check(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const k = req.url.split('/').pop();
    const crc = zlib.crc32(body).toString(16).padStart(8, '0');
    const answer = `${k} ${body.length} ${crc} ${req.headers.traceparent || '-'}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
  });
}

// TLS_CERT and TLS_KEY (files): HTTPS instead (the tls-db suite).
const tls = process.env.TLS_CERT
  ? { cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) }
  : undefined;
const handler = (req, res) => {
  if (req.method === 'POST') return check(req, res);
  const id = Number(req.url.split('/').pop()) || 0;
  const body = JSON.stringify({ id, name: `item ${id}`, price: (id * 37) % 1000, stock: id % 7 });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
server.keepAliveTimeout = 120_000;
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
// Stop by letting the event loop drain, so an SDK loaded with --require flushes its spans on exit.
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 5000).unref();
});
