"""The two hops of the injection integrity test (tests/e2e/injection_integrity.test.mjs).

Usage: python3 integrity_hop.py backend
       python3 integrity_hop.py front BACKEND_PORT [PROXY_PORT]

Both are ThreadingHTTPServers (a thread per connection, HTTP/1.1 keep-alive): the thread that
reads a front request is the one that calls the backend, so the agent injects a traceparent into
those calls. Both hold the same kind of byte pool (random bytes at start; each process its own:
only checksums cross the wire). Prints "port N" once listening.

The backend answers:
  any method /echo/...   JSON {len, sha256, traceparents (every traceparent header received),
                         chunked}: what it read of the body (Content-Length or chunked).
  GET /blob/SIZE/OFFSET  SIZE bytes of its pool from OFFSET, their sha256 in X-Sha256.

The front answers GET /r/RID?mode=M&size=S&offset=O[&chunks=N][&pad=P] with a verdict, JSON
{rid, problems (corrupted bodies, wrong answers), stalled, conn_errors, calls: [{expect_inject
(true, false, or null: either), traceparents}]}, after making the backend call(s) of mode M with the body pool[O:O+S]:
  post       POST on its kept-alive connection (http.client: the head and the body in two writes)
  chunked    POST with a chunked body of N chunks
  get        GET, no body
  fresh      POST on a new connection, closed after
  twice      two POSTs one after the other (two calls while serving one request)
  pipelined  a POST and a GET in ONE write on a new raw connection, both answers read after
  backtoback a POST (head, then body) and a GET written before reading any answer
  split      a POST whose head is written in two writes (not injected: left intact)
  bighead    a POST with an X-Pad header of P bytes on a new raw connection (heads over 2 KiB
             are not injected)
  own        a POST carrying its own traceparent (must arrive as it was sent)
  httpbody   a POST whose body, written on its own, starts with an HTTP request head
  proxy      GET /api/blob/S/O through the proxy (nginx) at PROXY_PORT, kept alive; the
             answer's bytes are checked against X-Sha256
A stall is a backend call with no answer within 10 s.
"""
import hashlib
import http.client
import json
import os
import socket
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POOL_SIZE = 1 << 20
POOL = os.urandom(POOL_SIZE) * 2  # doubled: any [offset, offset + size) with offset < 1 MiB fits
CALL_TIMEOUT = 10
HTTP_BODY = (b'POST /not-a-request HTTP/1.1\r\nHost: body\r\nContent-Length: 5\r\n\r\nhello'
             b' - this is body data of the outer request, which a header must never be put into')


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Quiet(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


# ---- backend -------------------------------------------------------------------------------

def read_chunked(rfile):
    body = bytearray()
    while True:
        size = int(rfile.readline().split(b';')[0].strip(), 16)
        if size == 0:
            while rfile.readline() not in (b'\r\n', b'\n', b''):  # trailers
                pass
            return bytes(body)
        body += rfile.read(size)
        rfile.read(2)


class Backend(Quiet):
    def echo(self):
        chunked = 'chunked' in self.headers.get('Transfer-Encoding', '').lower()
        if chunked:
            body = read_chunked(self.rfile)
        else:
            body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        self.answer(200, json.dumps({
            'len': len(body), 'sha256': sha256(body), 'chunked': chunked,
            'traceparents': self.headers.get_all('traceparent') or [],
        }).encode(), [('Content-Type', 'application/json')])

    def do_GET(self):
        parts = self.path.split('/')
        if len(parts) == 4 and parts[1] == 'blob':
            size, offset = int(parts[2]), int(parts[3])
            data = POOL[offset:offset + size]
            self.answer(200, data, [('X-Sha256', sha256(data)),
                                    ('X-Traceparent', self.headers.get('traceparent') or '-')])
        else:
            self.echo()

    do_POST = echo
    do_PUT = echo


# ---- front ---------------------------------------------------------------------------------

def read_response(rfile):
    """One HTTP/1.1 response with a Content-Length from a buffered file: (status, headers, body)."""
    line = rfile.readline()
    if not line:
        raise ConnectionError('connection closed before an answer')
    status = int(line.split()[1])
    headers = {}
    while True:
        line = rfile.readline()
        if line in (b'\r\n', b'\n'):
            break
        if not line:
            raise ConnectionError('connection closed in an answer head')
        name, _, value = line.decode('latin-1').partition(':')
        headers[name.strip().lower()] = value.strip()
    body = rfile.read(int(headers.get('content-length', '0')))
    return status, headers, body


def raw_head(method, path, length, extra=''):
    return (f'{method} {path} HTTP/1.1\r\nHost: backend\r\nContent-Length: {length}\r\n{extra}\r\n').encode()


class Front(Quiet):
    backend = None  # this connection's kept-alive connection to the backend (per thread)
    proxy = None

    def setup(self):
        super().setup()
        self.backend_port = self.server.backend_port

    def kept(self, attr, port):
        conn = getattr(self, attr)
        if conn is None:
            conn = http.client.HTTPConnection('127.0.0.1', port, timeout=CALL_TIMEOUT)
            setattr(self, attr, conn)
        return conn

    def drop(self, attr):
        conn = getattr(self, attr)
        if conn is not None:
            conn.close()
            setattr(self, attr, None)

    def check_echo(self, what, status, answer, sent, expect_inject, chunked=False):
        """Checks one echo answer against the bytes sent; records the call."""
        if status != 200:
            self.problems.append(f'{what}: status {status}: {answer[:200]!r}')
            return
        got = json.loads(answer)
        if got['len'] != len(sent) or got['sha256'] != sha256(sent):
            self.problems.append(f'{what}: CORRUPTED body: sent {len(sent)} bytes sha256 {sha256(sent)}, '
                                 f'backend read {got["len"]} bytes sha256 {got["sha256"]}')
            self.corrupted += 1
        if got['chunked'] != chunked:
            self.problems.append(f'{what}: chunked {got["chunked"]}, sent chunked {chunked}')
        self.calls.append({'expect_inject': expect_inject, 'traceparents': got['traceparents'],
                           'what': what})

    def client_call(self, what, method, path, body, expect_inject, headers=None, fresh=False, chunks=0):
        conn = http.client.HTTPConnection('127.0.0.1', self.backend_port, timeout=CALL_TIMEOUT) \
            if fresh else self.kept('backend', self.backend_port)
        try:
            if chunks:
                step = max(1, -(-len(body) // chunks))
                pieces = (body[i:i + step] for i in range(0, len(body), step))
                conn.request(method, path, pieces, headers or {}, encode_chunked=True)
            else:
                conn.request(method, path, body if method != 'GET' else None, headers or {})
            r = conn.getresponse()
            answer = r.read()
        except BaseException:
            conn.close()
            if not fresh:
                self.backend = None
            raise
        if fresh:
            conn.close()
        self.check_echo(what, r.status, answer, body, expect_inject, chunked=bool(chunks))

    def raw_exchange(self, writes, expected):
        """Writes each of `writes` on a new connection, then reads one answer per (what, body,
        expect_inject) of `expected`."""
        with socket.create_connection(('127.0.0.1', self.backend_port), timeout=CALL_TIMEOUT) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for w in writes:
                s.sendall(w)
            rfile = s.makefile('rb')
            for what, body, expect_inject in expected:
                status, _, answer = read_response(rfile)
                self.check_echo(what, status, answer, body, expect_inject)

    def proxy_call(self, size, offset):
        conn = self.kept('proxy', self.server.proxy_port)
        try:
            conn.request('GET', f'/api/blob/{size}/{offset}')
            r = conn.getresponse()
            data = r.read()
        except BaseException:
            self.drop('proxy')
            raise
        if r.status != 200:
            self.problems.append(f'proxy: status {r.status}: {data[:200]!r}')
            return
        if len(data) != size or sha256(data) != r.getheader('X-Sha256'):
            self.problems.append(f'proxy: CORRUPTED answer: expected {size} bytes sha256 {r.getheader("X-Sha256")}, '
                                 f'read {len(data)} bytes sha256 {sha256(data)}')
            self.corrupted += 1
        tp = r.getheader('X-Traceparent')
        self.calls.append({'expect_inject': True, 'traceparents': [] if tp == '-' else [tp], 'what': 'proxy'})

    def run(self, mode, rid, body, q):
        path = f'/echo/{rid}'
        if mode == 'post':
            self.client_call(mode, 'POST', path, body, True)
        elif mode == 'chunked':
            self.client_call(mode, 'POST', path, body, True, chunks=int(q.get('chunks', '3')))
        elif mode == 'get':
            self.client_call(mode, 'GET', path, b'', True)
        elif mode == 'fresh':
            self.client_call(mode, 'POST', path, body, True, fresh=True)
        elif mode == 'twice':
            self.client_call('twice-1', 'POST', path, body, True)
            self.client_call('twice-2', 'POST', path, body[:len(body) // 2], True)
        elif mode == 'own':
            own = f'00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01'
            self.client_call(mode, 'POST', path, body, False, headers={'traceparent': own})
            if self.calls and self.calls[-1]['traceparents'] != [own]:
                self.problems.append(f'own: sent traceparent {own}, backend got {self.calls[-1]["traceparents"]}')
        elif mode == 'bighead':
            head = raw_head('POST', path, len(body), f'X-Pad: {"p" * int(q.get("pad", "0"))}\r\n')
            # Injected when the head, its blank line included, fits in the first 2048 bytes.
            expect = len(head) <= 2048
            self.raw_exchange([head, body], [(f'bighead ({len(head)} B head)', body, expect)])
        elif mode == 'pipelined':
            self.raw_exchange([raw_head('POST', path, len(body)) + body + raw_head('GET', path + '/2', 0)],
                              [('pipelined-1', body, True), ('pipelined-2', b'', False)])
        elif mode == 'backtoback':
            self.raw_exchange([raw_head('POST', path, len(body)), body, raw_head('GET', path + '/2', 0)],
                              [('backtoback-1', body, True), ('backtoback-2', b'', True)])
        elif mode == 'split':
            head = raw_head('POST', path, len(body))
            self.raw_exchange([head[:len(head) // 2], head[len(head) // 2:], body], [('split', body, False)])
        elif mode == 'httpbody':
            self.raw_exchange([raw_head('POST', path, len(HTTP_BODY)), HTTP_BODY], [('httpbody', HTTP_BODY, True)])
        elif mode == 'proxy':
            self.proxy_call(len(body), int(q['offset']))
        else:
            raise ValueError(f'unknown mode {mode}')

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        rid = url.path.split('/')[-1]
        mode, size, offset = q['mode'], int(q.get('size', '0')), int(q.get('offset', '0'))
        body = POOL[offset:offset + size]
        self.problems, self.calls, self.corrupted = [], [], 0
        stalled = conn_errors = 0
        try:
            self.run(mode, rid, body, q)
        except (socket.timeout, TimeoutError) as e:
            stalled = 1
            self.problems.append(f'{mode}: STALLED: no answer within {CALL_TIMEOUT} s ({e!r})')
            self.drop('backend')
            self.drop('proxy')
        except (ConnectionError, OSError, http.client.HTTPException) as e:
            conn_errors = 1
            self.problems.append(f'{mode}: CONNECTION ERROR {e!r}')
            self.drop('backend')
            self.drop('proxy')
        self.answer(200, json.dumps({
            'rid': rid, 'mode': mode, 'problems': self.problems, 'corrupted': self.corrupted,
            'stalled': stalled, 'conn_errors': conn_errors, 'calls': self.calls,
        }).encode(), [('Content-Type', 'application/json')])


def serve(handler, **attrs):
    server = ThreadingHTTPServer(('127.0.0.1', 0), handler, bind_and_activate=False)
    server.request_queue_size = 128  # 16 clients connecting at once
    server.server_bind()
    server.server_activate()
    server.daemon_threads = True
    for k, v in attrs.items():
        setattr(server, k, v)
    print(f'port {server.server_address[1]}', flush=True)
    server.serve_forever()


if sys.argv[1] == 'backend':
    serve(Backend)
else:
    serve(Front, backend_port=int(sys.argv[2]), proxy_port=int(sys.argv[3]) if len(sys.argv) > 3 else 0)
