// Real database and cache servers from Debian's packages, started for a test on unused ports and
// removed with its temp dir: PostgreSQL (initdb with trust authentication on 127.0.0.1, run as the
// `postgres` user, which the package creates), MariaDB (a throwaway data dir, root without a
// password on 127.0.0.1) and Redis (no persistence).
import fs from 'node:fs';
import path from 'node:path';

import { execFileP, makeCertificate, startServer, unusedPort } from './servers.mjs';

// The newest installed server's bin directory, e.g. /usr/lib/postgresql/15/bin.
function postgresBin() {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(bin, 'postgres'))) return bin;
  }
  throw new Error('no PostgreSQL server under /usr/lib/postgresql: run make setup');
}

// Resolves with { server, port, socketDir, database, psql(sql) } once `database` exists and
// `setupSql` ran. It also listens on a Unix socket in `socketDir` (.s.PGSQL.<port>, as libpq
// names it). With `tls`, the server also accepts TLS (ssl=on, a test certificate); plaintext still
// works.
export async function startPostgres(name, { database = 'hodosdb', setupSql = '', tls = false } = {}) {
  const bin = postgresBin();
  // Its own directory under /tmp: the postgres user must reach it, and test temp dirs are 0700.
  const dir = fs.mkdtempSync('/tmp/hodos-pg-');
  const data = path.join(dir, 'data');
  await execFileP('chown', ['postgres:postgres', dir]);
  // setpriv execs (runuser would fork and wait): killing the server's process kills postgres.
  const asPostgres = (cmd, args) => ['--reuid=postgres', '--regid=postgres', '--init-groups', '--',
                                     path.join(bin, cmd), ...args];
  await execFileP('setpriv', asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres',
                                                  '--no-sync', '--no-instructions']));
  const port = await unusedPort();
  const tlsArgs = [];
  if (tls) {
    const { certFile, keyFile } = await makeCertificate(dir);
    await execFileP('chown', ['postgres:postgres', certFile, keyFile]);
    fs.chmodSync(keyFile, 0o600);  // postgres refuses a key others can read
    tlsArgs.push('-c', 'ssl=on', '-c', `ssl_cert_file=${certFile}`, '-c', `ssl_key_file=${keyFile}`);
  }
  const server = await startServer(name, 'setpriv', asPostgres('postgres', [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off', '-c', 'shared_buffers=16MB', ...tlsArgs]), { port });
  server.cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  const psql = async (sql, db = database) => {
    const { stdout } = await execFileP(path.join(bin, 'psql'), [
      '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1',
      '-X', '-q', '-A', '-t', '-c', sql]);
    return stdout;
  };
  await psql(`CREATE DATABASE ${database}`, 'postgres');
  if (setupSql) await psql(setupSql);
  return { server, port, socketDir: dir, database, psql };
}

// Resolves with { server, port, socket }: it listens on 127.0.0.1:port and on the Unix socket
// `socket`.
export async function startRedis(name) {
  const port = await unusedPort();
  const dir = fs.mkdtempSync('/tmp/hodos-redis-');
  const socket = path.join(dir, 'redis.sock');
  const server = await startServer(name, 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no', '--unixsocket', socket, '--unixsocketperm', '700'], { port });
  server.cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  return { server, port, socket };
}

// Resolves with { server, port, socket, database, sql(text) } once `database` exists and
// `setupSql` ran; `socket` is its Unix socket. With `tls`, the server also accepts TLS (a test
// certificate); plaintext still works.
export async function startMariadb(name, { database = 'hodosdb', setupSql = '', tls = false } = {}) {
  const dir = fs.mkdtempSync('/tmp/hodos-my-');
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  await execFileP('mariadb-install-db', ['--user=root', `--datadir=${data}`, '--auth-root-authentication-method=normal',
                                        '--skip-test-db', '--skip-name-resolve']);
  const port = await unusedPort();
  const tlsArgs = [];
  if (tls) {
    const { certFile, keyFile } = await makeCertificate(dir);
    tlsArgs.push(`--ssl-cert=${certFile}`, `--ssl-key=${keyFile}`);
  }
  const server = await startServer(name, '/usr/sbin/mariadbd', [
    '--no-defaults', '--user=root', `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`,
    '--bind-address=127.0.0.1', '--skip-name-resolve', '--innodb-buffer-pool-size=16M',
    '--innodb-log-file-size=8M', `--pid-file=${path.join(dir, 'mysqld.pid')}`, '--skip-log-bin', ...tlsArgs],
  { port });
  server.cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  const sql = async (text, db = database) => {
    const { stdout } = await execFileP('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'root',
                                                   '-N', '-B', '-e', text, ...(db ? [db] : [])]);
    return stdout;
  };
  await sql(`CREATE DATABASE ${database}`, '');
  if (setupSql) await sql(setupSql);
  return { server, port, socket, database, sql };
}
