"""python-web: a guestbook on the standard library's http.server.

GET /                 the page (index.html)
GET /api/entries      {"entries": [{"name", "text", "at"}], "count": N}   newest first
POST /api/entries     {"name", "text"} -> 201 {"entry"}
GET /health           {"ok": true}

Entries live in $DATA_DIR/guestbook.json (default /data), written to a temp file, fsynced and renamed, so a crash
never leaves half a file. Only the standard library: the image's Debian layer is python3 and its dependencies.
"""
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8080"))
DATA_DIR = os.environ.get("DATA_DIR", "/data")
VERSION = os.environ.get("BOOTOS_IMAGE_VERSION", "dev")
MAX_BODY_BYTES = 16 * 1024
MAX_ENTRIES = 1000
HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "index.html"), "rb") as f:
    PAGE = f.read()


class Guestbook:
    def __init__(self, directory):
        self.path = os.path.join(directory, "guestbook.json")
        self.lock = threading.Lock()
        try:
            with open(self.path, encoding="utf-8") as f:
                self.entries = json.load(f)["entries"]
        except FileNotFoundError:
            self.entries = []

    def add(self, name, text):
        entry = {"name": name, "text": text, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with self.lock:
            entries = ([entry] + self.entries)[:MAX_ENTRIES]
            tmp = f"{self.path}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"entries": entries}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self.entries = entries
        return entry


book = Guestbook(DATA_DIR)


class Handler(BaseHTTPRequestHandler):
    server_version = "python-web"

    def send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.send_header("cache-control", "no-store")
        self.send_header("x-app-version", VERSION)
        self.end_headers()
        self.wfile.write(data)

    def fail(self, status, code, message):
        self.send(status, {"error": {"code": code, "message": message}})

    def do_GET(self):
        if self.path == "/health":
            self.send(200, {"ok": True})
        elif self.path == "/api/entries":
            with book.lock:
                entries = list(book.entries)
            self.send(200, {"entries": entries, "count": len(entries)})
        elif self.path in ("/", "/index.html"):
            self.send(200, PAGE, "text/html; charset=utf-8")
        else:
            self.fail(404, "NOT_FOUND", f"no such page: {self.path}")

    def do_POST(self):
        if self.path != "/api/entries":
            return self.fail(404, "NOT_FOUND", f"no such endpoint: {self.path}")
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            return self.fail(413, "TOO_LONG", f"at most {MAX_BODY_BYTES} bytes")
        try:
            doc = json.loads(self.rfile.read(length) or b"null")
            name, text = doc["name"], doc["text"]
            if not isinstance(name, str) or not isinstance(text, str) or not name.strip() or not text.strip():
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self.fail(400, "BAD_REQUEST", 'expected {"name": "…", "text": "…"}')
        self.send(201, {"entry": book.add(name.strip()[:80], text.strip()[:2000])})

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    # SIGTERM (the agent's stop signal): finish the request in hand and exit.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"python-web {VERSION} listening on {PORT}, data in {DATA_DIR}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
