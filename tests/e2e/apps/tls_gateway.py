"""A thread-per-request HTTPS service for the agent's TLS end-to-end test (http.server + ssl, the
standard library only). Usage: tls_gateway.py CERT KEY PAYMENTS_PORT REDIS_PORT. Prints "port N".

GET /order/<id>: calls the payments service over HTTPS (http.client, verifying the test
certificate) with an Authorization header, and Redis over plain TCP (RESP), then answers with what
both said."""
import http.client
import http.server
import json
import socket
import ssl
import sys

cert, key, payments_port, redis_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
client_context = ssl.create_default_context(cafile=cert)


def redis_get(name):
    with socket.create_connection(("127.0.0.1", redis_port)) as s:
        s.sendall(f"*2\r\n$3\r\nGET\r\n${len(name)}\r\n{name}\r\n".encode())
        return s.recv(4096).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        parts = self.path.split("?")[0].split("/")
        if len(parts) != 3 or parts[1] != "order":
            self.answer(404, {"error": "not found"})
            return
        order = parts[2]
        conn = http.client.HTTPSConnection("127.0.0.1", payments_port, context=client_context)
        conn.request("GET", f"/pay/{order}", headers={"Authorization": "Bearer gateway-secret-5521"})
        reply = conn.getresponse()
        paid = json.loads(reply.read())
        conn.close()
        cached = redis_get(f"order:{order}")
        self.answer(200, {"order": order, "payments": paid, "redis": cached})

    def answer(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_context.load_cert_chain(cert, key)
server.socket = server_context.wrap_socket(server.socket, server_side=True)
print("port", server.server_address[1], flush=True)
server.serve_forever()
