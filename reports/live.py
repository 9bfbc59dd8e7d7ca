"""The run's live state: ``live.json`` in the run directory, read by `skybench run` to show progress.

Fixtures write it; the CLI polls it (twice a second) and renders one status line. The file is
replaced atomically (write a hidden temporary, then rename), so a reader never sees half of it.

    from reports.live import live_update
    live_update(section="replay", trace="astana-almaty", trace_hash="sha256:...", clock_s=7985.0,
                km=431.2, speed=60.0)                                   # the replay fixture, per step
    live_update(section="passengers", users=480, rps=212.5, failures=3,
                p95_ms={"browse": 640.0, "pos": 310.0})                 # the passengers fixture
    live_update(section="replay", clear=True)                          # the replay has ended

The pytest plugin itself keeps the ``progress`` section (tests done / total, the current test).
Without a run directory (``SKYBENCH_RUN_DIR`` unset and no ``--results-dir``) every call is a no-op:
fixtures call it unconditionally. Format: ``LiveState`` below (docs/reports.md).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bench.atomicfile import write_text_atomically

LIVE_FILE = "live.json"

_lock = threading.Lock()
_run_dir: Path | None = None
# The replays this process published, latest state each (by trace file), with when: a failed
# test's plot needs the trace even when the replay fixture cleared its section before the verdict.
_recent_replays: dict[str, tuple[float, dict[str, Any]]] = {}


class Progress(BaseModel):
    """Where the suite is: written by the pytest plugin."""

    model_config = ConfigDict(extra="allow")

    total: int = 0  # tests collected
    done: int = 0  # tests finished (any outcome)
    failed: int = 0
    current: str | None = None  # node id of the running test


class ReplayState(BaseModel):
    """A trace replay in progress: written by the replay fixture."""

    model_config = ConfigDict(extra="allow")

    trace: str  # the trace's name
    trace_hash: str | None = None
    trace_path: str | None = None  # the trace file (lets a failed test's plot be drawn)
    clock_s: float  # trace time now
    km: float | None = None
    speed: float | None = None  # trace seconds per wall second
    window_s: tuple[float, float] | None = None  # the replayed window in trace time


class PassengerState(BaseModel):
    """Live load-generator figures: written by the passengers fixture."""

    model_config = ConfigDict(extra="allow")

    users: int  # simulated passengers now
    rps: float | None = None  # requests per second (all classes)
    failures: int = 0  # failed requests so far
    p95_ms: dict[str, float] = Field(default_factory=dict)  # per passenger class


class LiveState(BaseModel):
    """The whole of ``live.json``. ``updated`` is a Unix time; sections absent are not running."""

    model_config = ConfigDict(extra="allow")

    updated: float = 0.0
    progress: Progress | None = None
    replay: ReplayState | None = None
    passengers: PassengerState | None = None


SECTIONS: dict[str, type[BaseModel]] = {"progress": Progress, "replay": ReplayState, "passengers": PassengerState}


def set_live_dir(run_dir: Path | str | None) -> None:
    """Where ``live.json`` goes (the pytest plugin sets the run's results directory)."""
    global _run_dir
    _run_dir = Path(run_dir) if run_dir is not None else None


def live_path() -> Path | None:
    if _run_dir is not None:
        return _run_dir / LIVE_FILE
    env = os.environ.get("SKYBENCH_RUN_DIR")
    return Path(env) / LIVE_FILE if env else None


def live_update(section: str, *, clear: bool = False, **fields: Any) -> None:
    """Replace one section of ``live.json`` (``clear``: remove it). Values are checked by the
    section's model, so a typo fails in the fixture that made it, not in the CLI's display."""
    if section not in SECTIONS:
        raise ValueError(f"live.json has no section {section!r}; sections: {', '.join(SECTIONS)}")
    value = None if clear else SECTIONS[section](**fields).model_dump(mode="json", exclude_none=True)
    if section == "replay" and value is not None:
        _recent_replays[str(value.get("trace_path") or value["trace"])] = (time.time(), value)
    path = live_path()
    if path is None:
        return
    with _lock:
        state = _read_raw(path)
        if value is None:
            state.pop(section, None)
        else:
            state[section] = value
        state["updated"] = time.time()
        write_text_atomically(path, json.dumps(state))


def replays_since(since: float) -> list[dict[str, Any]]:
    """The replay states this process published at or after ``since`` (Unix time), latest first."""
    found = [(t, value) for t, value in _recent_replays.values() if t >= since]
    return [value for _, value in sorted(found, key=lambda pair: pair[0], reverse=True)]


def read_live(run_dir: Path | str) -> LiveState | None:
    """The run's live state, or None (not written yet, or unreadable this instant)."""
    raw = _read_raw(Path(run_dir) / LIVE_FILE)
    if not raw:
        return None
    try:
        return LiveState.model_validate(raw)
    except ValueError:
        return None


def _read_raw(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

