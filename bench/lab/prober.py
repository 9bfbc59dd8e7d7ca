"""A continuous UDP echo prober with timestamps, and an echo server in a process of its own.

    echo = start_echo_process(lab, "ground", [("198.19.255.2", 7009)])
    with UdpProber(lab.ns("router"), "198.19.255.2", 7009, source="198.18.16.9", rate_hz=50) as prober:
        ...
    samples = prober.samples()       # send time (monotonic), RTT in s or None if lost

Why not the in-process EchoServer of bench.lab.reach: whatever else runs in the bench's Python
process (the replay scheduler spins on the clock before each step) would delay the echo and show
up as RTT. The echo here is its own process, and the prober takes the reply's arrival time from
the kernel (SO_TIMESTAMPNS), so only the send timestamp is taken in Python, right before sendto.
"""

from __future__ import annotations

import array
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.lab import netns

PROBE_MAGIC = b"skybench-udp-probe"
HEADER = struct.Struct("!Q")  # sequence number
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


@dataclass(frozen=True)
class ProbeSample:
    seq: int
    sent_mono: float  # time.monotonic() just before sendto
    rtt_s: float | None  # None: no reply within the timeout


@dataclass
class UdpProber:
    """Sends numbered UDP probes at `rate_hz` from inside `ns` to an echo server; records RTTs."""

    ns: str
    dst: str
    port: int
    source: str | None = None
    rate_hz: float = 50.0
    timeout_s: float = 2.0
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _sent: dict[int, float] = field(default_factory=dict)
    _rtt: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped_at: float | None = None

    def start(self) -> UdpProber:
        def open_socket() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if self.source:
                s.bind((self.source, 0))
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.setblocking(False)
            return s

        self._sock = netns.run_in(self.ns, open_socket)  # the socket lives in the namespace
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"prober:{self.dst}")
        self._thread.start()
        return self

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        interval = 1.0 / self.rate_hz
        # the kernel stamps replies with CLOCK_REALTIME; convert to monotonic with one offset
        to_mono = time.monotonic() - time.time()
        next_send = time.monotonic()
        seq = 0
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_send:
                payload = HEADER.pack(seq) + PROBE_MAGIC
                sent = time.monotonic()
                try:
                    sock.sendto(payload, (self.dst, self.port))
                except OSError:
                    pass  # no route during a change counts as a lost probe
                with self._lock:
                    self._sent[seq] = sent
                seq += 1
                next_send += interval
                if next_send < now:  # fell behind (a stall): keep the rate, do not burst
                    next_send = now + interval
                continue
            for _ in poller.poll(max(0.0, (next_send - now) * 1000.0)):
                self._receive(sock, to_mono)
        self._stopped_at = time.monotonic()

    def _receive(self, sock: socket.socket, to_mono: float) -> None:
        while True:
            try:
                data, ancillary, _flags, _addr = sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            arrived = time.monotonic()
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                    secs, nanos = array.array("q", raw[:16])
                    arrived = secs + nanos / 1e9 + to_mono
            if len(data) < HEADER.size or not data.endswith(PROBE_MAGIC):
                continue
            (seq,) = HEADER.unpack_from(data)
            with self._lock:
                sent = self._sent.get(seq)
                if sent is not None and seq not in self._rtt and arrived - sent <= self.timeout_s:
                    self._rtt[seq] = arrived - sent

    def stop(self, *, drain: bool = True) -> None:
        """Stop sending; with `drain`, wait for replies to the last probes (up to the timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if drain and self._sock is not None:
            to_mono = time.monotonic() - time.time()
            limit = time.monotonic() + self.timeout_s
            while time.monotonic() < limit:
                with self._lock:
                    pending = [s for s in self._sent if s not in self._rtt and self._sent[s] > limit - 2 * self.timeout_s]
                if not pending:
                    break
                if select.select([self._sock], [], [], 0.05)[0]:
                    self._receive(self._sock, to_mono)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def samples(self) -> list[ProbeSample]:
        with self._lock:
            return [ProbeSample(seq, sent, self._rtt.get(seq)) for seq, sent in sorted(self._sent.items())]

    def __enter__(self) -> UdpProber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_echo_process(lab: Any, role: str, endpoints: Sequence[tuple[str, int]]) -> subprocess.Popen[bytes]:
    """A UDP echo server process in a lab namespace, for `endpoints` (address, port); the lab's
    ledger owns it. It answers as soon as it is ready; this returns once it is."""
    argv = [sys.executable, "-m", "bench.lab.prober", *[f"{a}:{p}" for a, p in endpoints]]
    proc = lab.popen(role, argv, name="udp echo (prober)", stdout=subprocess.PIPE)
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    if ready.strip() != b"ready":
        proc.kill()
        proc.wait()
        from bench.errors import HostError

        raise HostError(f"the UDP echo server did not start (it said {ready!r})", where=f"namespace {lab.ns(role)}",
                        fix="check that the addresses exist in that namespace")
    return proc


def _echo_main(endpoints: list[str]) -> int:
    socks = []
    for spec in endpoints:
        address, port = spec.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((address, int(port)))
        socks.append(s)
    try:  # as the link engines: a waking echo must not wait behind ordinary work (it adds to RTT)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except OSError:
        pass
    print("ready", flush=True)
    poller = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    while True:
        for fd, _ in poller.poll():
            s = by_fd[fd]
            try:
                data, peer = s.recvfrom(65536)
                s.sendto(data, peer)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(_echo_main(sys.argv[1:]))
