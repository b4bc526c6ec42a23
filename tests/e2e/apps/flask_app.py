# A Flask app for the agent's end-to-end tests, served by Werkzeug's threaded server (one thread
# per request, HTTP/1.1). Usage: python3 flask_app.py BACKEND_PORT. Prints "port N" once listening.
import hashlib
import sys
import urllib.error
import urllib.request

from flask import Flask, Response, abort, request
from werkzeug.serving import make_server

app = Flask(__name__)
backend_port = int(sys.argv[1])


@app.get('/items/<int:item_id>')
def item(item_id):
    return {'id': item_id}


# Calls the backend synchronously on the thread serving this request, passing on the query
# string and the Authorization header as a real proxy would.
@app.get('/proxy/<int:item_id>')
def proxy(item_id):
    url = f'http://127.0.0.1:{backend_port}/items/{item_id}'
    if request.query_string:
        url += '?' + request.query_string.decode()
    headers = {}
    if 'Authorization' in request.headers:
        headers['Authorization'] = request.headers['Authorization']
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
            return Response(r.read(), mimetype='application/octet-stream')
    except urllib.error.HTTPError as e:
        # The backend's error is passed on, its body read to the end.
        with e:
            return Response(e.read(), status=e.code, mimetype='text/html')


@app.get('/fail')
def fail():
    abort(500)


# A generator without a length: Werkzeug sends it chunked.
@app.get('/chunked')
def chunked():
    return Response((f'part {i} of a chunked body\n' for i in range(5)), mimetype='text/plain')


@app.post('/upload')
def upload():
    return hashlib.sha256(request.get_data()).hexdigest()


server = make_server('127.0.0.1', 0, app, threaded=True)
print('port', server.server_port, flush=True)
server.serve_forever()
