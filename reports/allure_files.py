"""The run-wide files of an Allure results directory: environment, categories, executor.

- ``environment.properties``: bench version, lab, DUT, firmware, link backend per WAN, the
  requirement catalogue, and every trace the run measured on, by hash (``trace.<name>``).
- ``categories.json``: product failures (a requirement's verdict failed: the failure message is
  the measurement's, ``FO-1 failover detection time: ...``) apart from bench problems (errors in
  setup or fixtures, BenchError and its kind, lab errors). Allure puts a result in the first
  category that matches, so product failures come first.
- ``executor.json``: which bench host built the results, and the run id (the report's title).
"""

from __future__ import annotations

import json
import platform
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench import __version__

# A measurement's failure message starts with its requirement id (or "N measurements failed: ");
# pytest.fail adds "Failed: ". [\s\S] not (?s): the patterns are read by Java (Allure 2) and
# JavaScript (Allure 3) alike, and both must match the whole multi-line message.
REQUIREMENT_FAILURE_REGEX = r"(Failed: )?(\d+ measurements failed: )?[A-Z][A-Z0-9]{0,9}-[0-9]{1,3} [\s\S]*"
BENCH_ERROR_REGEX = r"[\s\S]*\b(BenchError|LabFileError|HostError|CatalogueError|UnsupportedByDriver|TraceError)\b[\s\S]*"

CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Product failures: a requirement failed",
        "description": "The DUT was measured and a requirement's verdict is fail. The message names the requirement, by how much and where in the trace.",
        "matchedStatuses": ["failed"],
        "messageRegex": REQUIREMENT_FAILURE_REGEX,
    },
    {
        "name": "Bench problems: lab or bench error",
        "description": "The bench could not do what the test asked (BenchError, HostError, lab file): no verdict about the DUT.",
        "matchedStatuses": ["failed", "broken"],
        "traceRegex": BENCH_ERROR_REGEX,
    },
    {
        "name": "Bench problems: lab or bench error",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": BENCH_ERROR_REGEX,
    },
    {
        "name": "Bench problems: error in setup or fixtures",
        "description": "The test body never ran to a verdict: an exception in a fixture, in setup or an unexpected error.",
        "matchedStatuses": ["broken"],
    },
    {
        "name": "Test failures without a requirement verdict",
        "description": "An assertion of the test failed; it is not a catalogue measurement.",
        "matchedStatuses": ["failed"],
    },
]


def environment_properties(
    *,
    lab: Any | None,
    run_id: str,
    firmware: str = "",
    catalogue_version: str = "",
    traces: Mapping[str, str] | None = None,
    link_backends: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The key/value pairs of ``environment.properties`` (lab: a LabConfig, or None)."""
    props: dict[str, str] = {"bench.version": __version__, "run.id": run_id, "bench.host": socket.gethostname(),
                             "bench.kernel": platform.release()}
    if lab is not None:
        props["lab.name"] = lab.name
        props["lab.kind"] = lab.kind
        props["lab.file"] = str(lab.source or "built-in embedded lab")
        props["dut.name"] = lab.dut.name
        props["dut.driver"] = lab.dut.driver
        for wan in sorted(lab.wans, key=lambda w: w.priority):
            # the backend actually opened (netem / userspace) when known, else the lab file's choice
            backend = (link_backends or {}).get(wan.name) or wan.link.backend
            props[f"wan.{wan.name}.link"] = f"{wan.provider} {wan.kind}, priority {wan.priority}, backend {backend}"
    if firmware:
        props["dut.firmware"] = firmware
    if catalogue_version:
        props["requirements.catalogue"] = catalogue_version
    for name, digest in sorted((traces or {}).items()):
        props[f"trace.{name}"] = digest or "(no hash recorded)"
    return props


def write_environment(alluredir: Path, props: Mapping[str, str]) -> Path:
    path = alluredir / "environment.properties"
    alluredir.mkdir(parents=True, exist_ok=True)
    lines = [f"{_escape(k)}={_escape(v)}" for k, v in props.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_categories(alluredir: Path) -> Path:
    path = alluredir / "categories.json"
    alluredir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(CATEGORIES, indent=2) + "\n")
    return path


def write_executor(alluredir: Path, *, run_id: str, run_dir: Path | None, build_order: int | None = None) -> Path:
    path = alluredir / "executor.json"
    executor: dict[str, Any] = {"name": f"skybench on {socket.gethostname()}", "type": "skybench", "buildName": run_id}
    if build_order is not None:
        executor["buildOrder"] = build_order
    if run_dir is not None:
        executor["reportName"] = f"skybench {run_dir.name}"
    alluredir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(executor, indent=2) + "\n")
    return path


def traces_by_hash(measurements: Iterable[Any]) -> dict[str, str]:
    """{trace name: hash} of every measurement that names a trace."""
    out: dict[str, str] = {}
    for m in measurements:
        if m.trace:
            out[m.trace] = m.trace_hash or out.get(m.trace, "")
    return out


def _escape(text: str) -> str:
    # .properties: backslash, and the separators '=' ':' in keys; newlines never.
    return str(text).replace("\\", "\\\\").replace("\n", " ").replace("\r", " ")
