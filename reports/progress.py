"""What `skybench run` shows while a suite runs: one live status line under pytest's output.

It reads the run's ``live.json`` (reports/live.py) at each refresh: the suite's progress (tests
done / total, failures, the current test), the trace clock of a replay (trace time, km, speed) and
the passengers' figures, whichever are running. Nothing here talks to pytest: the file is the
interface, so the line also works for a run started by someone else (``skybench run`` only).

Without a terminal (CI, a pipe, a log file) a live region cannot be redrawn, so the run is told in
plain lines instead: one per test as it finishes (outcome, duration, the requirement verdicts it
recorded; read from ``outcomes.jsonl`` and ``steps.jsonl`` as they grow) and a progress line
whenever nothing was printed for ``PLAIN_EVERY_S`` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from bench.measure.measurement import clock_text
from bench.outcomes import OUTCOMES_FILE
from bench.steps import STEPS_FILE
from reports.live import LiveState, read_live

PLAIN_EVERY_S = 30.0


def status_renderable(state: LiveState | None, *, started: float, now: float | None = None) -> RenderableType:
    """The status line(s) for a live state (None: the run has not reported yet)."""
    elapsed = clock_text((now or time.time()) - started)
    if state is None or state.progress is None:
        return Text(f"starting pytest ... {elapsed}", style="dim")
    p = state.progress
    grid = Table.grid(padding=(0, 1))
    counts = f"{p.done}/{p.total} tests" + (f", {p.failed} failed" if p.failed else "") + f"  {elapsed}"
    grid.add_column(no_wrap=True, min_width=len(counts))  # never squeezed: the current test's name gives way
    grid.add_column(width=20)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    failed = f", [bold red]{p.failed} failed[/]" if p.failed else ""
    current = p.current.split("::", 1)[-1] if p.current else ""
    grid.add_row(Text.from_markup(f"[bold]{p.done}/{p.total}[/] tests{failed}  {elapsed}"),
                 ProgressBar(total=max(p.total, 1), completed=p.done, width=20), Text(current, style="cyan"))
    lines: list[RenderableType] = [grid]
    if state.replay is not None:
        r = state.replay
        parts = [f"trace {r.trace} {clock_text(r.clock_s)}"]
        if r.km is not None:
            parts.append(f"km {r.km:.1f}")
        if r.speed:
            parts.append(f"{r.speed:g}x")
        if r.window_s:
            parts.append(f"window {clock_text(r.window_s[0])}-{clock_text(r.window_s[1])}")
        lines.append(Text("  replay: " + ", ".join(parts), style="magenta"))
    if state.passengers is not None:
        q = state.passengers
        parts = [f"{q.users} passengers"]
        if q.rps is not None:
            parts.append(f"{q.rps:.0f} req/s")
        parts.append(f"{q.failures} failures")
        parts += [f"{name} p95 {ms:.0f} ms" for name, ms in sorted(q.p95_ms.items())]
        lines.append(Text("  load: " + ", ".join(parts), style="blue"))
    return Group(*lines)


class LiveStatus:
    """The run's status while it runs; print pytest's lines through ``print``. At a terminal, a rich
    Live region; otherwise plain lines (``PlainProgress``)."""

    def __init__(self, run_dir: Path, console: Console, *, refresh_per_second: float = 2.0) -> None:
        self.run_dir = run_dir
        self.console = console
        self.started = time.time()
        self._live: Live | None = None
        self._plain: PlainProgress | None = None
        if console.is_terminal:
            self._live = Live(get_renderable=self._render, console=console, refresh_per_second=refresh_per_second,
                              transient=True, redirect_stdout=False, redirect_stderr=False)
        else:
            self._plain = PlainProgress(run_dir, console, started=self.started)

    def _render(self) -> RenderableType:
        return status_renderable(read_live(self.run_dir), started=self.started)

    def print(self, line: str) -> None:
        if self._plain is not None:
            self._plain.print(line)
        else:
            self.console.print(line, markup=False, highlight=False)

    def __enter__(self) -> LiveStatus:
        if self._live is not None:
            self._live.start()
        if self._plain is not None:
            self._plain.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
        if self._plain is not None:
            self._plain.stop()


class PlainProgress:
    """Plain lines for a log: each finished test, and a progress line after `every_s` of silence."""

    def __init__(self, run_dir: Path, console: Console, *, started: float, every_s: float = PLAIN_EVERY_S,
                 poll_s: float = 1.0) -> None:
        self.run_dir = run_dir
        self.console = console
        self.started = started
        self.every_s = every_s
        self.poll_s = poll_s
        self._offsets = {OUTCOMES_FILE: 0, STEPS_FILE: 0}
        self._measured: list[dict[str, Any]] = []  # measure steps: start time, requirement, verdict
        self._last_line = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="plain-progress", daemon=True)

    def print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False)
        self._last_line = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._report_finished()  # what finished since the last poll

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._report_finished()
            if time.monotonic() - self._last_line >= self.every_s:
                self.print(self._progress_line())

    def _new_records(self, name: str) -> list[dict[str, Any]]:
        """Whole lines appended to the run's `name` since the last read."""
        path = self.run_dir / name
        try:
            with open(path, "rb") as f:
                f.seek(self._offsets[name])
                data = f.read()
        except OSError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self._offsets[name] += len(complete)
        records = []
        for line in complete.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def _report_finished(self) -> None:
        for step in self._new_records(STEPS_FILE):
            if str(step.get("step", "")).startswith("measure ") and step.get("result"):
                self._measured.append({"start": step.get("start", 0.0), "requirement": step["step"][8:], "verdict": step["result"]})
        for record in self._new_records(OUTCOMES_FILE):
            self.print(plain_outcome_line(record, self._measured))

    def _progress_line(self) -> str:
        elapsed = clock_text(time.time() - self.started)
        state = read_live(self.run_dir)
        if state is None or state.progress is None:
            return f"... {elapsed}: starting"
        p = state.progress
        parts = [f"... {elapsed}: {p.done}/{p.total} tests" + (f", {p.failed} failed" if p.failed else "")]
        if p.current:
            parts.append(f"running {p.current.split('::', 1)[-1]}")
        if state.replay is not None:
            parts.append(f"trace {state.replay.trace} {clock_text(state.replay.clock_s)}"
                         + (f" km {state.replay.km:.1f}" if state.replay.km is not None else ""))
        if state.passengers is not None:
            parts.append(f"{state.passengers.users} passengers, {state.passengers.failures} failures")
        return "; ".join(parts)


def plain_outcome_line(record: dict[str, Any], measured: list[dict[str, Any]]) -> str:
    """'PASSED    12.3 s  nightly/test_x.py::test_y  FO-1 pass, FO-2 marginal' (+ the message when not passed)."""
    outcome = str(record.get("outcome", "")).upper()
    if record.get("when") not in (None, "call") and outcome != "PASSED":
        outcome = f"{outcome} ({record['when']})"
    end = float(record.get("time", 0.0))
    begin = end - float(record.get("duration_s", 0.0)) - 0.5
    verdicts = [f"{m['requirement']} {m['verdict']}" for m in measured if begin <= m["start"] <= end]
    test = str(record.get("test", "")).removeprefix("scenarios/")
    line = f"{outcome:<9} {float(record.get('duration_s', 0.0)):7.1f} s  {test}"
    if verdicts:
        line += "  " + ", ".join(verdicts)
    if record.get("outcome") != "passed" and record.get("message"):
        line += "  -- " + str(record["message"]).splitlines()[0][:200]
    return line
