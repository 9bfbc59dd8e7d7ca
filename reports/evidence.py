"""Evidence attached to a failed test: the applied-steps log excerpt, the DUT's logs for the test's
window, the measured-window plot and the packet capture.

Each function returns what it attached (or None when there was nothing to attach), so the
plugin can say in the report what it could not collect and why, instead of failing the test a
second time: evidence is a help for reading a failure, never a new failure.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import allure

from bench.errors import BenchError
from bench.measure.measurement import Measurement

log = logging.getLogger("skybench.reports")


def steps_excerpt(steps_file: Path, since: float, until: float) -> str:
    """The steps that started in [since, until] (Unix times), one readable line each."""
    if not steps_file.exists():
        return ""
    lines = []
    for raw in steps_file.read_text(errors="replace").splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # a line torn by a kill
        start = record.get("start", 0.0)
        if not since <= start <= until:
            continue
        clock = datetime.fromtimestamp(start, timezone.utc).strftime("%H:%M:%S.%f")[:-3]
        args = " ".join(f"{k}={v}" for k, v in (record.get("args") or {}).items())
        outcome = record.get("outcome", "?")
        result = f" -> {record['result']}" if "result" in record else ""
        error = f" ERROR {record['error']}" if record.get("error") else ""
        lines.append(f"{clock}Z {'  ' * int(record.get('depth', 0))}{record.get('step', '?')} {args}{result}"
                     f"  [{outcome}, {record.get('duration_s', 0):.3f} s]{error}")
    return "\n".join(lines)


def attach_steps(steps_file: Path | None, since: float, until: float) -> str | None:
    if steps_file is None:
        return None
    text = steps_excerpt(steps_file, since, until)
    if not text:
        return None
    allure.attach(text, name="applied steps (this test's window)", attachment_type=allure.attachment_type.TEXT)
    return text


def dut_log_lines(lab: Any, lab_config: Any, since: float) -> list[str]:
    """The DUT's log entries since ``since`` (Unix time), as text lines, through its management
    face; [] when it has none."""
    from bench.devices.drivers.factory import router_driver

    router = router_driver(lab_config, embedded=lab)
    try:
        entries = router.logs_since(datetime.fromtimestamp(since, timezone.utc))
    finally:
        router.close()
    return [f"{e.time.isoformat()} {e.severity or ''} {e.source or ''}: {e.message}" for e in entries]


def attach_dut_logs(lab: Any, lab_config: Any, since: float) -> str | None:
    try:
        lines = dut_log_lines(lab, lab_config, since)
    except (BenchError, OSError, TimeoutError) as exc:
        reason = exc.message if isinstance(exc, BenchError) else str(exc)
        allure.attach(f"DUT logs not collected: {reason}", name="DUT logs (unavailable)", attachment_type=allure.attachment_type.TEXT)
        return None
    text = "\n".join(lines) or "(the DUT logged nothing in this test's window)"
    allure.attach(text, name="DUT logs (this test's window)", attachment_type=allure.attachment_type.TEXT)
    return text


def attach_plot(measurements: Sequence[Measurement], replay: dict[str, Any] | None) -> Path | None:
    """The measured-window plot, when a replay ran (its trace file is known) and a measurement
    is located in it."""
    trace_path = (replay or {}).get("trace_path") or next(
        (m.context.get("trace_path") for m in measurements if m.context.get("trace_path")), None)
    if not trace_path or not any(m.trace_time_s is not None for m in measurements):
        return None
    from bench.traces.tracefile import read_trace
    from reports.plots import plot_measured_window

    try:
        trace = read_trace(trace_path)
    except (BenchError, OSError) as exc:
        allure.attach(f"trace {trace_path} not readable: {getattr(exc, 'message', exc)}", name="plot (unavailable)",
                      attachment_type=allure.attachment_type.TEXT)
        return None
    window = (replay or {}).get("window_s")
    with tempfile.TemporaryDirectory(prefix="skybench-plot-") as tmp:
        png = plot_measured_window(trace, measurements, Path(tmp) / "window.png",
                                   window_s=tuple(window) if window else None)  # type: ignore[arg-type]
        allure.attach.file(str(png), name="links around the measurement (failure marked)", attachment_type=allure.attachment_type.PNG)
    return png


def attach_pcaps(rings: Sequence[tuple[str, Sequence[Path], dict[int, str]]]) -> int:
    """Each ring's files, named by the namespace they were captured in (the bench's side of one
    of the DUT's cables), with that namespace's interface names by index."""
    count = 0
    for role, files, interfaces in rings:
        if not files:
            continue
        allure.attach("\n".join(f"{index}\t{name}" for index, name in sorted(interfaces.items())),
                      name=f"packet capture {role}: interface index -> name (SLL2 if_index)",
                      attachment_type=allure.attachment_type.TEXT)
        for i, path in enumerate(files, 1):
            allure.attach.file(str(path), name=f"packet capture {role} ({i}/{len(files)}, oldest first)",
                               attachment_type=allure.attachment_type.PCAP)
            count += 1
    return count
