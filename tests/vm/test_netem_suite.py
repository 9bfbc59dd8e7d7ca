"""The netem backend against a REAL kernel netem: the whole netem conformance suite, in one VM.

The host's kernel may lack sch_netem (this machine's does), so `pytest tests/link -m netem` runs
inside one qemu guest (bench/vm) with the host's venv; pytest writes a JUnit XML report into the
writable share and this test judges it on the host. It fails if any netem test failed, if none
ran (all skipped: e.g. netem missing in the guest), or if the guest run itself failed.
Under CI=true a host that cannot run the VM is a failure, not a skip (require_vm).
Takes about 75-90 s here (one boot, ~25 netem tests under TCG).
"""

from __future__ import annotations

import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.vm import VmResult, run_in_vm
from tests.hostsnap import HostSnapshot, host_snapshot
from tests.vm.test_vm_runner import REPO, require_vm

pytestmark = pytest.mark.vm

# Skips that are part of the suite's design, not a sign that netem could not be tested.
EXPECTED_SKIPS = ("only the userspace backend runs processes",)
# Conformance cases that must have run against netem for the verdict to mean anything.
MUST_PASS = (
    "test_delay_per_direction[netem]", "test_jitter[netem-False]", "test_jitter[netem-True]",
    "test_random_loss_rate[netem]", "test_gilbert_elliott_bursts[netem]", "test_udp_rate[netem]",
    "test_tcp_rate[netem]", "test_outage_drops_everything_and_counts_it[netem]",
    "test_update_in_place_with_traffic_flowing[netem]", "test_counters[netem]",
    "test_update_at_100hz_with_traffic_then_nothing_left[netem]",
)


@dataclass
class SuiteReport:
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # test -> message
    skipped: dict[str, str] = field(default_factory=dict)  # test -> reason


def read_junit(path: Path) -> SuiteReport:
    report = SuiteReport()
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            report.failed[name] = (problem.get("message") or "")[:300]
        elif skipped is not None:
            report.skipped[name] = skipped.get("message") or ""
        else:
            report.passed.append(name)
    return report


@dataclass(frozen=True)
class SuiteRun:
    result: VmResult
    report: SuiteReport | None
    host_before: HostSnapshot
    host_after: HostSnapshot

    def explain(self) -> str:
        return f"guest exit {self.result.exit_code}; pytest output (tail):\n{self.result.output[-6000:]}"


@pytest.fixture(scope="module")
def suite_run() -> Iterator[SuiteRun]:
    require_vm()
    with tempfile.TemporaryDirectory(prefix="skybench-vm-netem-") as share_dir:
        share = Path(share_dir)
        junit = share / "netem-suite.xml"
        argv = [
            sys.executable, "-m", "pytest", "tests/link", "-m", "netem", "-q", "-rs",
            "-p", "no:cacheprovider", f"--junitxml={junit}", "--results-dir", str(share / "results"),
        ]
        before = host_snapshot()
        result = run_in_vm(argv, cwd=REPO, share_dir=share, timeout_s=900)
        after = host_snapshot()
        report = read_junit(junit) if junit.exists() else None
        print(f"\nnetem suite in the VM: exit {result.exit_code}, {result.duration_s:.0f} s "
              f"(boot {result.boot_s or 0:.1f} s), kernel {result.kernel_version}")
        yield SuiteRun(result, report, before, after)


def test_every_netem_test_passes_against_a_real_kernel_netem(suite_run: SuiteRun) -> None:
    report = suite_run.report
    assert report is not None, "pytest wrote no report in the guest\n" + suite_run.explain()
    assert not report.failed, f"netem tests failed in the VM: {report.failed}\n" + suite_run.explain()
    assert suite_run.result.exit_code == 0, suite_run.explain()
    print(f"passed {len(report.passed)}, skipped {len(report.skipped)}")


def test_the_netem_tests_really_ran(suite_run: SuiteRun) -> None:
    report = suite_run.report
    assert report is not None, suite_run.explain()
    assert report.passed, f"every netem test was skipped: {report.skipped}"
    unexpected = {name: why for name, why in report.skipped.items() if not any(s in why for s in EXPECTED_SKIPS)}
    assert not unexpected, f"netem tests skipped in the VM (netem missing there?): {unexpected}"
    passed_names = {name.rsplit("::", 1)[-1] for name in report.passed}
    missing = [name for name in MUST_PASS if name not in passed_names]
    assert not missing, f"conformance cases that did not pass against netem: {missing}"


def test_the_suite_leaves_the_host_network_alone(suite_run: SuiteRun) -> None:
    diff = suite_run.host_before.diff(suite_run.host_after)
    assert {k: v for k, v in diff.items() if k != "namespaces"} == {}
