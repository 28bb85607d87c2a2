"""The tutorial's web app: counts visits in redis (redis://redis:6379, by service
name) and says whether postgres (db:5432) accepts connections."""

import os
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer

import redis

r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379"))


def postgres_up() -> bool:
    try:
        socket.create_connection((os.environ.get("DB_HOST", "db"), 5432), timeout=2).close()
        return True
    except OSError:
        return False


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        hits = r.incr("hits")
        body = f"Hello from {socket.gethostname()}: {hits} visits; postgres up: {postgres_up()}\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    print("listening on :8049", flush=True)
    HTTPServer(("0.0.0.0", 8049), Handler).serve_forever()
