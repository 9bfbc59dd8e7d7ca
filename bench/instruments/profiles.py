"""Supply interruption and dip profiles (EN 50155 classes and the like), run on a PowerSupply.

    run = run_profile(supply, en50155_interruption("S2", repeat=5, gap_s=2.0))
    run.attach()                      # the records, requested next to achieved, in the report
    handle = start_profile(supply, dip_profile(0.7, 100), start_after_s=5)   # during traffic
    ...; run = handle.wait()

EN 50155:2017 supply interruption classes: S1 no interruption, S2 10 ms, S3 20 ms. A dip is the
output lowered to a fraction of the nominal voltage for a time (e.g. 70 % for 100 ms). Every dip
level is checked against the lab file's voltage range before the first event runs, so a profile
that would be refused half-way is refused whole, with nothing sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import allure
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.errors import BenchError
from bench.instruments.limits import check_in_range
from bench.instruments.supply import PowerSupply, SupplyEventTiming
from bench.instruments.timing import wait_until
from bench.steps import step

EN50155_INTERRUPTION_MS: dict[str, float | None] = {"S1": None, "S2": 10.0, "S3": 20.0}


class SupplyEvent(BaseModel):
    """One interruption (output off) or dip (output at `level` x nominal) of `duration_ms`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["interruption", "dip"]
    duration_ms: float = Field(gt=0, le=600_000)
    level: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of the nominal voltage during a dip")

    @model_validator(mode="after")
    def _level_matches_kind(self) -> SupplyEvent:
        if self.kind == "interruption" and self.level != 0.0:
            raise ValueError("level: an interruption switches the output off; use kind dip for a level")
        if self.kind == "dip" and self.level == 0.0:
            raise ValueError("level: a dip needs a level above 0 (0.7 = 70 % of nominal); 0 is an interruption")
        return self


class SupplyProfile(BaseModel):
    """A cycle of events, repeated `repeat` times with `gap_s` between the end of one and the next."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    events: list[SupplyEvent] = Field(default_factory=list)
    repeat: int = Field(1, ge=1, le=100_000)
    gap_s: float = Field(1.0, ge=0.0)
    nominal_v: float | None = Field(None, gt=0, description="set before the first event; None: keep the setpoint")


def en50155_interruption(supply_class: str, *, repeat: int = 1, gap_s: float = 1.0,
                         nominal_v: float | None = None) -> SupplyProfile:
    """The interruption of an EN 50155 class (S1: none, S2: 10 ms, S3: 20 ms)."""
    key = supply_class.upper()
    if key not in EN50155_INTERRUPTION_MS:
        raise BenchError(f"unknown EN 50155 interruption class {supply_class!r}",
                         fix=f"use one of {', '.join(EN50155_INTERRUPTION_MS)}")
    duration = EN50155_INTERRUPTION_MS[key]
    events = [] if duration is None else [SupplyEvent(kind="interruption", duration_ms=duration)]
    return SupplyProfile(name=f"EN 50155 {key}", events=events, repeat=repeat, gap_s=gap_s, nominal_v=nominal_v)


def dip_profile(level: float, duration_ms: float, *, repeat: int = 1, gap_s: float = 1.0,
                nominal_v: float | None = None) -> SupplyProfile:
    """A dip to `level` x nominal (0.7 = 70 %) for `duration_ms`."""
    return SupplyProfile(name=f"dip {level * 100:g} % {duration_ms:g} ms",
                         events=[SupplyEvent(kind="dip", duration_ms=duration_ms, level=level)],
                         repeat=repeat, gap_s=gap_s, nominal_v=nominal_v)


@dataclass(frozen=True)
class EventRecord:
    """One executed event: requested next to achieved (ms), and where it sat in the profile."""

    profile: str
    cycle: int
    index: int
    kind: str
    requested_ms: float
    achieved_ms: float
    error_ms: float
    level_v: float
    nominal_v: float
    started_at: float  # wall clock

    @classmethod
    def of(cls, profile: str, cycle: int, index: int, timing: SupplyEventTiming) -> EventRecord:
        return cls(profile, cycle, index, timing.kind, timing.requested_ms, timing.achieved_ms,
                   timing.error_ms, timing.level_v, timing.nominal_v, timing.started_at)


@dataclass
class ProfileRun:
    """What a profile did: one record per event, in order."""

    profile: str
    supply: str
    records: list[EventRecord] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.records]

    def to_json(self) -> str:
        return json.dumps({"profile": self.profile, "supply": self.supply, "events": self.as_dicts()}, indent=1)

    def summary(self) -> str:
        if not self.records:
            return f"{self.profile}: no events"
        errors = [r.error_ms for r in self.records]
        return (f"{self.profile}: {len(self.records)} events, achieved - requested: "
                f"min {min(errors):+.3f} ms, max {max(errors):+.3f} ms")

    def attach(self, name: str | None = None) -> None:
        """Put the records in the test's report (Allure) as JSON."""
        allure.attach(self.to_json(), name=name or f"{self.supply}: {self.profile}",
                      attachment_type=allure.attachment_type.JSON)


def _prepare(supply: PowerSupply, profile: SupplyProfile) -> float:
    """Check every value against the lab file before anything runs; return the nominal voltage."""
    if profile.nominal_v is not None:
        nominal = check_in_range(supply.config, "voltage_range_v", profile.nominal_v, "V")
    else:
        nominal = supply.voltage_setpoint()
    for event in profile.events:
        if event.kind == "dip":
            check_in_range(supply.config, "voltage_range_v", round(event.level * nominal, 3), "V")
    if profile.nominal_v is not None:
        supply.set_voltage(nominal)
    return nominal


def run_profile(supply: PowerSupply, profile: SupplyProfile, *, stop: threading.Event | None = None) -> ProfileRun:
    """Run every event of every cycle on `supply`; `stop` ends it between events."""
    run = ProfileRun(profile.name, supply.name)
    with step(f"{supply.name}: profile {profile.name}", repeat=profile.repeat, gap_s=profile.gap_s,
              events=len(profile.events)) as rec:
        nominal = _prepare(supply, profile)
        next_start = time.perf_counter()
        for cycle in range(profile.repeat):
            for index, event in enumerate(profile.events):
                if stop is not None and stop.is_set():
                    rec["result"] = run.summary() + " (stopped)"
                    return run
                wait_until(next_start)
                seconds = event.duration_ms / 1000.0
                if event.kind == "interruption":
                    timing = supply.interrupt(seconds)
                else:
                    timing = supply.dip(round(event.level * nominal, 3), seconds)
                run.records.append(EventRecord.of(profile.name, cycle, index, timing))
                next_start = time.perf_counter() + profile.gap_s
        rec["result"] = run.summary()
    return run


class ScheduledProfile:
    """A profile running in a background thread (while traffic or a trace replay runs).

    The supply belongs to the profile until `wait()` returns: a VISA session is not shared
    between threads.
    """

    def __init__(self, supply: PowerSupply, profile: SupplyProfile, start_after_s: float) -> None:
        self.profile = profile
        self._stop = threading.Event()
        self._run: ProfileRun | None = None
        self._error: BaseException | None = None
        self._start_at = time.perf_counter() + start_after_s

        def body() -> None:
            try:
                wait_until(self._start_at)
                if not self._stop.is_set():
                    self._run = run_profile(supply, profile, stop=self._stop)
            except BaseException as exc:  # re-raised by wait()
                self._error = exc

        self._thread = threading.Thread(target=body, name=f"profile:{profile.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the profile after the event in progress (an event is never cut short)."""
        self._stop.set()

    def wait(self, timeout_s: float | None = None) -> ProfileRun:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise BenchError(f"profile {self.profile.name!r} still runs after {timeout_s} s",
                             fix="wait longer, or stop() it first")
        if self._error is not None:
            raise self._error
        return self._run or ProfileRun(self.profile.name, "(not started)")


def start_profile(supply: PowerSupply, profile: SupplyProfile, *, start_after_s: float = 0.0) -> ScheduledProfile:
    """Run `profile` in the background, starting `start_after_s` from now."""
    return ScheduledProfile(supply, profile, start_after_s)
