"""WAN health and the failover decision: pure logic, no sockets or clocks of its own, so its
rules (thresholds, priority, failback hold) are tested without a lab.

A WAN goes down after `down_after` consecutive failed probes and up after `up_after` consecutive
answered ones. Each traffic class uses the first WAN of its preference list that is up; when
its active WAN goes down it moves at once (failover), but it returns to a more preferred WAN only
after that WAN has stayed up for `failback_hold_s` (failback without flapping).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from bench.devices.reference.config import HealthConfig

State = Literal["up", "down"]
RECENT_PROBES = 20  # the window of the loss figure


@dataclass
class WanHealth:
    name: str
    state: State = "up"  # optimistic at start: traffic flows before the first probe round ends
    since: float = 0.0
    fails: int = 0  # consecutive
    successes: int = 0  # consecutive
    probes_sent: int = 0
    probes_answered: int = 0
    last_rtt_s: float | None = None
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=RECENT_PROBES))  # answered?

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state, "since": self.since, "consecutive_failures": self.fails,
            "consecutive_successes": self.successes, "probes_sent": self.probes_sent,
            "probes_answered": self.probes_answered,
            "recent_loss": round(1 - sum(self.recent) / len(self.recent), 4) if self.recent else None,
            "last_rtt_ms": None if self.last_rtt_s is None else round(self.last_rtt_s * 1000, 3),
        }


@dataclass
class Event:
    time: float
    event: str  # wan_down | wan_up | switch
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time, "event": self.event, **self.data}


class FailoverPolicy:
    def __init__(self, health: HealthConfig, class_order: dict[str, list[str]], now: float) -> None:
        self.health = health
        self.order = class_order
        names = {n for order in class_order.values() for n in order}
        # Starting WANs count as up for longer than the hold, so the first choice is the best one.
        self.wans = {n: WanHealth(n, since=now - health.failback_hold_s) for n in sorted(names)}
        self.active: dict[str, str | None] = {tc: (order[0] if order else None) for tc, order in class_order.items()}
        self.switches: list[Event] = []

    # -- probes ---------------------------------------------------------------------------------
    def observe(self, wan: str, answered: bool, now: float, rtt_s: float | None = None) -> list[Event]:
        """One probe result; returns the state changes and switches it caused."""
        return self.observe_round({wan: (answered, rtt_s)}, now)

    def observe_round(self, results: dict[str, tuple[bool, float | None]], now: float) -> list[Event]:
        """A probe round's results for every WAN, then one decision: WANs that fail together
        are all down before anything switches (no hop onto a WAN that is failing too)."""
        events: list[Event] = []
        for wan, (answered, rtt_s) in results.items():
            events += self._update(wan, answered, now, rtt_s)
        return events + self.decide(now)

    def _update(self, wan: str, answered: bool, now: float, rtt_s: float | None) -> list[Event]:
        h = self.wans[wan]
        h.probes_sent += 1
        h.recent.append(answered)
        if answered:
            h.probes_answered += 1
            h.last_rtt_s = rtt_s
            h.successes += 1
            h.fails = 0
            if h.state == "down" and h.successes >= self.health.up_after:
                h.state, h.since = "up", now
                return [Event(now, "wan_up", {"wan": wan})]
        else:
            h.fails += 1
            h.successes = 0
            if h.state == "up" and h.fails >= self.health.down_after:
                h.state, h.since = "down", now
                return [Event(now, "wan_down", {"wan": wan})]
        return []

    # -- choice ---------------------------------------------------------------------------------
    def decide(self, now: float) -> list[Event]:
        """Switch each class whose choice changed; returns the switches."""
        switches = []
        for tc, order in self.order.items():
            current = self.active[tc]
            target = self._choose(order, current, now)
            if target != current and target is not None:
                reason = "failover" if current is None or self.wans[current].state == "down" else "failback"
                self.active[tc] = target
                ev = Event(now, "switch", {"class": tc, "from": current, "to": target, "reason": reason})
                switches.append(ev)
                self.switches.append(ev)
        return switches

    def _choose(self, order: list[str], current: str | None, now: float) -> str | None:
        up = [n for n in order if self.wans[n].state == "up"]
        if not up:
            return current  # nothing better: stay (and let the probes say when something returns)
        if current is None or self.wans[current].state == "down":
            return up[0]
        for name in up:
            if name == current:
                return current  # nothing more preferred is up
            if now - self.wans[name].since >= self.health.failback_hold_s:
                return name  # more preferred, and up long enough
        return current
