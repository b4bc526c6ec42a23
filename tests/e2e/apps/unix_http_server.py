"""An HTTP/1.1 server on a Unix socket, for the agent's end-to-end tests (nginx proxying to a
path, as to gunicorn or uwsgi). Usage: python3 unix_http_server.py SOCKET_PATH. Prints "serving
SOCKET_PATH" once listening; answers every GET with "unix <path>" and keeps connections open."""
import http.server
import os
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self):
        return "unix"  # a Unix peer has no (host, port)

    def do_GET(self):
        body = f"unix {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
server = Server(path, Handler)
os.chmod(path, 0o777)  # nginx's worker may run as another user
print(f"serving {path}", flush=True)
server.serve_forever()
