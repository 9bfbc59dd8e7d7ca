"""A deliberately misconfigured reference router makes the right nightly requirements fail, with
a message that names the requirement and says by how much.

Each case writes a whole router configuration (router.yaml with one change) and runs selected
nightly tests against it in a pytest of their own (`--router-config FILE`, fixtures/dut.py),
on a lab of their own, exactly as `skybench run nightly -- --router-config FILE` would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.devices.reference.config import load_router_config
from bench.measure.store import load_measurements

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


def _run_nightly(tmp_path: Path, changes: dict, selection: str, timeout_s: float) -> tuple[int, str]:
    config = load_router_config().override(changes)
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    argv = [sys.executable, "-m", "pytest", "scenarios/nightly", "-m", "nightly", "-k", selection, "--router-config", str(path),
            "--results-dir", str(tmp_path / "results"), "-p", "no:cacheprovider", "-q", "-rfEx"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    return proc.returncode, proc.stdout + proc.stderr


def test_too_slow_failover_thresholds_fail_fo1(tmp_path: Path) -> None:
    # 8 misses of 1 s probes: the router declares a WAN down after up to 8.8 s (FO-1: <= 5 s).
    rc, out = _run_nightly(tmp_path, {"health": {"down_after": 8}}, "active_satellite_outage", 300)
    print(out[-3000:])
    assert rc == 1, f"pytest exited {rc}, expected 1 (tests failed)"
    line = re.search(r"FO-1 failover detection time: ([\d.]+) s > limit 5 s \(\+([\d.]+) s, \+\d+ %\)", out)
    assert line, "no FO-1 detection failure naming the requirement, the limit and by how much"
    detected, over = float(line.group(1)), float(line.group(2))
    assert 7.0 - 1.0 <= detected <= 8.8 + 3.0  # (down_after - 1) x interval at least, the configured worst case plus slack
    assert abs(detected - 5 - over) < 0.01
    assert "FAILED scenarios/nightly/test_failover.py::test_active_satellite_outage_and_return" in out


def test_disabled_quota_fails_por3(tmp_path: Path) -> None:
    rc, out = _run_nightly(tmp_path, {"portal": {"quota_enforced": False}}, "bundle_is_cut", 300)
    print(out[-3000:])
    assert rc == 1, f"pytest exited {rc}, expected 1 (tests failed)"
    line = re.search(r"POR-3 volume at the cut vs bundle size: \+?([\d.]+) % .*limit", out)
    assert line, "no POR-3 failure naming the requirement and the limit"
    assert float(line.group(1)) >= 25.0  # never cut: the download ran 30 % past the bundle
    assert "FAILED scenarios/nightly/test_portal.py::test_bundle_is_cut_at_its_size" in out


@pytest.mark.parametrize(("flaw", "said"), [
    ({"wan_down_delay_s": 8.0}, r"the DUT logged oneweb down ([\d.]+) s after the cut, ([\d.]+) s after passengers' traffic"),
    ({"wan_down_logged": False}, r"the DUT never logged oneweb down, while passengers' traffic left it after ([\d.]+) s"),
])
def test_a_router_whose_log_is_late_or_silent_is_judged_by_the_wire(tmp_path: Path, flaw: dict, said: str) -> None:
    # The router fails over as fast as ever; only its log entry comes 8 s late, or never. FO-1
    # passes on what the passenger saw, and the disagreement with the log is recorded beside it.
    rc, out = _run_nightly(tmp_path, {"logging": flaw}, "active_satellite_outage", 300)
    print(out[-3000:])
    assert rc == 0, f"pytest exited {rc}: FO-1 must pass on the wire whatever the log says"
    rows = load_measurements(tmp_path / "results")
    fo1 = rows[(rows["requirement"] == "FO-1") & (rows["quantity"] == "detection")].iloc[0]
    assert fo1["verdict"] == "pass" and fo1["value"] < 5.0
    context = json.loads(fo1["context"])
    found = re.search(said, context["dut_disagrees"] or "")
    assert found, context
    if "delay" in next(iter(flaw)):
        logged, late_by = float(found.group(1)), float(found.group(2))
        assert logged >= 8.0 + fo1["value"] - 0.5 and abs(logged - fo1["value"] - late_by) < 0.01
        assert context["dut_logged_down_after_s"] == pytest.approx(logged, abs=0.01)
    else:
        assert context["dut_logged_down_after_s"] is None
