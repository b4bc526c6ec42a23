// The s3 exporter against a real S3-compatible server (s3rver): the OpenTelemetry JS SDK sends
// spans to a collector whose s3 exporters upload them as objects (gzip OTLP JSON, plain OTLP
// protobuf); the AWS SDK's own S3 client lists and reads them back. A missing bucket and an
// unknown access key are permanent failures, logged clearly and counted in /metrics.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';

import { Collector, freePorts, makeTempDir, waitFor } from './lib/collector.mjs';
import { fastRetry, otlpReceiver, telemetry } from './lib/configs.mjs';
import { E2E_DIR } from './lib/deps.mjs';
import { canonical, countSpans, decodeRequest, jsonToProtoObject } from './lib/otlp.mjs';
import { ExportResultCode, sendSpansWithSdk } from './lib/sdk.mjs';

const require = createRequire(path.join(E2E_DIR, 'node', 'package.json'));
const S3rver = require('s3rver');
const { S3Client, CreateBucketCommand, ListObjectsV2Command, GetObjectCommand } = require('@aws-sdk/client-s3');

// s3rver's built-in account.
const CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
const BUCKET = 'spans';
const PARTITION = /^year=(\d{4})\/month=(\d{2})\/day=(\d{2})\/hour=(\d{2})\/minute=(\d{2})\/$/;

describe('s3 exporter → s3rver, read back with @aws-sdk/client-s3', () => {
  const tmp = makeTempDir('s3');
  let server, s3, endpoint, good, badCreds, ports;

  const s3Exporter = (uploader, extra = {}) => ({
    s3uploader: { region: 'us-east-1', endpoint, s3_force_path_style: true, s3_bucket: BUCKET, ...uploader },
    retry_on_failure: fastRetry(),
    ...extra,
  });

  before(async () => {
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: tmp.file('s3rver') });
    const { port } = await server.run();
    endpoint = `http://127.0.0.1:${port}`;
    s3 = new S3Client({
      endpoint, forcePathStyle: true, region: 'us-east-1',
      credentials: { accessKeyId: CREDS.AWS_ACCESS_KEY_ID, secretAccessKey: CREDS.AWS_SECRET_ACCESS_KEY },
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));

    const [grpcPort, httpPort, metricsPort, badGrpc, badMetrics] = await freePorts(5);
    ports = { good: { grpcPort, httpPort }, bad: { grpcPort: badGrpc } };
    good = new Collector({
      name: 'good', dir: tmp.dir, metricsPort, waitPorts: [grpcPort, httpPort], env: CREDS,
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort, httpPort }) },
        exporters: {
          's3/json': s3Exporter({ s3_prefix: 'json', compression: 'gzip', file_prefix: 'e2e-' }),
          's3/proto': s3Exporter({ s3_prefix: 'proto/' }, { marshaler: 'otlp_proto' }),
          's3/missing': s3Exporter({ s3_bucket: 'no-such-bucket' }),
        },
        service: {
          telemetry: telemetry(metricsPort),
          pipelines: { traces: { receivers: ['otlp'], exporters: ['s3/json', 's3/proto', 's3/missing'] } },
        },
      },
    });
    badCreds = new Collector({
      name: 'badcreds', dir: tmp.dir, metricsPort: badMetrics, waitPorts: [badGrpc],
      env: { AWS_ACCESS_KEY_ID: 'NOT-A-KEY', AWS_SECRET_ACCESS_KEY: 'very-secret-value' },
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort: badGrpc }) },
        exporters: { s3: s3Exporter({ s3_prefix: 'bad' }) },
        service: {
          telemetry: telemetry(badMetrics),
          pipelines: { traces: { receivers: ['otlp'], exporters: ['s3'] } },
        },
      },
    });
    await Promise.all([good.start(), badCreds.start()]);
  });

  after(async () => {
    const exits = {};
    for (const c of [good, badCreds]) if (c) exits[c.name] = await c.stop();
    if (server) await server.close();
    for (const [name, exit] of Object.entries(exits)) {
      if (exit) assert.deepEqual(exit, { code: 0, signal: null }, `${name} exits 0 on SIGTERM`);
    }
    tmp.remove();
  });

  async function listKeys(prefix) {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (r.Contents ?? []).map((o) => o.Key);
  }

  async function getObject(key) {
    const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return { body: Buffer.from(await r.Body.transformToByteArray()), type: r.ContentType, encoding: r.ContentEncoding };
  }

  // Reads every object under `prefix` until the spans of `traceIds` number `want`.
  async function readBack(prefix, traceIds, want, decode) {
    let objects = [];
    await waitFor(`${want} spans under s3://${BUCKET}/${prefix}`, async () => {
      const keys = await listKeys(prefix);
      objects = await Promise.all(keys.map(async (key) => ({ key, ...(await getObject(key)) })));
      const got = canonical(objects.map((o) => decode(o)), (s) => traceIds.has(s.traceId));
      return countSpans(got) >= want;
    }, { timeoutMs: 30000, intervalMs: 200 });
    return objects;
  }

  // The partition of a key, checked against the minutes the upload could have happened in.
  function assertPartition(key, prefix, from, to) {
    const rest = key.slice(prefix.length);
    const dir = rest.slice(0, rest.lastIndexOf('/') + 1);
    const m = PARTITION.exec(dir);
    assert.ok(m, `${key}: partition ${dir} matches year=/month=/day=/hour=/minute=`);
    const at = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    const floorMinute = (t) => Math.floor(t / 60000) * 60000;
    assert.ok(at >= floorMinute(from) && at <= floorMinute(to), `${key}: partition time within the test run`);
    return rest.slice(dir.length);
  }

  let sent;
  let from;

  it('gzip OTLP JSON objects hold exactly the spans the SDK sent', async () => {
    from = Date.now();
    sent = await sendSpansWithSdk('http/protobuf', ports.good);
    for (const r of sent.results) assert.equal(r.code, ExportResultCode.SUCCESS, `SDK export: ${r.error?.stack ?? ''}`);
    const expected = canonical(sent.requests);
    const want = countSpans(expected);
    assert.equal(want, 15);

    const objects = await readBack('json/', sent.traceIds, want, (o) => jsonToProtoObject(JSON.parse(gunzipSync(o.body))));
    const to = Date.now();
    for (const o of objects) {
      const file = assertPartition(o.key, 'json/', from, to);
      assert.match(file, /^e2e-spans_\d+_[0-9a-f]{16}\.json\.gz$/, o.key);
      assert.equal(o.type, 'application/json', `${o.key}: content type`);
      assert.equal(o.encoding, 'gzip', `${o.key}: content encoding`);
    }
    const got = canonical(objects.map((o) => jsonToProtoObject(JSON.parse(gunzipSync(o.body)))),
      (s) => sent.traceIds.has(s.traceId));
    assert.deepStrictEqual(got, expected, 'spans read back from S3 equal the spans sent');
  });

  it('OTLP protobuf objects hold the same spans', async () => {
    const expected = canonical(sent.requests);
    const objects = await readBack('proto/', sent.traceIds, countSpans(expected), (o) => decodeRequest(o.body));
    for (const o of objects) {
      const file = assertPartition(o.key, 'proto/', from, Date.now());
      assert.match(file, /^spans_\d+_[0-9a-f]{16}\.binpb$/, o.key);
      assert.equal(o.type, 'application/x-protobuf', `${o.key}: content type`);
      assert.equal(o.encoding, undefined, `${o.key}: not compressed`);
    }
    const got = canonical(objects.map((o) => decodeRequest(o.body)), (s) => sent.traceIds.has(s.traceId));
    assert.deepStrictEqual(got, expected);
    const keys = objects.map((o) => o.key);
    assert.equal(new Set(keys).size, keys.length, 'every upload has its own key');
  });

  it('a missing bucket is a permanent failure naming the bucket, counted in /metrics', async () => {
    await good.waitMetric('otelcol_exporter_send_failed_spans_total', { exporter: 's3/missing' }, (v) => v >= 15,
      { timeoutMs: 15000, expect: '>= 15' });
    await waitFor('the missing-bucket error in the log', () => /no-such-bucket' does not exist/.test(good.output));
    assert.match(good.output, /exporter s3\/missing: dropping \d+ spans, the destination refused them: .*bucket 'no-such-bucket' does not exist/);
    assert.equal(await good.metric('otelcol_exporter_send_failed_spans_total', { exporter: 's3/json' }) ?? 0, 0);
    assert.equal(await good.metric('otelcol_exporter_send_failed_spans_total', { exporter: 's3/proto' }) ?? 0, 0);
  });

  it('an unknown access key is a permanent failure about credentials; the secret is never logged', async () => {
    const r = await sendSpansWithSdk('grpc', ports.bad);
    for (const x of r.results) assert.equal(x.code, ExportResultCode.SUCCESS);
    await badCreds.waitMetric('otelcol_exporter_send_failed_spans_total', { exporter: 's3' }, (v) => v >= 15,
      { timeoutMs: 15000, expect: '>= 15' });
    await waitFor('the access-denied error in the log', () => /access denied/.test(badCreds.output));
    assert.match(badCreds.output, /HTTP 403 InvalidAccessKeyId.*check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY/);
    assert.doesNotMatch(badCreds.output, /very-secret-value/);
    assert.deepEqual(await listKeys('bad/'), [], 'nothing was written');
  });
});

// s3rver checks the access key, not the signature: a recording server takes one upload, and the
// test recomputes its SigV4 signature from AWS's published algorithm (canonical request → string
// to sign → HMAC chain). They must agree, or real S3 would refuse every upload.
describe('s3 exporter: the SigV4 signature is the one AWS computes', () => {
  const tmp = makeTempDir('s3sig');
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  let recorder, collector, recorded;

  before(async () => {
    recorder = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        recorded ??= { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) };
        res.writeHead(200, { ETag: '"x"' }).end();
      });
    });
    await new Promise((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    const [grpcPort, metricsPort] = await freePorts(2);
    collector = new Collector({
      name: 'signed', dir: tmp.dir, metricsPort, waitPorts: [grpcPort],
      env: { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: 'session-token-1' },
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort }) },
        exporters: {
          s3: {
            s3uploader: { region: 'eu-west-3', endpoint: `http://127.0.0.1:${recorder.address().port}`,
                          s3_force_path_style: true, s3_bucket: 'traces', s3_prefix: 'p', compression: 'gzip' },
          },
        },
        service: { telemetry: telemetry(metricsPort), pipelines: { traces: { receivers: ['otlp'], exporters: ['s3'] } } },
      },
    });
    await collector.start();
    await sendSpansWithSdk('grpc', { grpcPort });
    await waitFor('one upload at the recording server', () => recorded !== undefined, { timeoutMs: 15000 });
  });

  after(async () => {
    if (collector) assert.deepEqual(await collector.stop(), { code: 0, signal: null });
    recorder?.close();
    tmp.remove();
  });

  it('the upload carries the signature AWS computes for it', () => {
    const h = recorded.headers;
    const auth = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/
      .exec(h.authorization);
    assert.ok(auth, `an AWS SigV4 Authorization header: ${h.authorization}`);
    const [, credential, signedHeaders, signature] = auth;
    const [key, day, region, service, terminal] = credential.split('/');
    assert.deepEqual([key, region, service, terminal], ['AKIDEXAMPLE', 'eu-west-3', 's3', 'aws4_request']);
    const names = signedHeaders.split(';');
    for (const n of ['host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token']) {
      assert.ok(names.includes(n), `${n} is signed (${signedHeaders})`);
    }
    // A header that is signed but not sent makes S3 compute another signature.
    for (const n of names) assert.ok(n in h, `signed header ${n} is in the request`);
    assert.equal(h['x-amz-security-token'], 'session-token-1');
    // The payload hash the request claims is the body's.
    assert.equal(h['x-amz-content-sha256'], crypto.createHash('sha256').update(recorded.body).digest('hex'));
    assert.match(recorded.url, /^\/traces\/p\/year%3D\d{4}\/month%3D/, 'path-style key, each segment encoded once');

    const canonicalRequest = [
      recorded.method, recorded.url, '',
      names.map((n) => `${n}:${String(h[n]).trim()}`).join('\n') + '\n',
      signedHeaders, h['x-amz-content-sha256'],
    ].join('\n');
    const scope = `${day}/${region}/${service}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', h['x-amz-date'], scope,
      crypto.createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
    const hmac = (k, data) => crypto.createHmac('sha256', k).update(data).digest();
    const signingKey = [day, region, service, 'aws4_request'].reduce(hmac, `AWS4${secret}`);
    assert.equal(signature, hmac(signingKey, stringToSign).toString('hex'), canonicalRequest);
  });
});
