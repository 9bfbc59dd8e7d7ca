"""A real HTTP server (http.server) on a loopback port serving the REST status API of a TEST DOUBLE
router (router_double.rest_payload) or of a fixed terminal status; `drop_next_request()` closes the
connection without an answer, as a management link lost mid-call."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class RestServerDouble:
    def __init__(self, get: Callable[[str, dict[str, str]], Any], *, username: str | None = None,
                 password: str | None = None) -> None:
        self.get = get
        self.credentials = (username, password) if username else None
        self.posts: list[tuple[str, str, Any]] = []
        self.drop_next = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _authorized(self) -> bool:
                if owner.credentials is None:
                    return True
                expected = base64.b64encode(f"{owner.credentials[0]}:{owner.credentials[1]}".encode()).decode()
                if self.headers.get("Authorization") == f"Basic {expected}":
                    return True
                self._send(401, {"error": "unauthorized"})
                return False

            def _send(self, status: int, payload: Any) -> None:
                body = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _dropped(self) -> bool:
                if owner.drop_next:
                    owner.drop_next -= 1
                    self.close_connection = True
                    self.connection.close()
                    return True
                return False

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self._dropped() or not self._authorized():
                    return
                url = urlsplit(self.path)
                payload = owner.get(url.path, dict(parse_qsl(url.query)))
                self._send(404, {"error": "not found"}) if payload is None else self._send(200, payload)

            def _change(self) -> None:
                if self._dropped() or not self._authorized():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                owner.posts.append((self.command, self.path, body))
                self._send(202 if self.command == "POST" else 200, None)

            do_POST = _change  # noqa: N815
            do_PUT = _change  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="rest-server-double", daemon=True)

    def __enter__(self) -> RestServerDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
