"""One hop of a call chain for the trace-context end-to-end tests (tests/e2e/context.test.mjs).

Usage: python3 context_hop.py [NEXT_PORT ...]. A ThreadingHTTPServer (a thread per connection,
so the thread that reads a request is the one that calls out). For GET PATH it calls every
127.0.0.1:NEXT_PORT with the same PATH, one after the other, with urllib, and answers JSON:
{"port", "path", "traceparent" and "tracestate" (the headers as received, or null), "calls": [{"port", "status",
"answer"}]}. A leaf (no NEXT_PORT) answers 500 to a path under /fail/; a hop answers the worst
status its calls got. Prints "port N" once listening.
"""
import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NEXT_PORTS = [int(p) for p in sys.argv[1:]]


class Hop(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive: a caller may send several requests on one connection

    def do_GET(self):
        calls = []
        for port in NEXT_PORTS:
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{port}{self.path}', timeout=10) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            calls.append({'port': port, 'status': status, 'answer': json.loads(body)})
        if calls:
            status = max(c['status'] for c in calls)
        else:
            status = 500 if self.path.startswith('/fail/') else 200
        body = json.dumps({'port': self.server.server_address[1], 'path': self.path,
                           'traceparent': self.headers.get('traceparent'),
                           'tracestate': self.headers.get('tracestate'), 'calls': calls}).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(('127.0.0.1', 0), Hop)
server.daemon_threads = True
print(f'port {server.server_address[1]}', flush=True)
server.serve_forever()
