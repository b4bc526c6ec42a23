// Captures real Kafka conversations for the parser's tests and writes them to captures.h beside
// this script. The client is kafkajs (from tests/e2e/node/node_modules, npm ci there first); the
// broker is librdkafka's mock cluster (tests/e2e/apps/kafka_mock_broker.c, built here with gcc
// against Debian's librdkafka-dev), a fresh one per scenario. Every connection kafkajs opens goes
// through a TCP relay that records each 'data' event of each direction, in arrival order: the
// bytes the traced client would have written (egress) or read (ingress), chunked as a socket
// delivers them. One conversation = one TCP connection.
//
//   node tests/unit/protocols/kafka/capture_fixtures.mjs            (from the repository root)
//   node tests/unit/protocols/kafka/capture_fixtures.mjs --requests (also list every message)
//
// kafkajs learns broker addresses from Metadata responses (the mock advertises 127.0.0.1:PORT), so
// a relay given as the bootstrap server would be bypassed afterwards. Instead kafkajs is given the
// mock's own address as bootstrap server and a socketFactory that connects every socket to the
// relay, whatever host and port it was asked for; the relay forwards to the mock's only broker.
// Because the seed address equals the advertised one, kafkajs reuses the seed connection.
//
// The header is committed; nothing here runs during the tests. Message timestamps are fixed, so
// re-running changes only what the broker makes up (consumer-group member ids) and the chunking.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../../..');
const require = createRequire(path.join(root, 'tests/e2e/node/package.json'));
const { Kafka, logLevel } = require('kafkajs');
const kafkajsVersion = require('kafkajs/package.json').version;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const started = Date.now();

// --- the mock broker -----------------------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hodos-kafka-'));
const brokerBinary = path.join(tmp, 'kafka_mock_broker');
execFileSync('gcc', ['-O1', '-o', brokerBinary,
  path.join(root, 'tests/e2e/apps/kafka_mock_broker.c'), '-lrdkafka'], { stdio: 'inherit' });

function librdkafkaVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'librdkafka1'], { encoding: 'utf8' })
        .replace(/-[^-]*$/, '');
  } catch {
    return 'unknown';
  }
}

const children = new Set();
function killChildren() { for (const c of children) c.kill('SIGTERM'); }
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killChildren(); process.exit(1); });
}

// Starts a mock broker with `topics` ("orders:1"); resolves with its port, a way to send it
// commands (resolving with its answer) and a stop function. Stdin is a pipe: if this script dies,
// the broker sees end of file and exits.
async function startBroker(topics) {
  const child = spawn(brokerBinary, topics, { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  let onLine = null;
  lines.on('line', (line) => (onLine ? onLine(line) : waiting.push(line)));
  const nextLine = () => new Promise((resolve, reject) => {
    if (waiting.length) { resolve(waiting.shift()); return; }
    const timer = setTimeout(() => reject(new Error('kafka_mock_broker: no answer')), 5000);
    onLine = (line) => { clearTimeout(timer); onLine = null; resolve(line); };
  });
  const first = await nextLine();
  const m = /^bootstrap 127\.0\.0\.1:(\d+)$/.exec(first);
  if (!m) throw new Error(`kafka_mock_broker said: ${first}`);
  return {
    port: Number(m[1]),
    async command(text) {
      child.stdin.write(`${text}\n`);
      const answer = await nextLine();
      if (answer !== 'ok') throw new Error(`kafka_mock_broker: ${text}: ${answer}`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.stdin.end();  // end of file: the broker exits
        await exited;
      }
      children.delete(child);
    },
  };
}

// --- the relay -----------------------------------------------------------------------------------

// A TCP relay in front of `targetPort`: one record per accepted connection, with each 'data' event
// of both directions in arrival order. socketFactory(label) is a kafkajs socketFactory whose
// sockets always connect here, whatever broker they were meant for; their connections are
// labelled by the client's local port.
async function startRelay(targetPort) {
  const connections = [];
  const labels = new Map();  // client port -> label
  const sockets = new Set();
  const server = net.createServer((client) => {
    const clientPort = client.remotePort;
    const conn = { chunks: [], get label() { return labels.get(clientPort) ?? '?'; } };
    connections.push(conn);
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
    }
    const record = (fromClient, d) =>
      conn.chunks.push({ fromClient, bytes: Buffer.from(d), at: performance.now() });
    client.on('data', (d) => { record(true, d); upstream.write(d); });
    upstream.on('data', (d) => { record(false, d); client.write(d); });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    port,
    connections,
    socketFactory(label) {
      return ({ onConnect }) => {
        const socket = net.connect({ host: '127.0.0.1', port }, onConnect);
        socket.setKeepAlive(true, 60000);  // as kafkajs's own factory does
        socket.once('connect', () => labels.set(socket.localPort, label));
        return socket;
      };
    },
    // Resolves once predicate(connections) holds (checked every 10 ms), or rejects.
    async until(predicate, what, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(connections)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(10);
      }
    },
    async close() {
      await sleep(100);  // the last bytes in flight
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// --- decoding, to describe what was captured -----------------------------------------------------

const kApiNames = {
  0: 'Produce', 1: 'Fetch', 2: 'ListOffsets', 3: 'Metadata', 8: 'OffsetCommit', 9: 'OffsetFetch',
  10: 'FindCoordinator', 11: 'JoinGroup', 12: 'Heartbeat', 13: 'LeaveGroup', 14: 'SyncGroup',
  15: 'DescribeGroups', 16: 'ListGroups', 17: 'SaslHandshake', 18: 'ApiVersions',
  19: 'CreateTopics', 20: 'DeleteTopics', 22: 'InitProducerId', 23: 'OffsetForLeaderEpoch',
  24: 'AddPartitionsToTxn', 25: 'AddOffsetsToTxn', 26: 'EndTxn', 28: 'TxnOffsetCommit',
  32: 'DescribeConfigs', 36: 'SaslAuthenticate', 37: 'CreatePartitions',
};
// The first version of each API whose request uses the flexible (compact, tagged-field) encoding.
const kFirstFlexible = {
  0: 9, 1: 12, 2: 6, 3: 9, 8: 8, 9: 6, 10: 3, 11: 6, 12: 4, 13: 4, 14: 4, 15: 5, 16: 3, 18: 3,
  19: 5, 20: 4, 22: 2, 23: 4, 24: 3, 25: 3, 26: 3, 28: 3, 32: 4, 36: 2, 37: 2,
};
const kErrorNames = {
  1: 'OFFSET_OUT_OF_RANGE', 3: 'UNKNOWN_TOPIC_OR_PARTITION', 6: 'NOT_LEADER_OR_FOLLOWER',
  7: 'REQUEST_TIMED_OUT', 10: 'MESSAGE_TOO_LARGE', 15: 'COORDINATOR_NOT_AVAILABLE',
  16: 'NOT_COORDINATOR', 25: 'UNKNOWN_MEMBER_ID', 27: 'REBALANCE_IN_PROGRESS',
  35: 'UNSUPPORTED_VERSION', 79: 'MEMBER_ID_REQUIRED',
};
const apiName = (key) => kApiNames[key] ?? `api${key}`;
const errorName = (code) => `${code} ${kErrorNames[code] ?? ''}`.trim();
const nRecords = (n) => `${n} record${n === 1 ? '' : 's'}`;

// A big-endian reader (Buffer's methods throw past the end).
class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; }
  take(n) { const v = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return v; }
  i16() { const v = this.buf.readInt16BE(this.pos); this.pos += 2; return v; }
  i32() { const v = this.buf.readInt32BE(this.pos); this.pos += 4; return v; }
  i64() { const v = this.buf.readBigInt64BE(this.pos); this.pos += 8; return v; }
  str() { const n = this.i16(); return n < 0 ? null : this.take(n).toString('utf8'); }
  bytes() { const n = this.i32(); return n < 0 ? null : this.take(n); }
  array(fn) {
    const out = [];
    for (let n = this.i32(); n > 0; --n) out.push(fn(this));
    return out;
  }
}

// The Kafka messages (size-prefixed) of one direction, each with the indexes (into all of the
// connection's chunks) of the chunks it began and ended in.
function splitMessages(chunks, fromClient) {
  const messages = [];
  let pending = Buffer.alloc(0);
  let pendingFrom = -1;
  chunks.forEach((chunk, i) => {
    if (chunk.fromClient !== fromClient) return;
    if (pending.length === 0) pendingFrom = i;
    pending = Buffer.concat([pending, chunk.bytes]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      const n = pending.readInt32BE(0);
      messages.push({ body: pending.subarray(4, 4 + n), firstChunk: pendingFrom, lastChunk: i });
      pending = pending.subarray(4 + n);
      pendingFrom = i;
    }
  });
  return { messages, leftover: pending.length };
}

// Records in a record set: batches of magic 2, the count at offset 57 of each.
function recordCount(records) {
  let n = 0;
  for (let pos = 0; records && pos + 61 <= records.length;) {
    n += records.readInt32BE(pos + 57);
    pos += 12 + records.readInt32BE(pos + 8);
  }
  return n;
}

// What a request asks, for the few APIs worth it: a short text.
function describeRequest(key, version, r) {
  if (key === 0 && version >= 3) {  // Produce: transactional_id, acks, timeout, topics
    r.str();
    const acks = r.i16();
    r.i32();
    const parts = r.array((t) => {
      const topic = t.str();
      return t.array((p) => `${topic}/${p.i32()}: ${nRecords(recordCount(p.bytes()))}`);
    }).flat();
    return `acks=${acks} ${parts.join(', ')}`;
  }
  if (key === 3) {  // Metadata
    const topics = r.array((t) => t.str());
    return topics.length ? `topics ${topics.join(',')}` : 'all topics';
  }
  if (key === 11) {  // JoinGroup: group, session timeout, rebalance timeout (v1+), member id
    const group = r.str();
    r.i32();
    if (version >= 1) r.i32();
    return `group ${group}, member id "${r.str()}"`;
  }
  return '';
}

// What a response says: { text, records?, ranges? }.
function describeResponse(key, version, r) {
  if (key === 18) {  // ApiVersions: error_code, [api_key, min_version, max_version]
    const error = r.i16();
    return { text: error ? `error ${errorName(error)}` : '',
      ranges: r.array((a) => ({ key: a.i16(), min: a.i16(), max: a.i16() })) };
  }
  if (key === 0 && version >= 5) {  // Produce
    const parts = r.array((t) => {
      const topic = t.str();
      return t.array((p) => {
        const part = p.i32();
        const error = p.i16();
        const base = p.i64();
        p.i64();  // log_append_time_ms
        p.i64();  // log_start_offset
        return `${topic}/${part}: ${error ? `error ${errorName(error)}` : `base offset ${base}`}`;
      });
    }).flat();
    return { text: parts.join(', ') };
  }
  if (key === 1 && version >= 11) {  // Fetch: throttle, error, session id, topics
    r.i32();
    const error = r.i16();
    r.i32();
    let total = 0;
    const parts = r.array((t) => {
      const topic = t.str();
      return t.array((p) => {
        const part = p.i32();
        const perror = p.i16();
        const highWatermark = p.i64();
        p.i64();  // last_stable_offset
        p.i64();  // log_start_offset
        p.array((a) => { a.i64(); a.i64(); });  // aborted transactions
        p.i32();  // preferred_read_replica
        const n = recordCount(p.bytes());
        total += n;
        const what = perror ? `error ${errorName(perror)}` : n ? nRecords(n) : 'no records';
        return `${topic}/${part}: ${what}, high watermark ${highWatermark}`;
      });
    }).flat();
    const text = (error ? `error ${errorName(error)}, ` : '') + parts.join(', ');
    return { text, records: total };
  }
  // FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup: throttle_time_ms, error_code.
  const throttleSince = { 10: 1, 11: 2, 12: 1, 13: 1, 14: 1 }[key];
  if (throttleSince !== undefined && version >= throttleSince) {
    r.i32();
    const error = r.i16();
    return { text: error ? `error ${errorName(error)}` : '' };
  }
  return { text: '' };
}

function tryDescribe(fn, fallback) {
  try {
    return fn();
  } catch {
    return fallback;  // a summary only: never fatal
  }
}

// One connection's exchanges ({ key, version, correlation, flexible, request, response, sent,
// answered }, in request order) and notes on how they were chunked.
function decodeConnection(conn) {
  const requests = splitMessages(conn.chunks, true);
  const responses = splitMessages(conn.chunks, false);
  const byCorrelation = new Map();
  const exchanges = requests.messages.map((m) => {
    const r = new Reader(m.body);
    const key = r.i16();
    const version = r.i16();
    const correlation = r.i32();
    r.str();  // client_id
    const x = {
      key, version, correlation,
      flexible: kFirstFlexible[key] !== undefined && version >= kFirstFlexible[key],
      request: tryDescribe(() => describeRequest(key, version, r), ''),
      response: null,
      sent: m,
      answered: null,
    };
    byCorrelation.set(correlation, x);
    return x;
  });
  for (const m of responses.messages) {
    const r = new Reader(m.body);
    const x = byCorrelation.get(r.i32());
    if (!x) continue;
    x.response = tryDescribe(() => describeResponse(x.key, x.version, r), { text: '' });
    x.answered = m;
  }

  const notes = [];
  const name = (x) => `${apiName(x.key)} #${x.correlation}`;
  const byChunk = new Map();  // chunk index -> the whole messages in it
  for (const x of exchanges) {
    for (const [m, what] of [[x.sent, 'request'], [x.answered, 'response']]) {
      if (!m) continue;
      if (m.firstChunk !== m.lastChunk) {
        notes.push(`the ${what} ${name(x)} spans chunks ${m.firstChunk}-${m.lastChunk}`);
        continue;
      }
      const entry = byChunk.get(m.firstChunk) ?? { what, names: [] };
      entry.names.push(name(x));
      byChunk.set(m.firstChunk, entry);
    }
  }
  for (const [i, { what, names }] of [...byChunk].sort((a, b) => a[0] - b[0])) {
    if (names.length > 1) notes.push(`chunk ${i} holds the ${what}s ${names.join(' and ')}`);
  }
  exchanges.forEach((x, i) => {
    const unanswered = exchanges.slice(0, i)
        .filter((e) => !e.answered || e.answered.lastChunk > x.sent.firstChunk);
    if (unanswered.length) {
      notes.push(`${name(x)} was written before ${unanswered.map(name).join(', ')} was answered`);
    }
  });
  for (const x of exchanges) if (!x.answered) notes.push(`${name(x)} got no response`);
  if (requests.leftover || responses.leftover) {
    notes.push(`${requests.leftover}/${responses.leftover} bytes of an unfinished ` +
        'request/response at the end');
  }
  return { exchanges, notes };
}

const isFetchWithRecords = (x) => x.key === 1 && x.response?.records > 0;
const isEmptyFetch = (x) => x.key === 1 && x.response?.records === 0 &&
    !/error/.test(x.response.text);

// One line per exchange: "Produce v7 [what was asked; what came back]".
function summarize(decoded) {
  return decoded.exchanges.map((x) => {
    const details = [x.request, x.response?.text].filter(Boolean);
    return `${apiName(x.key)} v${x.version}${x.flexible ? ' (flexible)' : ''}` +
        (details.length ? ` [${details.join('; ')}]` : '');
  });
}

// --- the scenarios -------------------------------------------------------------------------------

const kTimestamp = 1700000000000;  // 2023-11-14T22:13:20Z, fixed so record batches repeat
const ts = (i) => String(kTimestamp + i);
const kTraceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function client(broker, relay, clientId, extra = {}) {
  return new Kafka({
    clientId,
    brokers: [`127.0.0.1:${broker.port}`],
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries: 3 },
    ...(relay ? { socketFactory: relay.socketFactory(clientId) } : {}),
    ...extra,
  });
}

// Runs `body(broker, relay)` against a fresh broker with `topics`; returns the relay's connections.
async function withBroker(topics, body) {
  const broker = await startBroker(topics);
  const relay = await startRelay(broker.port);
  try {
    await body(broker, relay);
  } finally {
    await relay.close();
    await broker.stop();
  }
  return relay.connections;
}

const results = [];  // { name, description, conn, decoded }
const apiVersionRanges = new Map();

function keep(name, description, conn) {
  const decoded = decodeConnection(conn);
  for (const x of decoded.exchanges) {
    for (const range of x.response?.ranges ?? []) apiVersionRanges.set(range.key, range);
  }
  results.push({ name, description, conn, decoded });
}

function only(connections, label) {
  const list = connections.filter((c) => c.label === label);
  if (list.length !== 1) {
    throw new Error(`expected one connection of ${label}, got: ` +
        connections.map((c) => c.label).join(', '));
  }
  return list[0];
}

// 1. A producer session: two sends to "orders".
{
  const connections = await withBroker(['orders:1'], async (broker, relay) => {
    const producer = client(broker, relay, 'shop').producer();
    await producer.connect();
    await producer.send({ topic: 'orders', messages: [
      { key: 'order-1001', value: '{"order":1001,"card":"secret-value-1234"}', timestamp: ts(0) },
      { value: 'order-1002 created', timestamp: ts(1) },
    ] });
    await producer.send({ topic: 'orders', messages: [
      { key: 'order-1003', value: 'order-1003 created', timestamp: ts(2),
        headers: { traceparent: kTraceparent } },
      { key: 'order-1004', value: 'order-1004 created', timestamp: ts(3) },
      { key: 'order-1005', value: 'order-1005 created', timestamp: ts(4) },
    ] });
    await producer.disconnect();
  });
  keep('kProducerSession', 'kafkajs producer (clientId "shop", acks -1, no compression) on ' +
      'topic "orders" (1 partition): connect, then send() of 2 messages (key "order-1001" with ' +
      'value {"order":1001,"card":"secret-value-1234"}; no key, "order-1002 created"), then ' +
      'send() of 3 messages (keys order-1003..1005, values "order-100N created"; order-1003 ' +
      `carries the record header traceparent: ${kTraceparent}), then disconnect. ` +
      'Record timestamps are 1700000000000 + n.', only(connections, 'shop'));
}

// 2. sendBatch to two topics in one Produce request.
{
  const connections = await withBroker(['orders:1', 'payments:2'], async (broker, relay) => {
    const producer = client(broker, relay, 'shop').producer();
    await producer.connect();
    await producer.sendBatch({ topicMessages: [
      { topic: 'orders', messages: [
        { key: 'order-2001', value: 'order-2001 created', timestamp: ts(10) },
        { key: 'order-2002', value: 'order-2002 created', timestamp: ts(11) },
      ] },
      { topic: 'payments', messages: [
        { key: 'pay-1', value: 'payment 1 for order-2001: 42.00 EUR', partition: 0,
          timestamp: ts(12) },
        { key: 'pay-2', value: 'payment 2 for order-2002: 13.37 EUR', partition: 1,
          timestamp: ts(13) },
      ] },
    ] });
    await producer.disconnect();
  });
  keep('kProduceTwoTopics', 'kafkajs producer (clientId "shop"): connect, then one sendBatch() ' +
      'to two topics: "orders" (partition 0, 2 messages, keys order-2001/2002) and "payments" ' +
      '(2 partitions, one message each, keys pay-1 to partition 0 and pay-2 to partition 1), ' +
      'sent as ONE Produce request with two topics; then disconnect.', only(connections, 'shop'));
}

// 3. A consumer group reading 5 messages from the beginning, then long-polling.
{
  const connections = await withBroker(['orders:1'], async (broker, relay) => {
    const producer = client(broker, null, 'seeder').producer();  // direct, not recorded
    await producer.connect();
    await producer.send({ topic: 'orders', messages: [1, 2, 3, 4, 5].map((n) => ({
      key: `order-300${n}`,
      value: n === 3 ? '{"order":3003,"card":"secret-value-1234"}' : `order-300${n} created`,
      timestamp: ts(20 + n) })) });
    await producer.disconnect();

    const consumer = client(broker, relay, 'billing-svc').consumer({
      groupId: 'billing', maxWaitTimeInMs: 100, heartbeatInterval: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'orders', fromBeginning: true });
    let got = 0;
    await consumer.run({ eachMessage: async () => { got += 1; } });
    // All 5 messages, then at least two empty long-poll fetches and a heartbeat.
    await relay.until((conns) => {
      if (got < 5) return false;
      const xs = conns.filter((c) => c.label === 'billing-svc')
          .flatMap((c) => decodeConnection(c).exchanges);
      const firstFull = xs.findIndex(isFetchWithRecords);
      return firstFull >= 0 && xs.slice(firstFull).filter(isEmptyFetch).length >= 2 &&
          xs.some((x) => x.key === 12 && x.response);
    }, 'the consumer to fetch, long-poll and heartbeat', 30000);
    await consumer.disconnect();
  });
  const mine = connections.filter((c) => c.label === 'billing-svc');
  const fetchConn = mine.find((c) => decodeConnection(c).exchanges.some(isFetchWithRecords));
  const groupConn = mine.find((c) => decodeConnection(c).exchanges.some((x) => x.key === 11));
  if (!fetchConn || !groupConn || fetchConn === groupConn || mine.length !== 2) {
    throw new Error(`expected a group connection and a Fetch connection, got ${mine.length}`);
  }
  const consumer = 'kafkajs consumer (groupId "billing", clientId "billing-svc", ' +
      'maxWaitTimeInMs 100, heartbeatInterval 200) subscribed fromBeginning to "orders" after 5 ' +
      'messages were produced (keys order-3001..3005, values "order-300N created" except ' +
      'order-3003: {"order":3003,"card":"secret-value-1234"})';
  keep('kConsumerGroup', `${consumer}. This is its first connection (kafkajs connection-pool ` +
      'slot 0: everything but Fetch): bootstrap, then the group coordinator traffic; the only ' +
      'broker is its own coordinator, so there is no separate coordinator connection. The ' +
      'JoinGroup (empty member id) is answered about 3 s later: the mock, like a real broker, ' +
      'waits group.initial.rebalance.delay.ms before electing a leader of a new group, and ' +
      'makes up the member id from a pointer ("0x7f..."). Ends with consumer.disconnect() ' +
      '(LeaveGroup).', groupConn);
  keep('kConsumerFetch', `${consumer}. This is its second connection to the same broker: kafkajs ` +
      'sends Fetch on a connection of its own (pool slot 1) and sends no ApiVersions there (the ' +
      'versions come from the first connection), so the first bytes are a Fetch request. The ' +
      'first Fetch returns the 5 records (orders/0 offsets 0-4); the later ones wait the 100 ms ' +
      'max_wait_ms at the broker and come back empty.', fetchConn);
}

// 4. A Produce failing with NOT_LEADER_OR_FOLLOWER, retried by kafkajs.
{
  const connections = await withBroker(['orders:1'], async (broker, relay) => {
    const producer = client(broker, relay, 'shop').producer();
    await producer.connect();
    await broker.command('produce-error 1 6');
    await producer.send({ topic: 'orders', messages: [
      { key: 'order-4001', value: 'order-4001 created', timestamp: ts(30) }] });
    await producer.disconnect();
  });
  keep('kProduceError', 'kafkajs producer (clientId "shop", retry initialRetryTime 50 ms): ' +
      'connect, then send() of 1 message (key order-4001) to "orders" while the mock broker ' +
      'fails the next Produce with error 6 NOT_LEADER_OR_FOLLOWER (partition-level error_code ' +
      'in the Produce response). kafkajs treats it as retriable: it refreshes Metadata and sends ' +
      'the same Produce again (a new correlation id, identical records), which succeeds.',
  only(connections, 'shop'));
}

// 5. Three concurrent sends: several Produce requests in flight on one connection.
{
  const connections = await withBroker(['orders:1'], async (broker, relay) => {
    const producer = client(broker, relay, 'shop').producer();
    await producer.connect();
    await producer.send({ topic: 'orders', messages: [
      { key: 'order-5000', value: 'order-5000 created', timestamp: ts(40) }] });
    await Promise.all([1, 2, 3].map((n) => producer.send({ topic: 'orders', messages: [
      { key: `order-500${n}`, value: `order-500${n} created`, timestamp: ts(40 + n) }] })));
    await producer.disconnect();
  });
  const conn = only(connections, 'shop');
  const decoded = decodeConnection(conn);
  if (!decoded.notes.some((n) => /was written before/.test(n))) {
    console.error('kProducePipelined: the Produce requests were not pipelined this time');
  }
  keep('kProducePipelined', 'kafkajs producer (clientId "shop"): connect, one send() of 1 ' +
      'message (key order-5000; this also fetches the topic metadata), then three send() calls ' +
      'at once (Promise.all), one message each (keys order-5001..5003). kafkajs has no ' +
      'maxInFlightRequests limit by default, so Produce requests can be in flight together and ' +
      'share a socket write (see the chunking below); the broker answers in order, and ' +
      'responses pair with requests by correlation id.', conn);
}

// --- the header ----------------------------------------------------------------------------------

function hexLines(buf) {
  const hex = buf.toString('hex');
  const lines = [];
  for (let i = 0; i < hex.length; i += 80) lines.push(`     "${hex.slice(i, i + 80)}"`);
  return lines.join('\n');
}

function wrapComment(text, width = 100) {
  const lines = [];
  let line = '//';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length + 1 + word.length > width) { lines.push(line); line = '//'; }
    line += ` ${word}`;
  }
  if (line !== '//') lines.push(line);
  return lines.join('\n');
}

const allExchanges = results.flatMap((r) => r.decoded.exchanges);
const usedKeys = [...new Set(allExchanges.map((x) => x.key))].sort((a, b) => a - b);
const negotiated = (key) => {
  const used = new Set(allExchanges.filter((x) => x.key === key).map((x) => x.version));
  const range = apiVersionRanges.get(key);
  return `${apiName(key)} v${[...used].join('/')}` +
      (range ? ` (broker ${range.min}-${range.max})` : '');
};
const anyFlexible = allExchanges.some((x) => x.flexible);

const arrays = results.map(({ name, description, conn, decoded }) => {
  const egress = conn.chunks.filter((c) => c.fromClient);
  const bytes = (list) => list.reduce((n, c) => n + c.bytes.length, 0);
  const ingress = conn.chunks.filter((c) => !c.fromClient);
  const stats = `${conn.chunks.length} chunks: ${egress.length} egress (${bytes(egress)} bytes), ` +
      `${ingress.length} ingress (${bytes(ingress)} bytes).`;
  const chunking = decoded.notes.length
    ? `Chunking (indexes from 0, #n = correlation id): ${decoded.notes.join('; ')}.`
    : 'Each chunk is exactly one whole request or response, and no request is written before ' +
      'the previous one is answered.';
  const comment = [
    wrapComment(description),
    wrapComment(`Exchanges in request order: ${summarize(decoded).join(', ')}.`),
    wrapComment(`${stats} ${chunking}`),
  ].join('\n');
  const body = conn.chunks.map((c) =>
    `    {Direction::${c.fromClient ? 'kEgress' : 'kIngress'},\n${hexLines(c.bytes)}},`).join('\n');
  return `${comment}\ninline const CapturedChunk ${name}[] = {\n${body}\n};`;
});

const node = process.version;
const header = `// Generated by capture_fixtures.mjs (node ${node}, kafkajs ${kafkajsVersion},
// librdkafka ${librdkafkaVersion()} mock cluster); do not edit, re-run the script.
// Real Kafka conversations between kafkajs clients and librdkafka's mock broker
// (tests/e2e/apps/kafka_mock_broker.c), recorded by a TCP relay: one array per TCP connection, one
// chunk per read of one direction in arrival order, as hex. kEgress = client to broker (requests),
// kIngress = broker to client (responses).
${wrapComment('Versions kafkajs negotiated from the ApiVersions exchange (highest common ' +
  `version): ${usedKeys.map(negotiated).join(', ')}. ` + (anyFlexible
    ? 'Some requests use the flexible (compact, tagged-field) encoding.'
    : 'No request uses the flexible (compact, tagged-field) encoding: kafkajs ' +
      `${kafkajsVersion} implements no flexible version of these APIs, so every header is ` +
      'request header v1 / response header v0.'))}
#pragma once

#include <string_view>

#include "protocols/stream.h"

namespace hodos::protocols::kafka::testing {

struct CapturedChunk {
  Direction direction;
  std::string_view hex;
};

${arrays.join('\n\n')}

}  // namespace hodos::protocols::kafka::testing
`;

for (const r of results) {
  console.error(`${r.name}: ${r.conn.chunks.length} chunks`);
  if (process.argv.includes('--requests')) {
    const lines = summarize(r.decoded);
    const at = (i) => r.conn.chunks[i].at;
    r.decoded.exchanges.forEach((x, i) => {
      const sent = (at(x.sent.firstChunk) - at(0)).toFixed(0).padStart(5);
      const took = x.answered ? (at(x.answered.lastChunk) - at(x.sent.lastChunk)).toFixed(1) : '-';
      console.error(`  +${sent} ms, answered in ${took.padStart(6)} ms: ` +
          `#${x.correlation} ${lines[i]}`);
    });
  }
  for (const n of r.decoded.notes) console.error(`  note: ${n}`);
}
const out = path.join(here, 'captures.h');
fs.writeFileSync(out, header);
fs.rmSync(tmp, { recursive: true, force: true });
console.error(`wrote ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(0);
