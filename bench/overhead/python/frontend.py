# Frontend of the overhead benchmark's injection chain (bench/overhead/run.mjs, "chain"): a plain
# http.server ThreadingHTTPServer. Each POST /api/check/<k> is served on the thread that read it,
# which forwards the body to the backend's /check/<k> over its own keep-alive http.client
# connection and answers with the backend's answer. A thread serving one request at a time is what
# lets Hodos insert a traceparent into that call (docs/how-it-works.md, "Trace context across
# services").
import http.client
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BACKEND_PORT = int(os.environ['BACKEND_PORT'])
local = threading.local()


def call_backend(k, body):
    # One retry on a fresh connection: a keep-alive connection can be closed by the peer between
    # two requests; the load generator counts whatever still fails.
    for attempt in (0, 1):
        conn = getattr(local, 'conn', None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection('127.0.0.1', BACKEND_PORT, timeout=30)
            # http.client sends the head and the body in two writes; with Nagle on (its default)
            # the body would wait for the backend's delayed ACK. urllib3 (requests) turns it off.
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn.request('POST', f'/check/{k}', body=body,
                         headers={'Content-Type': 'application/octet-stream'})
            answer = conn.getresponse()
            return answer.status, answer.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            local.conn = None
            if attempt:
                raise


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    wbufsize = -1  # one write per answer, as in backend.py
    disable_nagle_algorithm = True

    def do_POST(self):
        length = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(length) if length else b''
        k = self.path.rsplit('/', 1)[-1]
        try:
            status, answer = call_backend(k, body)
        except (http.client.HTTPException, OSError):
            status, answer = 502, b'backend unreachable\n'
        self.send_response(200 if status == 200 else 502)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


server = Server(('127.0.0.1', int(os.environ.get('PORT', '0'))), Handler)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f'listening {server.server_address[1]}', flush=True)
try:
    server.serve_forever()
except (KeyboardInterrupt, SystemExit):
    pass
