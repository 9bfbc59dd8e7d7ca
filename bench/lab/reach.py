"""Reachability across the lab with plain Python sockets (no ping binary): an echo server and
a client that measures round trips. Used by the lab's own checks and the nightly path test."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from bench.lab import netns


@dataclass
class EchoServer:
    """A TCP and UDP echo server bound to one address inside a namespace."""

    ns: str
    address: str
    port: int = 7007
    _tcp: socket.socket | None = None
    _udp: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> EchoServer:
        def open_sockets() -> tuple[socket.socket, socket.socket]:
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.address, self.port))
            tcp.listen(64)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.address, self.port))
            return tcp, udp

        # The sockets belong to the namespace they were opened in; any thread may serve them.
        self._tcp, self._udp = netns.run_in(self.ns, open_sockets)
        self._tcp.settimeout(0.2)
        self._udp.settimeout(0.2)
        for target in (self._serve_tcp, self._serve_udp):
            t = threading.Thread(target=target, daemon=True, name=f"echo:{self.ns}")
            t.start()
            self._threads.append(t)
        return self

    def _serve_tcp(self) -> None:
        assert self._tcp is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._echo_conn, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo_conn(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def _serve_udp(self) -> None:
        assert self._udp is not None
        while not self._stop.is_set():
            try:
                data, peer = self._udp.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            self._udp.sendto(data, peer)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for s in (self._tcp, self._udp):
            if s is not None:
                s.close()

    def __enter__(self) -> EchoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tcp_echo_rtts(ns: str, dst: str, port: int = 7007, *, count: int = 5, source: str | None = None, timeout_s: float = 3.0) -> list[float]:
    """Open a TCP connection from inside `ns` and time `count` small echoes (seconds each)."""

    def probe() -> list[float]:
        rtts = []
        with socket.create_connection((dst, port), timeout=timeout_s, source_address=(source, 0) if source else None) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(count):
                payload = f"skybench-{i:04d}".encode()
                start = time.perf_counter()
                s.sendall(payload)
                got = b""
                while len(got) < len(payload):
                    chunk = s.recv(len(payload) - len(got))
                    if not chunk:
                        raise ConnectionError(f"{dst}:{port} closed the connection")
                    got += chunk
                rtts.append(time.perf_counter() - start)
                if got != payload:
                    raise ConnectionError(f"{dst}:{port} echoed {got!r}, expected {payload!r}")
        return rtts

    return netns.run_in(ns, probe)


def udp_echo_rtts(
    ns: str, dst: str, port: int = 7007, *, count: int = 10, interval_s: float = 0.01, timeout_s: float = 1.0, source: str | None = None
) -> list[float | None]:
    """Send `count` numbered UDP probes from inside `ns`; RTT in seconds per probe, None if lost."""

    def probe() -> list[float | None]:
        sent: dict[int, float] = {}
        rtts: dict[int, float] = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            if source:
                s.bind((source, 0))
            s.setblocking(False)
            deadline = None
            i = 0
            while True:
                now = time.perf_counter()
                if i < count and (not sent or now - max(sent.values()) >= interval_s):
                    sent[i] = now
                    s.sendto(i.to_bytes(4, "big") + b"skybench-probe", (dst, port))
                    i += 1
                    if i == count:
                        deadline = now + timeout_s
                try:
                    data, _ = s.recvfrom(2048)
                    seq = int.from_bytes(data[:4], "big")
                    if seq in sent and seq not in rtts:
                        rtts[seq] = time.perf_counter() - sent[seq]
                except BlockingIOError:
                    time.sleep(0.0005)
                if deadline is not None and (time.perf_counter() > deadline or len(rtts) == count):
                    break
        return [rtts.get(k) for k in range(count)]

    return netns.run_in(ns, probe)
