# syntax=docker/dockerfile:1
FROM python:3.12-alpine
WORKDIR /srv
COPY <<EOF app.py
from http.server import BaseHTTPRequestHandler, HTTPServer

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello\n")

HTTPServer(("", 8080), Hello).serve_forever()
EOF
RUN <<EOF
set -eu
adduser -D web
chown web /srv
EOF
USER web
CMD ["python3", "app.py"]
