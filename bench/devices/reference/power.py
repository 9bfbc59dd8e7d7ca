"""The reference router's supply input: a PowerTarget that behaves as a real router's power does.

An emulated supply (bench.instruments.emulated.supply) calls `power_lost()` when its output
stops feeding the router (output off, or a dip below the router's minimum input voltage) and
`power_restored()` when it feeds it again. What the router does with that:

- **hold-up**: its input capacitance keeps it running for `power.hold_up_ms`. A supply
  interruption (or dip below the minimum voltage) shorter than that does nothing at all;
- **power off**: once the hold-up is spent, routerd and dnsmasq are SIGKILLed, every interface in
  the router namespace goes down and the kernel state (ruleset, sets, quotas, HTB, routes,
  conntrack, leases in /tmp) is gone (`ReferenceRouter.power_off`);
- **boot**: `power.boot_s` after power returns (a cold boot: bootloader, kernel, init) the
  interfaces come up, the configuration is applied again and the processes start; routerd
  restores the sessions and quota counters from its flash (bench.devices.reference.flash).
  Power lost again during the boot time starts it over.

The instrument calls these from its SCPI thread, under its lock: they only record the time and
wake this object's worker thread, so an instrument's timing is never held up by the router.
Everything that happens is in `history` (and a recorded step each).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bench.steps import step

if TYPE_CHECKING:
    from bench.devices.reference.router import ReferenceRouter

PowerEventKind = Literal["ridden_through", "powered_off", "boot_started", "booted", "boot_interrupted", "boot_failed"]


@dataclass(frozen=True)
class RouterPowerEvent:
    kind: PowerEventKind
    at: float  # time.monotonic()
    off_ms: float | None = None  # ridden_through: how long the input was unpowered
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at, "off_ms": self.off_ms, "error": self.error}


class RouterPower:
    """The router's power input (implements bench.instruments.targets.PowerTarget)."""

    def __init__(self, router: ReferenceRouter) -> None:
        self.router = router
        self._cond = threading.Condition()
        self.history: list[RouterPowerEvent] = []
        self._worker: threading.Thread | None = None
        self.open()

    def open(self) -> None:
        """Start watching the input, the router powered and running (it has just been started).
        The same object lives across `router.restart()`: the supply keeps a reference to it."""
        with self._cond:
            if self._worker is not None and self._worker.is_alive():
                return
            self._fed = True
            self._changed_at = time.monotonic()
            self._closed = False
            self.running = True  # the router's processes are up (False from power off to booted)
            self._worker = threading.Thread(target=self._run, name="reference-router power", daemon=True)
            self._worker.start()

    @property
    def hold_up_s(self) -> float:
        return self.router.config.power.hold_up_ms / 1000

    @property
    def boot_s(self) -> float:
        return self.router.config.power.boot_s

    # -- PowerTarget --------------------------------------------------------------------------------
    def power_lost(self) -> None:
        with self._cond:
            if self._fed:
                self._fed, self._changed_at = False, time.monotonic()
                self._cond.notify_all()

    def power_restored(self) -> None:
        with self._cond:
            if not self._fed:
                self._fed, self._changed_at = True, time.monotonic()
                self._cond.notify_all()

    # -- observation --------------------------------------------------------------------------------
    def events(self, kind: PowerEventKind | None = None, since: float = 0.0) -> list[RouterPowerEvent]:
        with self._cond:
            return [e for e in self.history if (kind is None or e.kind == kind) and e.at >= since]

    @property
    def boots(self) -> int:
        return len(self.events("booted"))

    def wait_running(self, timeout_s: float) -> bool:
        """Wait until the router has booted (or never went off); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not (self.running and self._fed):
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        """Stop the worker (the lab is going down): no boot starts after this."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            worker = self._worker
        if worker is not None and threading.current_thread() is not worker:
            worker.join(timeout=30)

    # -- the worker ---------------------------------------------------------------------------------
    def _record(self, kind: PowerEventKind, **data: Any) -> None:
        with self._cond:
            self.history.append(RouterPowerEvent(kind, time.monotonic(), **data))
            self._cond.notify_all()

    def _wait(self, predicate: Any, until: float | None = None) -> bool:
        """Under the condition: wait for predicate() or closed or the deadline; predicate's value."""
        while not predicate() and not self._closed:
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                break
            self._cond.wait(left)
        return bool(predicate())

    def _run(self) -> None:
        while True:
            with self._cond:
                self._wait(lambda: not self._fed)
                if self._closed:
                    return
                lost_at = self._changed_at
                back = self._wait(lambda: self._fed, until=lost_at + self.hold_up_s)
                if self._closed:
                    return
                if back:  # the hold-up bridged it
                    off_ms = (self._changed_at - lost_at) * 1000
            if back:
                self._record("ridden_through", off_ms=round(off_ms, 3))
                continue
            self._power_off()
            if not self._boot_when_powered():
                return

    def _power_off(self) -> None:
        with step(f"{self.router.name}: supply lost beyond hold-up", hold_up_ms=self.hold_up_s * 1000):
            with self._cond:
                self.running = False
            self.router.power_off()
            self._record("powered_off")

    def _boot_when_powered(self) -> bool:
        """Wait for power, then the boot time (power lost meanwhile: wait again); boot. False: closed."""
        while True:
            with self._cond:
                self._wait(lambda: self._fed)
                if self._closed:
                    return False
                on_at = self._changed_at
            self._record("boot_started")
            with self._cond:
                lost = self._wait(lambda: not self._fed, until=on_at + self.boot_s)
                if self._closed:
                    return False
            if lost:
                self._record("boot_interrupted")
                continue
            try:
                self.router.boot()
            except Exception as exc:  # noqa: BLE001 - a failed boot is an observation, not a crash of the bench
                self._record("boot_failed", error=str(exc))
                return True
            with self._cond:
                self.running = True
            self._record("booted")
            return True
