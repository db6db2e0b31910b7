#!/usr/bin/env python3
"""Serves fixture.json as the example inventory API (see README.md) on 127.0.0.1.

    python3 serve.py [--port N] [--fixture PATH]

Prints `listening on http://127.0.0.1:PORT` once ready (port 0, the default, picks a free
one) and serves until killed. Standard library only. Two regions that /api/regions does not
list answer badly on purpose, to exercise a connector's error paths: `bad-json` (a body that is
not JSON) and `bad-shape` (JSON whose items lack their `id`).
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit, unquote

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10


def make_handler(fixture):
    token = fixture["token"]
    regions = fixture["regions"]
    instances = fixture["instances"]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: one line per request on stderr
            sys.stderr.write("inventory: " + (fmt % args) + "\n")

        def send(self, status, body, content_type="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.headers.get("authorization") != f"Bearer {token}":
                return self.send(401, {"error": "unauthorized"})
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/")]
            if parts == ["", "api", "ping"]:
                return self.send(200, {"ok": True})
            if parts == ["", "api", "regions"]:
                return self.send(200, regions)
            if len(parts) == 5 and parts[:3] == ["", "api", "regions"] and parts[4] == "instances":
                return self.instances(parts[3], parse_qs(url.query))
            return self.send(404, {"error": "no such path"})

        def instances(self, region, query):
            if region == "bad-json":
                return self.send(200, b"<html>maintenance</html>", "text/html")
            if region == "bad-shape":
                return self.send(200, {"items": [{"name": "no id"}], "next": None})
            if region not in instances:
                return self.send(404, {"error": f"no region {region}"})
            try:
                size = int(query.get("page_size", [DEFAULT_PAGE_SIZE])[0])
                offset = int(query.get("page_token", ["0"])[0])
            except ValueError:
                return self.send(400, {"error": "page_size and page_token are integers"})
            size = max(1, min(size, MAX_PAGE_SIZE))
            items = instances[region][offset : offset + size]
            end = offset + size
            nxt = str(end) if end < len(instances[region]) else None
            return self.send(200, {"items": items, "next": nxt})

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fixture", default=__file__.rsplit("/", 1)[0] + "/fixture.json")
    args = parser.parse_args()
    with open(args.fixture, encoding="utf-8") as f:
        fixture = json.load(f)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(fixture))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
