// One hop of a call chain for the trace-context end-to-end tests (tests/e2e/context.test.mjs),
// on Node's event loop. Usage: node context_hop.mjs [NEXT_PORT ...]. For GET PATH it calls every
// 127.0.0.1:NEXT_PORT with the same PATH with fetch, one after the other, and answers JSON like
// context_hop.py: {"port", "path", "traceparent" (as received, or null), "sdk", "calls"}, where
// "sdk" is what the OpenTelemetry JS SDK's W3CTraceContextPropagator extracts from the request
// headers ({traceId, spanId} of the remote parent, or null). A leaf answers 500 under /fail/; a
// hop answers the worst status its calls got. Prints "port N" once listening.
import http from 'node:http';

import { api, core } from '../lib/deps.mjs';

const nextPorts = process.argv.slice(2).map(Number);
const propagator = new core.W3CTraceContextPropagator();

const server = http.createServer(async (req, res) => {
  try {
    const calls = [];
    for (const port of nextPorts) {
      const r = await fetch(`http://127.0.0.1:${port}${req.url}`);
      calls.push({ port, status: r.status, answer: await r.json() });
    }
    const status = calls.length > 0 ? Math.max(...calls.map((c) => c.status))
                                     : (req.url.startsWith('/fail/') ? 500 : 200);
    const extracted = propagator.extract(api.ROOT_CONTEXT, req.headers, api.defaultTextMapGetter);
    const remote = api.trace.getSpanContext(extracted);
    const body = JSON.stringify({
      port: server.address().port, path: req.url, traceparent: req.headers.traceparent ?? null,
      sdk: remote ? { traceId: remote.traceId, spanId: remote.spanId } : null, calls,
    });
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  } catch (e) {
    res.writeHead(502).end(JSON.stringify({ error: String(e) }));
  }
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
