"""A thread-per-request service that queries PostgreSQL and Redis, for tests/e2e/db_calls.test.mjs.

Usage: python3 db_app.py PG_PORT PG_DATABASE REDIS_PORT. Python's standard library has no client
for either, so this speaks their wire protocols itself (PostgreSQL's simple query protocol with
trust authentication, Redis's RESP): the bytes on the wire are what real clients send. Each
request opens its own connections on the thread serving it, as a per-request client would.

GET /order/N   SELECT a customer by id and by a secret name literal, SET and GET a Redis key
               holding a secret, then INCR and GET written together (a pipeline): 200.
GET /fail      a query on a table that does not exist (SQLSTATE 42P01) and an LPUSH onto a string
               (WRONGTYPE): 500.
Prints "port N" once listening.
"""
import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PG_PORT, PG_DATABASE, REDIS_PORT = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
SECRET = 'alice-secret-7731'


def recv_exact(sock, n):
    data = b''
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            raise ConnectionError('closed')
        data += more
    return data


class Postgres:
    """Start-up (trust) and simple queries; answers (rows, error SQLSTATE or None)."""

    def __init__(self):
        self.sock = socket.create_connection(('127.0.0.1', PG_PORT))
        params = b'user\0postgres\0database\0' + PG_DATABASE.encode() + b'\0\0'
        self.sock.sendall(struct.pack('!ii', 8 + len(params), 196608) + params)
        self.until_ready()

    def message(self):
        kind = recv_exact(self.sock, 1)
        (length,) = struct.unpack('!i', recv_exact(self.sock, 4))
        return kind, recv_exact(self.sock, length - 4)

    def until_ready(self):
        rows, error = [], None
        while True:
            kind, body = self.message()
            if kind == b'D':
                rows.append(body)
            elif kind == b'E':
                fields = dict((f[:1], f[1:]) for f in body.split(b'\0') if f)
                error = fields.get(b'C', b'').decode()
            elif kind == b'Z':
                return rows, error

    def query(self, sql):
        data = sql.encode() + b'\0'
        self.sock.sendall(b'Q' + struct.pack('!i', 4 + len(data)) + data)
        return self.until_ready()

    def close(self):
        self.sock.sendall(b'X\0\0\0\4')
        self.sock.close()


class Redis:
    def __init__(self):
        self.sock = socket.create_connection(('127.0.0.1', REDIS_PORT))
        self.buffer = b''

    @staticmethod
    def encode(*args):
        out = b'*%d\r\n' % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b'$%d\r\n%s\r\n' % (len(a), a)
        return out

    def line(self):
        while b'\r\n' not in self.buffer:
            self.buffer += self.sock.recv(65536)
        line, self.buffer = self.buffer.split(b'\r\n', 1)
        return line

    def reply(self):
        line = self.line()
        if line[:1] == b'$' and int(line[1:]) >= 0:
            n = int(line[1:])
            while len(self.buffer) < n + 2:
                self.buffer += self.sock.recv(65536)
            value, self.buffer = self.buffer[:n], self.buffer[n + 2:]
            return value
        return line

    def pipeline(self, *commands):
        self.sock.sendall(b''.join(self.encode(*c) for c in commands))
        return [self.reply() for _ in commands]

    def close(self):
        self.sock.close()


class App(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        pg, redis = Postgres(), Redis()
        try:
            if self.path.startswith('/order/'):
                n = int(self.path.rsplit('/', 1)[1])
                rows, error = pg.query(
                    f"SELECT name FROM customers WHERE id = {n} AND name <> '{SECRET}'")
                assert error is None, error
                redis.pipeline(('SET', f'order:{n}', SECRET))
                redis.pipeline(('GET', f'order:{n}'))
                redis.pipeline(('INCR', f'count:{n}'), ('GET', f'count:{n}'))
                status, body = 200, b'%d rows\n' % len(rows)
            elif self.path == '/fail':
                _, error = pg.query('SELECT * FROM no_such_table')
                redis.pipeline(('SET', 'text', SECRET))
                wrong = redis.pipeline(('LPUSH', 'text', 'x'))[0]
                status, body = 500, f'{error} {wrong[:10].decode()}\n'.encode()
            else:
                status, body = 404, b'no such route\n'
        finally:
            pg.close()
            redis.close()
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(('127.0.0.1', 0), App)
print('listening on port', server.server_address[1], flush=True)
server.serve_forever()
