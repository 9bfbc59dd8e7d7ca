"""Traffic to measure a link with: timestamped UDP probes, paced UDP, and a TCP bulk flow.

Sockets are created inside the end namespaces (a socket belongs to the namespace of the thread
that opened it) and then used from ordinary threads. Both ends share this host's clock, so a
timestamp written by the sender gives the one-way delay at the receiver directly.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from bench.lab import netns

HEADER = struct.Struct("!IQ")  # sequence number, send time (CLOCK_MONOTONIC ns)
UDP_FRAME_OVERHEAD = 14 + 20 + 8  # Ethernet + IPv4 + UDP headers on the wire
TCP_FRAME_OVERHEAD = 14 + 20 + 32  # Ethernet + IPv4 + TCP with timestamps
# Best possible TCP goodput over a link shaped at rate R with full 1500-byte frames: R times this.
TCP_PAYLOAD_SHARE = 1448 / (1448 + TCP_FRAME_OVERHEAD)


def _socket_in(ns: str, kind: int) -> socket.socket:
    return netns.run_in(ns, lambda: socket.socket(socket.AF_INET, kind))


@dataclass
class ProbeResult:
    sent: int = 0
    # (sequence, one-way delay in ms) in arrival order
    arrivals: list[tuple[int, float]] = field(default_factory=list)
    send_times: list[float] = field(default_factory=list)  # monotonic seconds, by sequence

    @property
    def delays_ms(self) -> list[float]:
        return [d for _, d in self.arrivals]

    @property
    def received(self) -> int:
        return len(self.arrivals)

    def lost_sequence(self) -> list[bool]:
        got = {s for s, _ in self.arrivals}
        return [i not in got for i in range(self.sent)]

    def reordered(self) -> int:
        """Arrivals with a lower sequence number than one that arrived before them."""
        highest, count = -1, 0
        for seq, _ in self.arrivals:
            if seq < highest:
                count += 1
            highest = max(highest, seq)
        return count


class _Receiver(threading.Thread):
    def __init__(self, sock: socket.socket, on_datagram) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.sock = sock
        self.on_datagram = on_datagram
        self.stopped = False

    def run(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stopped:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.on_datagram(data, time.monotonic_ns())


def udp_probes(src_ns: str, dst_ns: str, dst_ip: str, *, count: int, interval_s: float,
               size: int = 64, port: int = 40001, drain_s: float = 0.5,
               during: tuple[float, object] | None = None) -> ProbeResult:
    """Send `count` timestamped probes every `interval_s`; collect one-way delays.

    `during=(t, fn)` calls fn() once `t` seconds into the run (an update with traffic flowing).
    """
    result = ProbeResult()
    rx = _socket_in(dst_ns, socket.SOCK_DGRAM)
    tx = _socket_in(src_ns, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind((dst_ip, port))

    def on_datagram(data: bytes, now_ns: int) -> None:
        seq, sent_ns = HEADER.unpack_from(data)
        result.arrivals.append((seq, (now_ns - sent_ns) / 1e6))

    receiver = _Receiver(rx, on_datagram)
    receiver.start()
    pad = b"\0" * max(0, size - HEADER.size)
    start = time.monotonic()
    pending = during
    try:
        for seq in range(count):
            target = start + seq * interval_s
            while (now := time.monotonic()) < target:
                time.sleep(min(target - now, 0.001))
            if pending is not None and now - start >= pending[0]:
                pending[1]()  # type: ignore[operator]
                pending = None
            sent = time.monotonic_ns()
            tx.sendto(HEADER.pack(seq, sent) + pad, (dst_ip, port))
            result.send_times.append(sent / 1e9)
            result.sent += 1
        time.sleep(drain_s)
    finally:
        receiver.stopped = True
        receiver.join()
        rx.close()
        tx.close()
    return result


def paced_udp_goodput(src_ns: str, dst_ns: str, dst_ip: str, *, offered_bps: float, seconds: float,
                      payload: int = 1458, port: int = 40002) -> float:
    """Offer UDP at `offered_bps` (frame bits) for `seconds`; return received payload bit/s."""
    rx = _socket_in(dst_ns, socket.SOCK_DGRAM)
    tx = _socket_in(src_ns, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    rx.bind((dst_ip, port))
    stamps: list[int] = []
    receiver = _Receiver(rx, lambda data, now: stamps.append(now))
    receiver.start()
    frame_bits = (payload + UDP_FRAME_OVERHEAD) * 8
    gap = frame_bits / offered_bps
    data = b"\0" * payload
    start = time.monotonic()
    sent = 0
    try:
        while (now := time.monotonic()) - start < seconds:
            due = int((now - start) / gap) + 1
            while sent < due:
                tx.sendto(data, (dst_ip, port))
                sent += 1
            time.sleep(0.0005)
        time.sleep(0.5)
    finally:
        receiver.stopped = True
        receiver.join()
        rx.close()
        tx.close()
    if len(stamps) < 2:
        return 0.0
    # Rate between first and last arrival: the first packet's own time is not part of it.
    return (len(stamps) - 1) * payload * 8 / ((stamps[-1] - stamps[0]) / 1e9)


def tcp_goodput(src_ns: str, dst_ns: str, dst_ip: str, *, seconds: float, warmup_s: float = 1.0,
                port: int = 40003) -> float:
    """Bulk TCP from src to dst; payload bit/s at the receiver after a slow-start warm-up."""
    server = _socket_in(dst_ns, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((dst_ip, port))
    server.listen(1)
    client = _socket_in(src_ns, socket.SOCK_STREAM)
    received: list[tuple[int, int]] = []  # (monotonic ns, bytes so far)
    stop = threading.Event()

    def sink() -> None:
        conn, _ = server.accept()
        total = 0
        buf = bytearray(1 << 20)
        with conn:
            while True:
                n = conn.recv_into(buf)
                if not n:
                    return
                total += n
                received.append((time.monotonic_ns(), total))

    thread = threading.Thread(target=sink, daemon=True)
    thread.start()
    try:
        client.connect((dst_ip, port))
        chunk = b"\0" * (1 << 16)
        start = time.monotonic()
        client.settimeout(1.0)
        while time.monotonic() - start < warmup_s + seconds and not stop.is_set():
            try:
                client.send(chunk)
            except TimeoutError:
                continue
        client.shutdown(socket.SHUT_WR)
    finally:
        client.close()
        thread.join(timeout=10)
        server.close()
    begin_ns = received[0][0] + int(warmup_s * 1e9) if received else 0
    window = [r for r in received if r[0] >= begin_ns]
    if len(window) < 2:
        return 0.0
    return (window[-1][1] - window[0][1]) * 8 / ((window[-1][0] - window[0][0]) / 1e9)
