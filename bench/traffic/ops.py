"""Operational traffic on the train and its ground side: POS payment transactions, a CCTV camera's
constant-bitrate uplink stream, conductors' ticket-terminal API calls. Servers run on the lab's
ground (sockets opened in the ground namespace, served by threads of this process), clients in the
ops namespace; each client records what a device would notice.

    with OpsGround(lab) as ground, OpsClients(lab.ns("ops"), ground) as ops:
        time.sleep(15)
    ops.pos_latencies, ops.api_results, ground.cctv_received(...)
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bench.httpserver import LabHTTPServer
from bench.lab import netns
from bench.steps import step

if TYPE_CHECKING:
    from bench.lab.lab import Lab

POS_PORT = 8443  # plain HTTP: a transaction is connect + request + response (TLS would add a round trip)
API_PORT = 8081
CCTV_PORT = 5004
CCTV_PAYLOAD = 1250  # bytes per datagram; 200 per second = 2 Mbit/s of payload
POS_BODY = b"card=4242424242424242&amount=1500&terminal=pos-07&" + b"x" * 200


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - POS: an authorisation
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer(b'{"status":"approved","auth":"A1B2C3"}')

    def do_GET(self) -> None:  # noqa: N802 - conductors' API: a ticket check
        self._answer(json.dumps({"path": self.path, "valid": True, "seat": "07-23"}).encode())


@dataclass
class OpsGround:
    lab: Lab
    address: str = "198.19.0.1"
    cctv: dict[int, float] = field(default_factory=dict)  # sequence number -> arrival
    cctv_sources: Counter[str] = field(default_factory=Counter)  # source address the ground saw -> datagrams
    _servers: list[LabHTTPServer] = field(default_factory=list)
    _udp: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> OpsGround:
        with step("ops ground servers", address=self.address, pos=POS_PORT, api=API_PORT, cctv=CCTV_PORT):
            def open_all() -> tuple[list[LabHTTPServer], socket.socket]:
                servers = [LabHTTPServer((self.address, port), _Handler) for port in (POS_PORT, API_PORT)]
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                udp.bind((self.address, CCTV_PORT))
                return servers, udp

            self._servers, self._udp = netns.run_in(self.lab.ns("ground"), open_all)
            for server in self._servers:
                server.daemon_threads = True
                t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
                t.start()
                self._threads.append(t)
            self._udp.settimeout(0.2)
            t = threading.Thread(target=self._cctv_sink, daemon=True, name="cctv sink")
            t.start()
            self._threads.append(t)
        return self

    def _cctv_sink(self) -> None:
        assert self._udp is not None
        while not self._stop.is_set():
            try:
                data, (source, _port) = self._udp.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            self.cctv.setdefault(int.from_bytes(data[:4], "big"), time.time())
            self.cctv_sources[source] += 1

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for t in self._threads:
            t.join(timeout=3)
        if self._udp is not None:
            self._udp.close()


@dataclass
class OpsClients:
    """POS every `pos_every_s`, a conductors' API call every `api_every_s`, one 2 Mbit/s camera."""

    ns: str
    ground: OpsGround
    pos_every_s: float = 0.5
    api_every_s: float = 0.25
    pos_timeout_s: float = 10.0
    api_timeout_s: float = 5.0  # the terminal's timeout: a call answered later counts as failed
    pos: list[tuple[float, float | None]] = field(default_factory=list)  # (started, seconds or None)
    api: list[tuple[float, bool]] = field(default_factory=list)
    cctv_sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> OpsClients:
        with step("ops clients start", ns=self.ns, pos_every_s=self.pos_every_s, api_every_s=self.api_every_s, cctv="2 Mbit/s"):
            for fn in (self._pos, self._api, self._camera):
                self._threads.append(netns.start_in(self.ns, fn, thread_name=f"ops {fn.__name__}"))
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.pos_timeout_s + 5)

    def _every(self, period: float, fn: Any) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            fn()
            self._stop.wait(max(0.0, period - (time.monotonic() - started)))

    def _pos(self) -> None:
        def one() -> None:
            started = time.time()
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(self.ground.address, POS_PORT, timeout=self.pos_timeout_s)
                conn.request("POST", "/pay", body=POS_BODY, headers={"Content-Type": "application/x-www-form-urlencoded"})
                resp = conn.getresponse()
                ok = resp.status == 200 and b"approved" in resp.read()
                conn.close()
                self.pos.append((started, time.perf_counter() - t0 if ok else None))
            except OSError:
                self.pos.append((started, None))

        self._every(self.pos_every_s, one)

    def _api(self) -> None:
        n = [0]

        def one() -> None:
            n[0] += 1
            started = time.time()
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(self.ground.address, API_PORT, timeout=self.api_timeout_s)
                conn.request("GET", f"/api/v1/tickets/{n[0]}")
                resp = conn.getresponse()
                ok = resp.status == 200 and b"valid" in resp.read()
                conn.close()
                self.api.append((started, ok and time.perf_counter() - t0 <= self.api_timeout_s))
            except OSError:
                self.api.append((started, False))

        self._every(self.api_every_s, one)

    def _camera(self) -> None:
        interval = CCTV_PAYLOAD * 8 / 2_000_000
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            next_send = time.monotonic()
            while not self._stop.is_set():
                s.sendto(self.cctv_sent.to_bytes(4, "big") + b"\x00" * (CCTV_PAYLOAD - 4), (self.ground.address, CCTV_PORT))
                self.cctv_sent += 1
                next_send += interval
                delay = next_send - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    # -- results -------------------------------------------------------------------------------------
    def pos_p95(self) -> float:
        """p95 of transaction time; a failed transaction counts as its timeout (never faster)."""
        values = sorted(d if d is not None else self.pos_timeout_s for _, d in self.pos)
        return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) >= 2 else float("inf")

    def api_success(self) -> float:
        return sum(ok for _, ok in self.api) / len(self.api) if self.api else 0.0

    def cctv_loss(self, settle_s: float = 1.0) -> float:
        time.sleep(settle_s)  # the last datagrams in flight
        return 1 - len(self.ground.cctv) / self.cctv_sent if self.cctv_sent else 1.0
