// Database and cache calls end to end: real PostgreSQL, MariaDB and Redis servers from Debian, a
// thread-per-request Python service speaking the PostgreSQL and Redis wire protocols, and a Node
// service with the `pg`, `mysql2` and `ioredis` clients from npm, a Java service with the JDBC
// drivers from Debian, all traced by `hodos up`'s agent. Each request's calls come
// out as CLIENT spans with the database conventions, children of the request that made them, with
// sanitized query text: no literal and no bound value ever leaves the agent.
// Needs root (CI runs as root); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makeTempDir, runHodos, waitFor } from './lib/collector.mjs';
import { startMariadb, startPostgres, startRedis } from './lib/databases.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import { APPS, describeSpans, execFileP, metric, needsRoot, request, startServer, stopServer, tag,
         waitForSpans, waitUntilTraced } from './lib/servers.mjs';

const skip = needsRoot;
const PY_SECRET = 'alice-secret-7731';    // in db_app.py's SQL literal and Redis value
const NODE_SECRET = 'bob-secret-4471';    // db_node.mjs's bound parameter and Redis value
const JAVA_SECRET = 'cat-secret-9182';    // JdbcApp.java's literal and bound values

let tmp;
let up;
let pg;
let redis;
let my;
const servers = [];
const CUSTOMERS = "CREATE TABLE customers (id int PRIMARY KEY, name text); " +
                  "INSERT INTO customers VALUES (1, 'ann'), (2, 'ben'), (42, 'cyd')";

before(async () => {
  if (skip) return;
  tmp = makeTempDir('db');
  [pg, my, redis] = await Promise.all([
    startPostgres('postgres', { setupSql: CUSTOMERS, tls: true }),
    startMariadb('mariadb', { setupSql: CUSTOMERS, tls: true }),
    startRedis('redis'),
  ]);
  servers.push(pg.server, my.server, redis.server);
  up = new HodosUp({ dir: tmp.dir, agent: true });
  await up.start();
  assert.match(up.stdout, /agent: +tracing \d+ process/, `the agent did not start:\n${up.tail()}`);
});

after(async () => {
  for (const s of servers) stopServer(s);
  pg?.server.cleanup?.();
  my?.server.cleanup?.();
  redis?.server.cleanup?.();
  if (up) {
    const exit = await up.stop();
    assert.equal(exit.code, 0, up.tail());
  }
  tmp?.remove();
});

let nodeApp;
const NODE_SERVICE = `db-e2e-node-${process.pid}`;
async function startNodeApp() {
  nodeApp ??= await startApp('db_node.mjs', 'node', [path.join(APPS, 'db_node.mjs'), String(pg.port), pg.database,
                                                     String(redis.port), String(my.port), my.database], NODE_SERVICE,
                             { PG_SOCKET_DIR: pg.socketDir, MYSQL_SOCKET: my.socket, REDIS_SOCKET: redis.socket });
  return nodeApp;
}

async function startApp(name, command, args, service, env = {}) {
  const app = await startServer(name, command, args, { cwd: tmp.dir, env: { OTEL_SERVICE_NAME: service, ...env } });
  servers.push(app);
  await waitUntilTraced(up, app.child.pid);
  return app;
}

const kind = (s) => tag(s, 'span.kind');
const isDb = (system) => (s) => kind(s) === 'client' && tag(s, 'db.system.name') === system;

// The spans of the trace whose SERVER span is `operation`, once it has `wanted` database spans.
async function traceOf(service, operation, wanted) {
  const { spans, text } = await waitForSpans(up, service, `${operation} with ${wanted} database calls`, (all) => {
    const server = all.find((s) => kind(s) === 'server' && s.operationName === operation);
    return server && all.filter((s) => s.traceID === server.traceID && tag(s, 'db.system.name')).length >= wanted;
  }, { timeoutMs: 20000 });
  const server = spans.find((s) => kind(s) === 'server' && s.operationName === operation);
  const inTrace = spans.filter((s) => s.traceID === server.traceID);
  return { server, inTrace, text };
}

function assertChildren(server, spans, peer = '127.0.0.1') {
  for (const s of spans) {
    assert.deepEqual(s.references.map((r) => [r.refType, r.spanID]), [['CHILD_OF', server.spanID]],
                     `${s.operationName} is not a child of ${server.operationName}:${describeSpans(spans)}`);
    assert.ok(s.startTime >= server.startTime && s.startTime + s.duration <= server.startTime + server.duration + 1,
              `${s.operationName} lies outside its request`);
    assert.equal(tag(s, 'network.peer.address'), peer);
  }
}

test('a thread-per-request Python service: PostgreSQL and Redis calls are children of its request, sanitized', { skip }, async () => {
  const service = `db-e2e-python-${process.pid}`;
  const app = await startApp('db_app.py', 'python3', ['-u', path.join(APPS, 'db_app.py'), String(pg.port),
                                                      pg.database, String(redis.port)], service);
  // Four requests at once: each thread's calls must land under its own request.
  const answers = await Promise.all([1, 2, 42, 7].map((n) => request(app.port, `/order/${n}`)));
  for (const a of answers) assert.equal(a.status, 200, a.body.toString());

  const { server, inTrace, text } = await traceOf(service, 'GET /order/{id}', 5);
  assert.ok(!text.includes(PY_SECRET), 'a literal left the agent');
  const pgSpans = inTrace.filter(isDb('postgresql'));
  const redisSpans = inTrace.filter(isDb('redis'));
  assert.equal(pgSpans.length, 1, describeSpans(inTrace));
  assert.equal(redisSpans.length, 4, describeSpans(inTrace));
  assertChildren(server, [...pgSpans, ...redisSpans]);

  const select = pgSpans[0];
  assert.equal(select.operationName, 'SELECT customers');
  assert.equal(tag(select, 'db.operation.name'), 'SELECT');
  assert.equal(tag(select, 'db.collection.name'), 'customers');
  assert.equal(tag(select, 'db.namespace'), pg.database);
  assert.equal(tag(select, 'server.port'), pg.port);
  assert.match(tag(select, 'db.query.text'), /^SELECT name FROM customers WHERE id = \? AND name <> \?$/);
  assert.equal(tag(select, 'error'), undefined);

  assert.deepEqual(redisSpans.map((s) => s.operationName).sort(), ['GET', 'GET', 'INCR', 'SET']);
  assert.deepEqual(redisSpans.map((s) => tag(s, 'db.query.text')).sort(), ['GET ?', 'GET ?', 'INCR ?', 'SET ? ?']);
  for (const s of redisSpans) {
    assert.equal(tag(s, 'db.namespace'), '0');
    assert.equal(tag(s, 'server.port'), redis.port);
  }

  // The service map shows the databases it calls as nodes.
  await waitFor('the dependencies to name the databases', async () => {
    const deps = await up.json(`/api/dependencies?endTs=${Date.now()}&lookback=3600000`);
    const children = deps.data.filter((d) => d.parent === service).map((d) => d.child).sort();
    return children.includes('postgresql') && children.includes('redis');
  });

  // Every request got its own five calls, none in another request's trace.
  const { spans } = await waitForSpans(up, service, 'four requests with five calls each', (all) =>
    all.filter((s) => kind(s) === 'server').length >= 4 && all.filter((s) => tag(s, 'db.system.name')).length >= 20);
  for (const s of spans.filter((x) => kind(x) === 'server')) {
    const calls = spans.filter((x) => x.traceID === s.traceID && tag(x, 'db.system.name'));
    assert.equal(calls.length, 5, `${s.operationName}:${describeSpans(spans.filter((x) => x.traceID === s.traceID))}`);
    assertChildren(s, calls);
  }
});

test('errors: a missing table and WRONGTYPE are error spans with their codes, never their messages', { skip }, async () => {
  const service = `db-e2e-errors-${process.pid}`;
  const app = await startApp('db_app.py', 'python3', ['-u', path.join(APPS, 'db_app.py'), String(pg.port),
                                                      pg.database, String(redis.port)], service);
  const r = await request(app.port, '/fail');
  assert.equal(r.status, 500);
  assert.match(r.body.toString(), /^42P01 -WRONGTYPE/);

  const { server, inTrace, text } = await traceOf(service, 'GET /fail', 3);
  assert.ok(!text.includes(PY_SECRET));
  assert.ok(!text.includes('no_such_table" does not exist'), 'an error message left the agent');
  const select = inTrace.find(isDb('postgresql'));
  assert.equal(select.operationName, 'SELECT no_such_table');
  assert.equal(tag(select, 'error'), true);
  assert.equal(tag(select, 'db.response.status_code'), '42P01');
  assert.equal(tag(select, 'error.type'), '42P01');
  const lpush = inTrace.find((s) => isDb('redis')(s) && s.operationName === 'LPUSH');
  assert.equal(tag(lpush, 'error'), true);
  assert.equal(tag(lpush, 'db.response.status_code'), 'WRONGTYPE');
  assert.equal(tag(lpush, 'db.query.text'), 'LPUSH ? ?');
  const set = inTrace.find((s) => isDb('redis')(s) && s.operationName === 'SET');
  assert.equal(tag(set, 'error'), undefined);
  assertChildren(server, [select, lpush, set]);
});

test('a Node service with pg and ioredis: the extended protocol and bound values stay out', { skip }, async () => {
  const service = NODE_SERVICE;
  const app = await startNodeApp();
  // One at a time: Node serves every request on one thread, and a call is parented only while
  // that thread serves a single request (otherwise it is left a root, never guessed).
  for (const n of [1, 2]) {
    const r = await request(app.port, `/user/${n}`);
    assert.equal(r.status, 200, r.body.toString());
  }
  const { server, inTrace, text } = await traceOf(service, 'GET /user/{id}', 3);
  assert.ok(!text.includes(NODE_SECRET), 'a bound value left the agent');
  const select = inTrace.find(isDb('postgresql'));
  assert.ok(select, describeSpans(inTrace));
  assert.equal(select.operationName, 'SELECT customers');
  assert.equal(tag(select, 'db.query.text'), 'SELECT name FROM customers WHERE id = $1 AND name <> $2');
  assert.equal(tag(select, 'db.namespace'), pg.database);
  const redisSpans = inTrace.filter(isDb('redis'));
  assert.deepEqual(redisSpans.map((s) => tag(s, 'db.query.text')).sort(), ['GET ?', 'SET ? ?']);
  assertChildren(server, [select, ...redisSpans]);

  // The agent counts what it made, and `hodos status` says so.
  await waitFor('hodos_agent_db_calls_total to count the calls',
                async () => (await metric(up, 'hodos_agent_db_calls_total')) >= 3);
  const status = JSON.parse((await runHodos(['status', '--json', '--api', up.apiUrl])).stdout);
  assert.ok(status.components.agent.db_calls >= 3, JSON.stringify(status.components.agent));
  const statusText = (await runHodos(['status', '--api', up.apiUrl])).stdout;
  assert.match(statusText, /^ {2}databases \d+ calls \(PostgreSQL, MySQL, Redis, Kafka\)$/m);
});

test('over Unix sockets: PostgreSQL, MySQL and Redis calls name the socket, children of their request', { skip }, async () => {
  const app = await startNodeApp();
  for (const n of [1, 2]) {
    const r = await request(app.port, `/local/${n}`);
    assert.equal(r.status, 200, r.body.toString());
  }
  const { server, inTrace, text } = await traceOf(NODE_SERVICE, 'GET /local/{id}', 3);
  assert.ok(!text.includes(NODE_SECRET), 'a bound value or key left the agent');
  const expected = {
    postgresql: [path.join(pg.socketDir, `.s.PGSQL.${pg.port}`), 'SELECT id FROM customers WHERE name <> $1 AND id = $2'],
    mysql: [my.socket, 'SELECT name FROM customers WHERE id = ? AND name <> ?'],
    redis: [redis.socket, 'GET ?'],
  };
  for (const [system, [socket, query]] of Object.entries(expected)) {
    const calls = inTrace.filter(isDb(system));
    assert.equal(calls.length, 1, `${system}:${describeSpans(inTrace)}`);
    const [call] = calls;
    assert.equal(tag(call, 'db.query.text'), query);
    assert.equal(tag(call, 'server.address'), socket);
    assert.equal(tag(call, 'network.transport'), 'unix');
    assert.equal(tag(call, 'server.port'), undefined, `${system}: a Unix socket has no port`);
    assert.equal(tag(call, 'network.local.port'), undefined);
    assertChildren(server, [call], socket);
  }
});

test('a Node service with mysql2: prepared statements, text queries and errors against MariaDB', { skip }, async () => {
  const app = await startNodeApp();
  for (const n of [1, 2]) {
    const r = await request(app.port, `/mysql/${n}`);
    assert.equal(r.status, 200, r.body.toString());
  }
  const { server, inTrace, text } = await traceOf(NODE_SERVICE, 'GET /mysql/{id}', 3);
  assert.ok(!text.includes(NODE_SECRET), 'a bound value or literal left the agent');
  assert.ok(!text.includes('Duplicate entry'), 'an error message left the agent');
  const calls = inTrace.filter(isDb('mysql'));
  assert.equal(calls.length, 3, describeSpans(inTrace));
  assertChildren(server, calls);
  const [prepared, literal, insert] = calls.sort((a, b) => a.startTime - b.startTime);
  assert.equal(prepared.operationName, 'SELECT customers');
  assert.equal(tag(prepared, 'db.query.text'), 'SELECT name FROM customers WHERE id = ? AND name <> ?');
  assert.equal(tag(prepared, 'db.namespace'), my.database);
  assert.equal(tag(prepared, 'server.port'), my.port);
  assert.equal(tag(literal, 'db.query.text'), 'SELECT name FROM customers WHERE name <> ? AND id = ?');
  assert.equal(insert.operationName, 'INSERT customers');
  assert.equal(tag(insert, 'error'), true);
  assert.equal(tag(insert, 'db.response.status_code'), '1062');
  assert.equal(tag(insert, 'db.query.text'), 'INSERT INTO customers VALUES (?, ?)');
});

test('a Java service with the PostgreSQL and MariaDB JDBC drivers: server-prepared statements and client-side interpolation stay sanitized', { skip }, async () => {
  const jars = ['/usr/share/java/postgresql.jar', '/usr/share/java/mariadb-java-client.jar'];
  for (const jar of jars) assert.ok(fs.existsSync(jar), `${jar} is missing: run make setup`);
  const classes = path.join(tmp.dir, 'jdbc');
  await execFileP('javac', ['-d', classes, path.join(APPS, 'JdbcApp.java')]);
  const service = `db-e2e-jdbc-${process.pid}`;
  const app = await startApp('JdbcApp', 'java', ['-cp', [classes, ...jars].join(':'), 'JdbcApp', String(pg.port),
                                                 pg.database, String(my.port), my.database], service,
                             { JDBC_SECRET: JAVA_SECRET });  // not in argv: the resource has the command line
  // pgjdbc switches to a named server-side statement from the 5th execution (prepareThreshold):
  // later requests send only Bind/Execute for "S_1", whose text the agent must remember.
  const REQUESTS = 7;
  for (let n = 1; n <= REQUESTS; ++n) {
    const r = await request(app.port, `/jdbc/${n}`);
    assert.equal(r.status, 200, r.body.toString());
  }
  const { spans, text } = await waitForSpans(up, service, `${REQUESTS} requests with 3 database calls each`, (all) => {
    const servers = all.filter((s) => kind(s) === 'server' && s.operationName === 'GET /jdbc/{id}');
    return servers.length === REQUESTS &&
      servers.every((sv) => all.filter((s) => s.traceID === sv.traceID && tag(s, 'db.system.name')).length === 3);
  }, { timeoutMs: 30000 });
  assert.ok(!text.includes(JAVA_SECRET), 'a literal or bound value left the agent');
  const servers = spans.filter((s) => kind(s) === 'server').sort((a, b) => a.startTime - b.startTime);
  for (const [i, server] of servers.entries()) {
    const inTrace = spans.filter((s) => s.traceID === server.traceID && tag(s, 'db.system.name'))
      .sort((a, b) => a.startTime - b.startTime);
    assertChildren(server, inTrace);
    const [select, literal, prepared] = inTrace;
    const where = `request ${i + 1}:${describeSpans(inTrace)}`;
    assert.equal(tag(select, 'db.system.name'), 'postgresql', where);
    assert.equal(select.operationName, 'SELECT customers', where);
    assert.equal(tag(select, 'db.query.text'), 'SELECT name FROM customers WHERE id = $1 AND name <> $2', where);
    // The connections were opened at start, before the process listened and the agent followed
    // it: their start (where the database is named) went unseen, so no namespace is guessed.
    assert.equal(tag(select, 'db.namespace'), undefined, where);
    assert.equal(tag(literal, 'db.system.name'), 'mysql', where);
    assert.equal(tag(literal, 'db.query.text'), 'SELECT name FROM customers WHERE name <> ? AND id = ?', where);
    assert.equal(tag(literal, 'db.namespace'), undefined, where);
    // MariaDB Connector/J sends a PreparedStatement as text with the value written in.
    assert.equal(tag(prepared, 'db.query.text'), 'SELECT id FROM customers WHERE name = ?', where);
  }
});

test('PostgreSQL and MySQL over TLS: the same spans from the plaintext Node\'s OpenSSL sees', { skip }, async () => {
  const service = `db-e2e-node-tls-${process.pid}`;
  const app = await startApp('db_node.mjs (TLS)', 'node', [path.join(APPS, 'db_node.mjs'), String(pg.port), pg.database,
                                                          String(redis.port), String(my.port), my.database],
                             service, { DB_TLS: '1' });
  // Its OpenSSL is probed shortly after it is traced: TLS written before then is not read.
  let source;
  await waitFor('the agent to probe the TLS app\'s OpenSSL', async () => {
    source = (await up.json('/api/v1/sources')).sources.find((s) => s.pid === app.child.pid);
    return /OpenSSL/.test(String(source?.tls));
  }, { describe: () => JSON.stringify(source) });
  for (const route of ['/user/1', '/mysql/1']) {
    const r = await request(app.port, route);
    assert.equal(r.status, 200, r.body.toString());
  }
  // Redis (plaintext) answers /user too: wait for the PostgreSQL span itself.
  await waitForSpans(up, service, 'the PostgreSQL call over TLS', (all) => all.some(isDb('postgresql')),
                     { timeoutMs: 20000 });
  const user = await traceOf(service, 'GET /user/{id}', 3);
  const mysqlTrace = await traceOf(service, 'GET /mysql/{id}', 3);
  for (const { text } of [user, mysqlTrace]) assert.ok(!text.includes(NODE_SECRET), 'a bound value or literal left the agent');
  const select = user.inTrace.find(isDb('postgresql'));
  assert.ok(select, describeSpans(user.inTrace));
  assert.equal(tag(select, 'db.query.text'), 'SELECT name FROM customers WHERE id = $1 AND name <> $2');
  assert.equal(tag(select, 'db.namespace'), pg.database, 'the start-up message, sent inside TLS, was read');
  assertChildren(user.server, [select]);
  const calls = mysqlTrace.inTrace.filter(isDb('mysql')).sort((a, b) => a.startTime - b.startTime);
  assert.deepEqual(calls.map((s) => tag(s, 'db.query.text')),
                   ['SELECT name FROM customers WHERE id = ? AND name <> ?',
                    'SELECT name FROM customers WHERE name <> ? AND id = ?', 'INSERT INTO customers VALUES (?, ?)'],
                   describeSpans(mysqlTrace.inTrace));
  assert.equal(tag(calls[2], 'db.response.status_code'), '1062');
  assertChildren(mysqlTrace.server, calls);
});
