"""The demo app's HTTP server: standard library only, so the demo needs no install.

Run from examples/demo as `python3 -m app.server` (or `python3 app/server.py`).
It listens on 127.0.0.1 at the port in `DEMO_PORT` (default 8765), logs each
request to stderr and stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as `python3 app/server.py`: make `app` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.pages import render_index
from app.store import MAX_BODY_BYTES, InvalidItemError, ItemStore, parse_form_item, parse_json_item

if TYPE_CHECKING:
    from types import FrameType

HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class DemoServer(ThreadingHTTPServer):
    """A threading server that owns the item store."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: ItemStore | None = None) -> None:
        super().__init__(address, DemoHandler)
        self.store = store if store is not None else ItemStore()


class DemoHandler(BaseHTTPRequestHandler):
    """Routes: /health, /api/items (GET, POST), / (GET), /items (form POST)."""

    server: DemoServer
    server_version = "qaagent-demo/1.0"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._send_json(HTTPStatus.OK, {"status": "ok"})
        elif path == "/api/items":
            self._send_json(HTTPStatus.OK, [item.to_dict() for item in self.server.store.list()])
        elif path == "/":
            self._send_html(HTTPStatus.OK, render_index(self.server.store.list()))
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in ("/api/items", "/items"):
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})
            return
        body = self._read_body()
        if body is None:
            return
        if path == "/api/items":
            try:
                item = self.server.store.add(parse_json_item(body))
            except InvalidItemError as exc:
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            self._send_json(HTTPStatus.CREATED, item.to_dict())
            return
        try:
            self.server.store.add(parse_form_item(body))
        except InvalidItemError as exc:
            self._send_html(HTTPStatus.BAD_REQUEST, render_index(self.server.store.list(), error=str(exc)))
            return
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400/413."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "bad Content-Length"})
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"the body is over {MAX_BODY_BYTES} bytes"}
            )
            return None
        return self.rfile.read(length)

    def _send_json(self, status: HTTPStatus, data: object) -> None:
        self._send(status, "application/json", json.dumps(data).encode("utf-8"))

    def _send_html(self, status: HTTPStatus, html: str) -> None:
        self._send(status, "text/html; charset=utf-8", html.encode("utf-8"))

    def _send(self, status: HTTPStatus, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)


def port_from_env() -> int:
    """The port in `DEMO_PORT`, or the default; exits with one line on a bad value."""
    raw = os.environ.get("DEMO_PORT", str(DEFAULT_PORT))
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        sys.exit(f"demo server: DEMO_PORT must be a port number (0-65535), got {raw!r}")
    return port


def main() -> int:
    """Serve until SIGTERM or Ctrl-C."""
    port = port_from_env()
    try:
        server = DemoServer((HOST, port))
    except OSError as exc:
        print(f"demo server: cannot listen on {HOST}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1

    def _stop(signum: int, _frame: FrameType | None) -> None:
        print(f"demo server: got signal {signum}, shutting down", file=sys.stderr)
        # shutdown() waits for serve_forever() to return, so it cannot run on this (the serving) thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    print(f"demo server: listening on http://{HOST}:{server.server_address[1]}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("demo server: interrupted, shutting down", file=sys.stderr)
    finally:
        server.server_close()
    print("demo server: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
