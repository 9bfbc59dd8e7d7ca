"""Health probes: one UDP echo per WAN per interval, to the WAN's own probe target on the ground
(routed only through that WAN), sent from the WAN port's address. A probe is answered when the
echo of its sequence number comes back within the timeout."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable

from bench.devices.reference.plan import WanPort

# One call per round: {wan: (answered, rtt seconds or None)}, wall-clock time of the round's end.
RoundReport = Callable[[dict[str, tuple[bool, float | None]], float], None]


class Prober:
    def __init__(self, wans: list[WanPort], port: int, interval_s: float, timeout_s: float, report: RoundReport) -> None:
        self.wans = wans
        self.port = port
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.report = report
        self._stop = threading.Event()
        self._socks: dict[str, socket.socket] = {}
        self._seq = 0
        self.thread = threading.Thread(target=self._run, name="prober", daemon=True)

    def start(self) -> None:
        for wan in self.wans:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((wan.address, 0))
            s.setblocking(False)
            self._socks[wan.name] = s
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        for s in self._socks.values():
            s.close()

    def _run(self) -> None:
        next_round = time.monotonic()
        while not self._stop.is_set():
            self._round()
            next_round += self.interval_s
            delay = next_round - time.monotonic()
            if delay < 0:  # fell behind (a busy host): start afresh rather than burst
                next_round = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def _round(self) -> None:
        self._seq += 1
        sent: dict[str, float] = {}
        expect: dict[str, bytes] = {}
        for wan in self.wans:
            payload = f"skyprobe {wan.name} {self._seq}".encode()
            try:
                self._socks[wan.name].sendto(payload, (wan.probe_target, self.port))
                sent[wan.name] = time.monotonic()
                expect[wan.name] = payload
            except OSError:
                pass  # no route / port down: counted as unanswered below
        answered: dict[str, float] = {}
        deadline = time.monotonic() + self.timeout_s
        by_fd = {s.fileno(): name for name, s in self._socks.items()}
        while len(answered) < len(sent):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(list(self._socks.values()), [], [], left)
            for s in ready:
                name = by_fd[s.fileno()]
                try:
                    data, _ = s.recvfrom(2048)
                except OSError:
                    continue
                # The echo server appends who it saw; a late echo of an older probe is ignored.
                if name in expect and data.split(b" from ")[0] == expect[name] and name not in answered:
                    answered[name] = time.monotonic()
        self.report(
            {w.name: (True, answered[w.name] - sent[w.name]) if w.name in answered else (False, None) for w in self.wans},
            time.time(),
        )
