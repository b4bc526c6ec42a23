# Backend of the overhead benchmark's injection chain (bench/overhead/run.mjs, "chain"): a plain
# http.server ThreadingHTTPServer, one thread per connection, as many small Python services are.
# POST /check/<k> answers "<k> <body length> <crc32 of the body, 8 hex> <traceparent or ->\n", so
# the load generator can tell a body or a head that arrived changed from one that did not, and
# count the requests that carried a traceparent (Hodos injects it into the frontend's calls).
import os
import sys
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive, as the frontend's connection pool expects
    # Head and body leave in one write (the buffer is flushed after each request) with Nagle off:
    # a body written apart would wait for the client's delayed ACK.
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_POST(self):
        length = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(length) if length else b''
        k = self.path.rsplit('/', 1)[-1]
        traceparent = self.headers.get('traceparent') or '-'
        answer = f'{k} {len(body)} {zlib.crc32(body):08x} {traceparent}\n'.encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass  # no per-request logging: it would cost more than the work measured


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


server = Server(('127.0.0.1', int(os.environ.get('PORT', '0'))), Handler)
print(f'listening {server.server_address[1]}', flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
