// The otlp receiver as a gateway other hosts reach: TLS on both protocols, a bearer token, and
// client certificates (mTLS). Certificates are made at test time with the openssl CLI. Real
// OpenTelemetry JS SDK exporters send with the CA and token (accepted, spans land in a file) and
// without them (refused with the right status, nothing ingested); a `hodos collector` forwards
// through its otlp exporter to a gateway with TLS, a client certificate and the token.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { Collector, HODOS_BIN, freePorts, makeTempDir, runHodos, toYaml, waitFor } from './lib/collector.mjs';
import { fastRetry, otlpReceiver, telemetry } from './lib/configs.mjs';
import { api, exporterGrpc, exporterHttp, grpc, sdkTraceBase } from './lib/deps.mjs';
import {
  flattenSpans, makeJsonRequest, post, readJsonLines, spanIdsInJson, waitForSpansInFile,
} from './lib/otlp.mjs';

const TOKEN = 's3cret-token-for-e2e';
const GRPC_UNAUTHENTICATED = 16;
const GRPC_UNAVAILABLE = 14;

// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all signed by it,
// plus a client certificate from another CA.
function makeCertificates(dir) {
  const ossl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name) => ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
  const leaf = (name, caName, ext) => {
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`,
      '-keyout', `${name}.key`, '-out', `${name}.csr`);
    fs.writeFileSync(`${dir}/${name}.ext`, ext);
    ossl('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`,
      '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  };
  ca('ca');
  ca('rogue-ca');
  leaf('server', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  leaf('rogue-client', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  const f = (n) => `${dir}/${n}`;
  const read = (n) => fs.readFileSync(f(n));
  return {
    file: f,
    ca: read('ca.crt'),
    client: { cert: read('client.crt'), key: read('client.key') },
    rogue: { cert: read('rogue-client.crt'), key: read('rogue-client.key') },
  };
}

// Finished spans of one new trace, made by the SDK (handed to exporters directly so that each
// export's result can be checked).
function sdkSpans(n = 3) {
  const memory = new sdkTraceBase.InMemorySpanExporter();
  const provider = new sdkTraceBase.BasicTracerProvider({
    spanProcessors: [new sdkTraceBase.SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('e2e.tls');
  const root = tracer.startSpan('root');
  const ctx = api.trace.setSpan(api.ROOT_CONTEXT, root);
  for (let i = 1; i < n; i++) tracer.startSpan(`child-${i}`, {}, ctx).end();
  root.end();
  const spans = memory.getFinishedSpans();
  return { spans, ids: spans.map((s) => `${s.spanContext().traceId}/${s.spanContext().spanId}`) };
}

function exportOnce(exporter, spans) {
  return new Promise((resolve) => exporter.export(spans, resolve))
    .finally(() => exporter.shutdown().catch(() => {}));
}

function grpcExporter(port, { ca, token, client, plaintext = false, timeoutMillis = 10000 } = {}) {
  const metadata = new grpc.Metadata();
  if (token) metadata.set('authorization', `Bearer ${token}`);
  return new exporterGrpc.OTLPTraceExporter({
    url: `${plaintext ? 'http' : 'https'}://localhost:${port}`,
    credentials: plaintext ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(ca, client?.key ?? null, client?.cert ?? null),
    metadata,
    timeoutMillis,
  });
}

function httpExporter(port, { ca, token, client, plaintext = false, timeoutMillis = 10000 } = {}) {
  return new exporterHttp.OTLPTraceExporter({
    url: `${plaintext ? 'http' : 'https'}://localhost:${port}/v1/traces`,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    httpAgentOptions: plaintext ? {} : { ca, cert: client?.cert, key: client?.key },
    timeoutMillis,
  });
}

// The gRPC status or HTTP status of a failed export, as the SDK reports it.
function failureCode(result) {
  assert.equal(result.code, 1, 'the export failed');
  return result.error?.code;
}

describe('otlp receiver with TLS, bearer token and mTLS', () => {
  const tmp = makeTempDir('otlp-tls');
  const files = { gateway: tmp.file('gateway.jsonl'), mtls: tmp.file('mtls.jsonl') };
  let certs, gateway, mtls, forwarder, ports;

  before(async () => {
    certs = makeCertificates(tmp.dir);
    const [gGrpc, gHttp, gMetrics, mGrpc, mHttp, mMetrics, fHttp, fMetrics] = await freePorts(8);
    ports = { gGrpc, gHttp, mGrpc, mHttp, fHttp };
    const tls = { cert_file: certs.file('server.crt'), key_file: certs.file('server.key') };
    // The token comes from the environment, as a deployment would keep it out of the file.
    const auth = { bearer_token: '${env:E2E_OTLP_TOKEN}' };
    const env = { E2E_OTLP_TOKEN: TOKEN };
    gateway = new Collector({
      name: 'gateway', dir: tmp.dir, metricsPort: gMetrics, waitPorts: [gGrpc, gHttp], env,
      config: {
        receivers: {
          otlp: {
            protocols: {
              grpc: { endpoint: `127.0.0.1:${gGrpc}`, tls, auth },
              http: { endpoint: `127.0.0.1:${gHttp}`, tls: { ...tls, min_version: '1.3' }, auth },
            },
          },
        },
        exporters: { file: { path: files.gateway } },
        service: {
          telemetry: telemetry(gMetrics),
          pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } },
        },
      },
    });
    const mtlsTls = { ...tls, client_ca_file: certs.file('ca.crt') };
    mtls = new Collector({
      name: 'mtls', dir: tmp.dir, metricsPort: mMetrics, waitPorts: [mGrpc, mHttp], env,
      config: {
        receivers: {
          otlp: {
            protocols: {
              grpc: { endpoint: `127.0.0.1:${mGrpc}`, tls: mtlsTls, auth },
              http: { endpoint: `127.0.0.1:${mHttp}`, tls: mtlsTls, auth },
            },
          },
        },
        exporters: { file: { path: files.mtls } },
        service: {
          telemetry: telemetry(mMetrics),
          pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } },
        },
      },
    });
    // A collector on a host that forwards to the mTLS gateway: CA, client certificate, token.
    forwarder = new Collector({
      name: 'forwarder', dir: tmp.dir, metricsPort: fMetrics, waitPorts: [fHttp], env,
      config: {
        receivers: { otlp: otlpReceiver({ httpPort: fHttp }) },
        exporters: {
          otlp: {
            endpoint: `localhost:${mGrpc}`,
            tls: {
              ca_file: certs.file('ca.crt'),
              cert_file: certs.file('client.crt'),
              key_file: certs.file('client.key'),
            },
            headers: { authorization: 'Bearer ${env:E2E_OTLP_TOKEN}' },
            retry_on_failure: fastRetry(),
          },
        },
        service: {
          telemetry: telemetry(fMetrics),
          pipelines: { traces: { receivers: ['otlp'], exporters: ['otlp'] } },
        },
      },
    });
    await Promise.all([gateway.start(), mtls.start()]);
    await forwarder.start();
  });

  after(async () => {
    const exits = {};
    for (const c of [forwarder, gateway, mtls]) if (c) exits[c.name] = await c.stop();
    for (const [name, exit] of Object.entries(exits)) {
      if (exit) assert.deepEqual(exit, { code: 0, signal: null }, `${name} exits 0 on SIGTERM`);
    }
    tmp.remove();
  });

  const rejected = (c, transport) =>
    c.metric('hodos_receiver_rejected_requests_total', { receiver: 'otlp', transport });

  for (const protocol of ['grpc', 'http']) {
    const make = protocol === 'grpc' ? grpcExporter : httpExporter;
    const port = () => (protocol === 'grpc' ? ports.gGrpc : ports.gHttp);

    it(`${protocol}: the SDK with the CA and the token is accepted and its spans land`, async () => {
      const { spans, ids } = sdkSpans(3);
      const result = await exportOnce(make(port(), { ca: certs.ca, token: TOKEN }), spans);
      assert.equal(result.code, 0, `export succeeded: ${result.error?.message}`);
      await waitForSpansInFile(files.gateway, ids);
    });

    it(`${protocol}: a wrong or missing token is refused as unauthenticated; nothing is ingested`, async () => {
      const before = (await rejected(gateway, protocol)) ?? 0;
      const refused = [];
      for (const token of ['not-the-token', `${TOKEN}x`, undefined]) {
        const { spans, ids } = sdkSpans(2);
        refused.push(...ids);
        const result = await exportOnce(make(port(), { ca: certs.ca, token }), spans);
        assert.equal(failureCode(result), protocol === 'grpc' ? GRPC_UNAUTHENTICATED : 401,
                     `token ${token}: ${result.error?.message}`);
      }
      await gateway.waitMetric('hodos_receiver_rejected_requests_total', { receiver: 'otlp', transport: protocol },
        (v) => v === before + 3, { expect: before + 3 });
      // A good export afterwards lands; the refused spans never do.
      const { spans, ids } = sdkSpans(1);
      assert.equal((await exportOnce(make(port(), { ca: certs.ca, token: TOKEN }), spans)).code, 0);
      const lines = await waitForSpansInFile(files.gateway, ids);
      const landed = new Set(spanIdsInJson(lines));
      for (const id of refused) assert.ok(!landed.has(id), `refused span ${id} was not ingested`);
    });

    it(`${protocol}: plain text to the TLS port is refused`, async () => {
      const { spans, ids } = sdkSpans(1);
      const result = await exportOnce(
        make(port(), { token: TOKEN, plaintext: true, timeoutMillis: 3000 }), spans);
      assert.equal(result.code, 1, 'a plaintext export fails');
      if (protocol === 'grpc') assert.equal(result.error?.code, GRPC_UNAVAILABLE, result.error?.message);
      assert.ok(!spanIdsInJson(readJsonLines(files.gateway)).includes(ids[0]));
    });
  }

  it('http: the refusal says why, in the request\'s encoding, with WWW-Authenticate', async () => {
    // fetch cannot take a CA; use node:https through the SDK-free path with the same CA.
    const { default: https } = await import('node:https');
    const { json } = makeJsonRequest({ n: 1 });
    const body = JSON.stringify(json);
    const res = await new Promise((resolve, reject) => {
      const req = https.request({
        host: 'localhost', port: ports.gHttp, path: '/v1/traces', method: 'POST', ca: certs.ca,
        headers: { 'content-type': 'application/json', authorization: 'Bearer nope' },
      }, (r) => {
        let text = '';
        r.on('data', (d) => { text += d; });
        r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
    const parsed = JSON.parse(res.text);
    assert.equal(parsed.code, GRPC_UNAUTHENTICATED);
    assert.match(parsed.message, /wrong bearer token/);
    assert.ok(!res.text.includes(TOKEN), 'the answer does not echo the token');
  });

  for (const protocol of ['grpc', 'http']) {
    const make = protocol === 'grpc' ? grpcExporter : httpExporter;
    const port = () => (protocol === 'grpc' ? ports.mGrpc : ports.mHttp);

    it(`${protocol} mTLS: a client certificate from the CA is accepted`, async () => {
      const { spans, ids } = sdkSpans(2);
      const result = await exportOnce(make(port(), { ca: certs.ca, token: TOKEN, client: certs.client }), spans);
      assert.equal(result.code, 0, `export succeeded: ${result.error?.message}`);
      await waitForSpansInFile(files.mtls, ids);
    });

    it(`${protocol} mTLS: no client certificate, or one from another CA, is refused`, async () => {
      for (const client of [undefined, certs.rogue]) {
        const { spans, ids } = sdkSpans(1);
        const result = await exportOnce(
          make(port(), { ca: certs.ca, token: TOKEN, client, timeoutMillis: 3000 }), spans);
        assert.equal(result.code, 1, `export without a trusted client certificate fails (${client ? 'rogue' : 'none'})`);
        if (protocol === 'grpc') assert.equal(result.error?.code, GRPC_UNAVAILABLE, result.error?.message);
        assert.ok(!spanIdsInJson(readJsonLines(files.mtls)).includes(ids[0]));
      }
    });
  }

  it('hodos collector → hodos collector over TLS with a client certificate and the token', async () => {
    const { json, ids } = makeJsonRequest({ n: 4, service: 'forwarded' });
    const r = await post(`http://127.0.0.1:${ports.fHttp}/v1/traces`, json);
    assert.equal(r.status, 200, r.text);
    await waitForSpansInFile(files.mtls, ids);
  });

  it('config errors name the key: unreadable file, key of another certificate, 1.3 on grpc, empty token', () => {
    const cases = [
      [{ cert_file: tmp.file('missing.crt'), key_file: certs.file('server.key') }, {},
        /protocols\.grpc\.tls\.cert_file: cannot read/],
      [{ cert_file: certs.file('server.crt'), key_file: certs.file('client.key') }, {},
        /protocols\.grpc\.tls\.key_file: .* is not the private key of the certificate/],
      [{ cert_file: certs.file('server.crt'), key_file: certs.file('server.key'), min_version: '1.3' }, {},
        /protocols\.grpc\.tls\.min_version/],
      [{ cert_file: certs.file('server.crt'), key_file: certs.file('server.key') }, { bearer_token: '${env:E2E_UNSET_TOKEN}' },
        /protocols\.grpc\.auth\.bearer_token: is empty/],
    ];
    for (const [tls, auth, message] of cases) {
      const path = tmp.file(`bad-${Math.random().toString(16).slice(2)}.yaml`);
      fs.writeFileSync(path, toYaml({
        receivers: { otlp: { protocols: { grpc: { endpoint: '127.0.0.1:0', tls, ...(Object.keys(auth).length ? { auth } : {}) } } } },
        exporters: { debug: {} },
        service: { pipelines: { traces: { receivers: ['otlp'], exporters: ['debug'] } } },
      }));
      const r = runHodos(['collector', 'validate', '--config', path]);
      assert.equal(r.code, 2, `${message}: exit 2\n${r.stdout}${r.stderr}`);
      assert.match(r.stderr + r.stdout, message);
    }
  });
});

// `hodos agent --ca-file --cert-file --key-file` with the token from HODOS_TOKEN, to a gateway
// with TLS, mTLS and a token: the spans of a traced python http.server arrive.
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
describe('hodos agent → gateway with TLS, client certificate and token', {
  skip: isRoot ? false : 'the eBPF agent needs root (CAP_BPF, CAP_PERFMON)',
}, () => {
  const tmp = makeTempDir('otlp-tls-agent');
  const file = tmp.file('spans.jsonl');
  const procs = [];
  let gateway, serverPort = 0;

  const spawnLogged = (cmd, args, opts) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    const proc = { child, output: '' };
    child.stdout.on('data', (d) => { proc.output += d; });
    child.stderr.on('data', (d) => { proc.output += d; });
    procs.push(proc);
    return proc;
  };

  after(async () => {
    for (const p of procs.reverse()) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      const exited = new Promise((resolve) => p.child.on('exit', resolve));
      p.child.kill('SIGTERM');
      await exited;
    }
    if (gateway) await gateway.stop();
    tmp.remove();
  });

  it('sends over TLS with the CA, its certificate and the token; spans land', async () => {
    const certs = makeCertificates(tmp.dir);
    const [grpcPort, metricsPort, agentMetricsPort] = await freePorts(3);
    gateway = new Collector({
      name: 'gateway', dir: tmp.dir, metricsPort, waitPorts: [grpcPort], env: { E2E_OTLP_TOKEN: TOKEN },
      config: {
        receivers: {
          otlp: {
            protocols: {
              grpc: {
                endpoint: `127.0.0.1:${grpcPort}`,
                tls: { cert_file: certs.file('server.crt'), key_file: certs.file('server.key'),
                       client_ca_file: certs.file('ca.crt') },
                auth: { bearer_token: '${env:E2E_OTLP_TOKEN}' },
              },
            },
          },
        },
        exporters: { file: { path: file } },
        service: { telemetry: telemetry(metricsPort), pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } } },
      },
    });
    await gateway.start();
    fs.writeFileSync(tmp.file('hello.txt'), 'hello over tls\n');
    const server = spawnLogged('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1'], { cwd: tmp.dir });
    await waitFor('python http.server to listen', () => {
      const m = /port (\d+)/.exec(server.output);
      if (m) serverPort = Number(m[1]);
      return serverPort !== 0;
    }, { intervalMs: 20, describe: () => server.output });
    const agent = spawnLogged(HODOS_BIN, ['agent', '--endpoint', `https://localhost:${grpcPort}`,
      '--ca-file', certs.file('ca.crt'), '--cert-file', certs.file('client.crt'),
      '--key-file', certs.file('client.key'), '--metrics', `127.0.0.1:${agentMetricsPort}`,
      '--log-level', 'warn'], { env: { ...process.env, HODOS_TOKEN: TOKEN } });
    await waitFor('hodos agent to be ready', () => {
      if (agent.child.exitCode !== null) {
        throw Object.assign(new Error(`hodos agent exited: ${agent.output}`), { fatal: true });
      }
      return agent.output.includes('hodos agent: ready');
    }, { describe: () => agent.output });
    const get = () => new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: serverPort, path: '/hello.txt', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      }).on('error', reject);
    });
    await waitFor('SERVER spans of GET /hello.txt at the TLS gateway', async () => {
      assert.equal(await get(), 200);
      return flattenSpans(readJsonLines(file)).some((s) => s.span.name === 'GET /hello.txt');
    }, { timeoutMs: 30000, intervalMs: 200, describe: () => `${agent.output}\n${gateway.tail()}` });
    assert.equal(await gateway.metric('hodos_receiver_rejected_requests_total', { receiver: 'otlp', transport: 'grpc' }) ?? 0, 0);
  });
});
