// A Node service with the clients Node users run: `pg` (the extended protocol: Parse, Bind with
// the parameter values, Execute, Sync) and `ioredis`, for tests/e2e/db_calls.test.mjs.
// Usage: node db_node.mjs PG_PORT PG_DATABASE REDIS_PORT MYSQL_PORT MYSQL_DATABASE. Prints
// "port N" once listening.
//   GET /user/N   a parameterised SELECT (the secret is a bound value, never in the text), then
//                 SET and GET of a key holding the secret: 200.
//   GET /mysql/N  with `mysql2`: a prepared statement (COM_STMT_PREPARE, then EXECUTE with the
//                 secret bound), a text query with the secret as a literal, and a duplicate-key
//                 INSERT (error 1062): 200 when each did what it should.
//   GET /local/N  one call to each server over its Unix socket (PG_SOCKET_DIR, MYSQL_SOCKET and
//                 REDIS_SOCKET in the environment): a parameterised SELECT with `pg`, a
//                 prepared one with `mysql2`, and a GET with `ioredis`: 200.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'node', 'package.json'));
const pg = require('pg');
const Redis = require('ioredis');
const mysql = require('mysql2/promise');

const [pgPort, database, redisPort, mysqlPort, mysqlDatabase] = process.argv.slice(2);
const SECRET = 'bob-secret-4471';
// DB_TLS=1: PostgreSQL and MySQL over TLS (Node's own OpenSSL), the test certificate not checked.
const ssl = process.env.DB_TLS === '1' ? { rejectUnauthorized: false } : undefined;
const pool = new pg.Pool({ host: '127.0.0.1', port: Number(pgPort), user: 'postgres', database, max: 1, ssl });
const redis = new Redis({ host: '127.0.0.1', port: Number(redisPort), lazyConnect: true,
                          enableReadyCheck: false });

let my;  // one connection, made by the first request that needs it

// Over Unix sockets: connected by the first request that needs them.
let local;
async function localRoute(n) {
  local ??= {
    pg: new pg.Pool({ host: process.env.PG_SOCKET_DIR, port: Number(pgPort), user: 'postgres', database, max: 1 }),
    my: await mysql.createConnection({ socketPath: process.env.MYSQL_SOCKET, user: 'root', database: mysqlDatabase }),
    redis: new Redis({ path: process.env.REDIS_SOCKET, lazyConnect: true, enableReadyCheck: false }),
  };
  const rows = await local.pg.query('SELECT id FROM customers WHERE name <> $1 AND id = $2', [SECRET, n]);
  const [prepared] = await local.my.execute('SELECT name FROM customers WHERE id = ? AND name <> ?', [n, SECRET]);
  const value = await local.redis.get(`local:${SECRET}`);
  return rows.rowCount === 1 && prepared.length === 1 && value === null;
}

async function mysqlRoute(n) {
  my ??= await mysql.createConnection({ host: '127.0.0.1', port: Number(mysqlPort), user: 'root',
                                        database: mysqlDatabase, ssl });
  const [prepared] = await my.execute('SELECT name FROM customers WHERE id = ? AND name <> ?', [n, SECRET]);
  const [text] = await my.query(`SELECT name FROM customers WHERE name <> '${SECRET}' AND id = ${n}`);
  let duplicate = '';
  try {
    await my.query('INSERT INTO customers VALUES (1, \'again\')');
  } catch (e) {
    duplicate = e.errno;
  }
  return prepared.length === 1 && text.length === 1 && duplicate === 1062;
}

const server = http.createServer(async (req, res) => {
  try {
    const q = /^\/mysql\/(\d+)$/.exec(req.url);
    if (q) {
      res.writeHead(await mysqlRoute(Number(q[1])) ? 200 : 500).end('mysql\n');
      return;
    }
    const l = /^\/local\/(\d+)$/.exec(req.url);
    if (l) {
      res.writeHead(await localRoute(Number(l[1])) ? 200 : 500).end('local\n');
      return;
    }
    const m = /^\/user\/(\d+)$/.exec(req.url);
    if (!m) {
      res.writeHead(404).end('no such route\n');
      return;
    }
    const rows = await pool.query('SELECT name FROM customers WHERE id = $1 AND name <> $2',
                                  [Number(m[1]), SECRET]);
    await redis.set(`user:${m[1]}`, SECRET);
    const back = await redis.get(`user:${m[1]}`);
    res.writeHead(back === SECRET ? 200 : 500).end(`${rows.rowCount} rows\n`);
  } catch (e) {
    res.writeHead(500).end(`${e.message}\n`);
  }
});
server.listen(0, '127.0.0.1', () => console.log(`listening on port ${server.address().port}`));
