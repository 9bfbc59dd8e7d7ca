"""What a passenger notices during failover: a continuous UDP probe from inside a passenger's
namespace to the ground's "whoami" echo (it answers with the source address it saw, i.e. the WAN
the packet left the train by, after the DUT's NAT; `lab.wan_at_ground` names that WAN).

Two streams run at once, because the router treats them differently:
- a **call**: one long-lived UDP flow (a VoIP call, a video stream), `interval_s` apart; its
  longest gap between answers is what a passenger in a call notices;
- **new flows**: a fresh socket every `new_flow_every_s` (a page load, an app's next request);
  the router moves new flows at once and pins old ones, so the path of new flows is what says
  "traffic moved to the next WAN".

    with PassengerProbe(passenger.ns, "198.19.0.1", wan_of=lab.wan_at_ground) as probe:
        ...
    probe.longest_gap(t0, t1)       # seconds without an answer on the call
    probe.first_on("new", {"starlink", "lte"}, after=t0)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from types import TracebackType

from bench.lab import netns
from bench.steps import step

WHOAMI_PORT = 7070
# New flows take their source ports from here in turn: a random ephemeral port repeats within the
# DUT's connection-tracking timeout about once in a hundred flows at 10 a second, and a repeated
# 5-tuple is, to any router, the OLD flow (still pinned to its old WAN), not a new one.
NEW_FLOW_PORTS = range(40000, 44000)  # 400 s of new flows before a port comes round again


@dataclass
class Answer:
    kind: str  # "call" or "new"
    sent: float  # wall clock (time.time()), comparable with the router's event log
    received: float
    via: str  # the source address the ground saw (a WAN's address)
    wan: str | None = None  # the lab WAN that address belongs to (None: none of the lab's)


@dataclass
class PassengerProbe:
    ns: str
    server: str
    wan_of: Callable[[str], str | None] = lambda _address: None
    port: int = WHOAMI_PORT
    interval_s: float = 0.02
    new_flow_every_s: float = 0.1
    answers: list[Answer] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=lambda: {"call": 0, "new": 0})
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- life ---------------------------------------------------------------------------------------
    def __enter__(self) -> PassengerProbe:
        with step("passenger probe start", ns=self.ns, server=f"{self.server}:{self.port}",
                  call_interval_s=self.interval_s, new_flow_every_s=self.new_flow_every_s):
            for target in (self._call, self._new_flows):
                self._threads.append(netns.start_in(self.ns, target, thread_name=f"probe {self.ns}"))
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        with step("passenger probe stop", ns=self.ns) as rec:
            rec["result"] = f"call {self.sent['call']} sent, new flows {self.sent['new']} sent, {len(self.answers)} answers"

    def _record(self, kind: str, sent: float, data: bytes) -> None:
        via = data.decode(errors="replace").rsplit(" ", 1)[-1]
        with self._lock:
            self.answers.append(Answer(kind, sent, time.time(), via, self.wan_of(via)))

    def _call(self) -> None:
        sent_at: dict[int, float] = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(self.interval_s)
            seq = 0
            next_send = time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_send:
                    sent_at[seq] = time.time()
                    try:
                        s.sendto(b"call %d" % seq, (self.server, self.port))
                    except OSError:
                        pass  # no route for a moment: the gap shows it
                    self.sent["call"] += 1
                    seq += 1
                    next_send = now + self.interval_s
                try:
                    data = s.recv(512)
                except (TimeoutError, OSError):
                    continue
                try:
                    n = int(data.split(b" ", 2)[1])
                except (IndexError, ValueError):
                    continue
                if n in sent_at:
                    self._record("call", sent_at.pop(n), data)

    def _new_flows(self) -> None:
        port = 0
        while not self._stop.is_set():
            sent = time.time()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.settimeout(min(self.new_flow_every_s, 0.5))
                try:
                    s.bind(("0.0.0.0", NEW_FLOW_PORTS[port % len(NEW_FLOW_PORTS)]))
                    port += 1
                    s.sendto(b"new 0", (self.server, self.port))
                    self.sent["new"] += 1
                    self._record("new", sent, s.recv(512))
                except (TimeoutError, OSError):
                    pass
            self._stop.wait(max(0.0, self.new_flow_every_s - (time.time() - sent)))

    # -- reading -----------------------------------------------------------------------------------
    def of(self, kind: str, t0: float = 0.0, t1: float = float("inf")) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.kind == kind and t0 <= a.received <= t1]

    def longest_gap(self, t0: float, t1: float, kind: str = "call") -> float:
        """The longest time without an answer on `kind` between t0 and t1 (wall clock)."""
        times = [t0] + [a.received for a in self.of(kind, t0, t1)] + [t1]
        return max(b - a for a, b in zip(times, times[1:]))

    def first_on(self, kind: str, wans: Collection[str], after: float) -> Answer | None:
        """The first answer of `kind` sent at or after `after` that left the train by one of `wans`."""
        return next((a for a in sorted(self.of(kind), key=lambda a: a.sent) if a.sent >= after and a.wan in wans), None)

    def wans_between(self, kind: str, t0: float, t1: float) -> list[str | None]:
        """The WAN of each answer of `kind` sent in [t0, t1], in sending order."""
        return [a.wan for a in sorted(self.of(kind), key=lambda a: a.sent) if t0 <= a.sent <= t1]

    def switches_to(self, wan: str, t0: float, t1: float, kind: str = "new") -> int:
        """How many times the path of `kind` changed to `wan` among the answers sent in [t0, t1]
        (flows sent before t0 set the starting path)."""
        before = [a.wan for a in sorted(self.of(kind), key=lambda a: a.sent) if a.sent < t0]
        path = before[-1] if before else None
        count = 0
        for w in self.wans_between(kind, t0, t1):
            if w != path and w == wan:
                count += 1
            path = w
        return count

    def current_wan(self, kind: str = "new", within_s: float = 1.0) -> str | None:
        """The WAN of the newest answer of `kind`, if it came within the last `within_s`."""
        answers = self.of(kind, time.time() - within_s)
        return max(answers, key=lambda a: a.sent).wan if answers else None

    def answered_between(self, kind: str, t0: float, t1: float) -> int:
        return len(self.of(kind, t0, t1))


@dataclass
class RequestLoop:
    """A passenger's HTTP GET to the ground every `every_s` (a new connection each time, short
    timeout): when did requests start succeeding again."""

    passenger: object  # a bench.traffic.passenger.Passenger
    url: str
    every_s: float = 0.2
    timeout_s: float = 1.0
    results: list[tuple[float, float, bool]] = field(default_factory=list)  # (started, ended, ok)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RequestLoop:
        self._thread = threading.Thread(target=self._run, daemon=True, name="request loop")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            try:
                status, _, _ = self.passenger.http("GET", self.url, timeout_s=self.timeout_s)  # type: ignore[attr-defined]
                ok = status == 200
            except OSError:
                ok = False
            except Exception:  # noqa: BLE001 - a name that does not resolve while the router restarts, etc.
                ok = False
            self.results.append((started, time.time(), ok))
            self._stop.wait(max(0.0, self.every_s - (time.time() - started)))

    def first_success(self, after: float) -> float | None:
        """When the first request started at or after `after` succeeded (its end, wall clock)."""
        return next((end for start, end, ok in self.results if start >= after and ok), None)
