"""The lab's ground-side services, one process in the ground namespace (started by the Lab for
any DUT: they are the bench's, reached only across the sky links):

    UDP "whoami" echo   every probe target and the origin, port `--probe-port`: echoes the
                        datagram followed by b" from <source address>" (a DUT's health probes,
                        and the bench's passenger probes: the source address says which WAN a
                        packet left the train by)
    origin HTTP         origin:80, "/" a small page, "/bytes/<n>" n bytes of body
    bulk source         origin:9001, a client sends "<n>\\n" and gets n bytes (0: until it closes)
    bulk sink           origin:9000, reads until the client half-closes, answers
                        "<bytes> <seconds between first and last byte>\\n"
    payment provider    payment:80 (bench.ground.payment)
    connectivity checks check:80, the answers phones expect from their captive-portal checks
                        (Android's generate_204, Apple's hotspot-detect.html, ...), by Host

    python -m bench.ground.services --origin 198.19.0.1 --payment 198.19.0.2 --check 198.19.0.3 \\
        --probe-port 7070 --probe-target 198.19.255.1 ...
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from bench.httpserver import LabHTTPServer
from bench.ground.payment import PaymentLedger, payment_handler
from bench.lab.addressing import CONNECTIVITY_CHECKS

CHUNK = b"\x5a" * 65536


def serve_udp_whoami(address: str, port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, port))

    def loop() -> None:
        while True:
            data, peer = s.recvfrom(4096)
            s.sendto(data + b" from " + peer[0].encode(), peer)

    threading.Thread(target=loop, daemon=True, name=f"whoami {address}").start()


def _tcp_server(address: str, port: int, handle: Any) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(128)

    def loop() -> None:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=_guarded, args=(handle, conn), daemon=True).start()

    threading.Thread(target=loop, daemon=True, name=f"tcp {address}:{port}").start()


def _guarded(handle: Any, conn: socket.socket) -> None:
    with conn:
        try:
            handle(conn)
        except OSError:
            pass  # the client went away: that is how bulk transfers end


def _bulk_source(conn: socket.socket) -> None:
    line = b""
    while not line.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            return
        line += chunk
    left = int(line.strip() or b"0")
    unlimited = left == 0
    while unlimited or left > 0:
        n = len(CHUNK) if unlimited else min(left, len(CHUNK))
        conn.sendall(CHUNK[:n])
        left -= n


def _bulk_sink(conn: socket.socket) -> None:
    total, first, last = 0, None, None
    while data := conn.recv(262144):
        now = time.monotonic()
        first = first if first is not None else now
        last = now
        total += len(data)
    span = (last - first) if first is not None and last is not None else 0.0
    conn.sendall(f"{total} {span:.6f}\n".encode())


class OriginHandler(BaseHTTPRequestHandler):
    server_version = "skybench-origin/0.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/bytes/"):
            n = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            while n > 0:
                k = min(n, len(CHUNK))
                self.wfile.write(CHUNK[:k])
                n -= k
            return
        body = b"<html><body>skybench origin server</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ConnectivityCheckHandler(BaseHTTPRequestHandler):
    """What a phone's captive-portal check gets when it is online (bench.lab.addressing)."""

    server_version = "skybench-check/0.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path, status, body = CONNECTIVITY_CHECKS.get(host, ("", 404, b"not a connectivity check host"))
        if self.path.split("?")[0] != path:
            status, body = 404, b"not a connectivity check path"
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if body.startswith(b"<") else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)


def _http(address: str, handler: type[BaseHTTPRequestHandler]) -> None:
    server = LabHTTPServer((address, 80), handler)
    threading.Thread(target=server.serve_forever, daemon=True, name=f"http {address}").start()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--origin", required=True)
    ap.add_argument("--payment", required=True)
    ap.add_argument("--check", required=True)
    ap.add_argument("--probe-port", type=int, required=True)
    ap.add_argument("--probe-target", action="append", default=[])
    args = ap.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for address in [args.origin, *args.probe_target]:
        serve_udp_whoami(address, args.probe_port)
    _tcp_server(args.origin, 9001, _bulk_source)
    _tcp_server(args.origin, 9000, _bulk_sink)
    _http(args.origin, OriginHandler)
    _http(args.payment, payment_handler(PaymentLedger()))
    _http(args.check, ConnectivityCheckHandler)
    print("ground services ready", flush=True)
    stop.wait()


if __name__ == "__main__":
    main()
