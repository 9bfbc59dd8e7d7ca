"""The emulated OneWeb terminal's (and LTE modem's) status service: HTTP/JSON.

    GET  /api/v1/status  -> TerminalStatus as JSON (the REST terminal driver reads it)
    POST /api/v1/reboot  -> 202, the terminal reboots (BOOTING, link down for the boot time)
"""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.devices.protocols import TerminalStatus


def status_server(address: str, port: int, current_status: Callable[[], TerminalStatus],
                  request_reboot: Callable[[], None]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "terminal-status/1"

        def log_message(self, *args: object) -> None:
            pass  # a status poll every second would flood the lab's logs

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?")[0] == "/api/v1/status":
                self._send(200, current_status().model_dump_json().encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:  # noqa: N802
            if self.path == "/api/v1/reboot":
                request_reboot()
                self._send(202, b"")
            else:
                self._send(404, b'{"error": "not found"}')

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    return server
