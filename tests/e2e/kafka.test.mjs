// Kafka calls end to end: librdkafka's mock cluster (Debian has no Kafka broker; the mock speaks
// the real wire protocol, tests/e2e/apps/kafka_mock_broker.c) and two Node services with kafkajs
// from npm, traced by `hodos up`'s agent. A producer's sends come out as PRODUCER spans under the
// request that made them, a consumer's polls as CLIENT spans counting exactly the messages it
// received, a refused send as an error with its Kafka error name; no message value ever leaves
// the agent. Needs root (CI runs as root); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir, waitFor } from './lib/collector.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import { APPS, describeSpans, execFileP, needsRoot, request, startServer, stopServer, tag,
         waitForSpans, waitUntilTraced } from './lib/servers.mjs';

const skip = needsRoot;
const SECRET = 'kafka-secret-5521';  // in every order message's value (kafka_node.mjs)
let tmp;
let up;
let broker;
let bootstrap;
const servers = [];

// Starts the mock broker with a pipe as stdin (it exits when the pipe closes) and resolves with
// its bootstrap address; `command(line)` sends it an error-injection line and waits for "ok".
async function startBroker(dir) {
  const source = path.join(APPS, 'kafka_mock_broker.c');
  const binary = path.join(dir, 'kafka_mock_broker');
  await execFileP('gcc', ['-O1', '-o', binary, source, '-lrdkafka']);
  const child = spawn(binary, ['orders:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const address = await waitFor('the mock Kafka broker to start', () => /bootstrap (\S+)/.exec(out)?.[1],
                                { describe: () => out });
  let acked = 0;
  const command = async (line) => {
    child.stdin.write(`${line}\n`);
    const want = ++acked;
    await waitFor(`the broker to take "${line}"`, () => (out.match(/^ok$/gm) ?? []).length >= want,
                  { describe: () => out });
  };
  return { child, address, command };
}

before(async () => {
  if (skip) return;
  tmp = makeTempDir('kafka');
  broker = await startBroker(tmp.dir);
  bootstrap = broker.address;
  up = new HodosUp({ dir: tmp.dir, agent: true });
  await up.start();
  assert.match(up.stdout, /agent: +tracing \d+ process/, `the agent did not start:\n${up.tail()}`);
});

after(async () => {
  for (const s of servers) stopServer(s);
  broker?.child.kill('SIGTERM');
  if (up) {
    const exit = await up.stop();
    assert.equal(exit.code, 0, up.tail());
  }
  tmp?.remove();
});

async function startApp(role, service) {
  const app = await startServer(`kafka ${role}`, 'node', [path.join(APPS, 'kafka_node.mjs'), role, bootstrap],
                                { cwd: tmp.dir, env: { OTEL_SERVICE_NAME: service } });
  servers.push(app);
  await waitUntilTraced(up, app.child.pid);
  return app;
}

const kind = (s) => tag(s, 'span.kind');
const ORDERS = 3;  // requests, 2 messages each
let producerService;

test('a producer\'s sends are PRODUCER spans under its request, with the messaging conventions', { skip }, async () => {
  producerService = `kafka-e2e-producer-${process.pid}`;
  const app = await startApp('producer', producerService);
  // One at a time: Node serves every request on one thread (see db_calls.test.mjs).
  for (let n = 1; n <= ORDERS; ++n) {
    const r = await request(app.port, `/order/${n}`);
    assert.equal(r.status, 200, r.body.toString());
  }
  const { spans, text } = await waitForSpans(up, producerService, `${ORDERS} orders with their sends`, (all) => {
    const servers = all.filter((s) => kind(s) === 'server' && s.operationName === 'GET /order/{id}');
    return servers.length === ORDERS &&
      servers.every((sv) => all.some((s) => s.traceID === sv.traceID && tag(s, 'messaging.system') === 'kafka'));
  }, { timeoutMs: 20000 });
  assert.ok(!text.includes(SECRET), 'a message value left the agent');
  const sends = spans.filter((s) => tag(s, 'messaging.system') === 'kafka').sort((a, b) => a.startTime - b.startTime);
  assert.equal(sends.length, ORDERS, describeSpans(sends));
  for (const [i, send] of sends.entries()) {
    const where = `send ${i + 1}:${describeSpans(sends)}`;
    const server = spans.find((s) => s.spanID === send.references[0]?.spanID);
    assert.equal(server?.operationName, 'GET /order/{id}', `not a child of its request: ${where}`);
    assert.equal(send.operationName, 'send orders', where);
    assert.equal(kind(send), 'producer', where);
    assert.equal(tag(send, 'messaging.operation.type'), 'send', where);
    assert.equal(tag(send, 'messaging.operation.name'), 'send', where);
    assert.equal(tag(send, 'messaging.destination.name'), 'orders', where);
    assert.equal(tag(send, 'messaging.destination.partition.id'), '0', where);
    assert.equal(tag(send, 'messaging.batch.message_count'), 2, where);
    assert.equal(tag(send, 'messaging.kafka.offset'), 2 * i, where);
    assert.equal(tag(send, 'messaging.client.id'), 'shop', where);
    assert.equal(tag(send, 'server.port'), Number(bootstrap.split(':')[1]), where);
    assert.equal(tag(send, 'db.system.name'), undefined, where);
  }
});

test('a consumer\'s polls are CLIENT spans that count exactly the messages it received', { skip }, async () => {
  const service = `kafka-e2e-consumer-${process.pid}`;
  const app = await startApp('consumer', service);
  assert.equal((await request(app.port, '/start')).status, 200);
  const expected = 2 * ORDERS;
  await waitFor(`the consumer to receive ${expected} messages`,
                async () => Number((await request(app.port, '/count')).body.toString()) >= expected, { timeoutMs: 20000 });
  const { spans, text } = await waitForSpans(up, service, `polls counting ${expected} messages`, (all) => {
    const polls = all.filter((s) => s.operationName === 'poll orders');
    // No count on a poll of a single message (the conventions): one.
    return polls.reduce((n, s) => n + (tag(s, 'messaging.batch.message_count') ?? 1), 0) >= expected;
  }, { timeoutMs: 20000 });
  assert.ok(!text.includes(SECRET), 'a message value left the agent');
  const polls = spans.filter((s) => tag(s, 'messaging.system') === 'kafka');
  assert.ok(polls.length > 0);
  for (const poll of polls) {
    assert.equal(poll.operationName, 'poll orders', describeSpans(polls));
    assert.equal(kind(poll), 'client');
    assert.equal(tag(poll, 'messaging.operation.type'), 'receive');
    assert.equal(tag(poll, 'messaging.operation.name'), 'poll');
    assert.equal(tag(poll, 'messaging.client.id'), 'billing-svc');
    assert.ok((tag(poll, 'messaging.batch.message_count') ?? 1) > 1 || tag(poll, 'messaging.batch.message_count') === undefined,
              'an idle poll became a span, or a single message carries a count');
  }
  assert.equal(polls.reduce((n, s) => n + (tag(s, 'messaging.batch.message_count') ?? 1), 0), expected,
               'the polls count every message once');
});

test('a refused send is an error span with the Kafka error name; the retry that follows succeeds', { skip }, async () => {
  assert.ok(producerService, 'the producer test runs first');
  const app = servers.find((s) => s.name === 'kafka producer');
  await broker.command('produce-error 1 6');  // NOT_LEADER_OR_FOLLOWER, which kafkajs retries
  const r = await request(app.port, `/order/${ORDERS + 1}`);
  assert.equal(r.status, 200, r.body.toString());
  const { spans } = await waitForSpans(up, producerService, 'a failed send and its retry', (all) => {
    const server = all.filter((s) => s.operationName === 'GET /order/{id}').sort((a, b) => b.startTime - a.startTime)[0];
    return server && all.filter((s) => s.traceID === server.traceID && tag(s, 'messaging.system')).length >= 2;
  }, { timeoutMs: 20000 });
  const server = spans.filter((s) => s.operationName === 'GET /order/{id}').sort((a, b) => b.startTime - a.startTime)[0];
  const sends = spans.filter((s) => s.traceID === server.traceID && tag(s, 'messaging.system'))
    .sort((a, b) => a.startTime - b.startTime);
  const where = describeSpans(sends);
  assert.equal(tag(sends[0], 'error'), true, where);
  assert.equal(tag(sends[0], 'error.type'), 'NOT_LEADER_OR_FOLLOWER', where);
  assert.equal(tag(sends[0], 'messaging.kafka.offset'), undefined, 'a failed send has no offset');
  assert.equal(tag(sends.at(-1), 'error'), undefined, where);
  assert.equal(tag(sends.at(-1), 'messaging.kafka.offset'), 2 * ORDERS, where);
});
