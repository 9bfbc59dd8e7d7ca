"""What an emulated instrument's output acts on, and test doubles that only record.

`PowerTarget` is whatever the supply feeds (in the embedded lab: the reference router, which
stops as in a power loss and boots again); `FadeTarget` is whatever the attenuator sits in front
of (a WAN's emulated sky link, see fade.py). The protocols are small on purpose: the instrument
says what happened to its output, the target decides what that means for it.

The `Recording*` classes are test doubles, named so: they record the calls with a monotonic
timestamp and do nothing else. Tests use them to measure what an instrument did to its target.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable


@runtime_checkable
class PowerTarget(Protocol):
    """Something powered by an emulated supply."""

    def power_lost(self) -> None:
        """The supply's output stopped feeding it (output off, or voltage below what it runs on)."""

    def power_restored(self) -> None:
        """The supply feeds it again."""


@runtime_checkable
class FadeTarget(Protocol):
    """Something behind an emulated RF attenuator."""

    def set_fade_db(self, db: float) -> None:
        """The attenuation in the RF path is now `db` (0 = clear sky)."""


@dataclass(frozen=True)
class PowerEvent:
    kind: Literal["lost", "restored"]
    at: float  # time.perf_counter() seconds


@dataclass
class RecordingPowerTarget:
    """Test double for PowerTarget: records each call and when, nothing else."""

    events: list[PowerEvent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def power_lost(self) -> None:
        with self._lock:
            self.events.append(PowerEvent("lost", time.perf_counter()))

    def power_restored(self) -> None:
        with self._lock:
            self.events.append(PowerEvent("restored", time.perf_counter()))

    def off_periods_s(self) -> list[float]:
        """Each completed lost -> restored period, in seconds, in order."""
        periods, lost_at = [], None
        with self._lock:
            for event in self.events:
                if event.kind == "lost":
                    lost_at = event.at
                elif lost_at is not None:
                    periods.append(event.at - lost_at)
                    lost_at = None
        return periods


@dataclass
class RecordingFadeTarget:
    """Test double for FadeTarget: records each attenuation it was given and when."""

    settings: list[tuple[float, float]] = field(default_factory=list)  # (perf_counter, dB)

    def set_fade_db(self, db: float) -> None:
        self.settings.append((time.perf_counter(), db))

    @property
    def last_db(self) -> float | None:
        return self.settings[-1][1] if self.settings else None
