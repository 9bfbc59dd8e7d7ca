"""The nightly through a `kind: hardware` lab file against the reference router as a black box
(scripts/black-box-router): a cut of the nightly that measures every requirement of the catalogue
at least once, in a pytest of its own, exactly as `skybench run nightly --lab FILE` would. The
bench reaches the router only through the cables the lab file names and its management face over
its ops LAN; its supply is the one the stand-in serves on a loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bench.devices.reference.standin import BlackBoxHost
from bench.lab.labfile import load_lab
from bench.measure.catalogue import default_catalogue
from bench.measure.store import load_measurements
from tests.conftest import REPO

pytestmark = pytest.mark.lab

# Judged here for being measured, not for their verdict: on a shared 2-core host one lost packet
# or a scheduling stall in the 6 s window moves goodput by more than THR's 5-point margin (the
# same nightly on this machine: 59-100 % on the embedded lab and the black box alike; figures in
# docs/devices.md). Their verdicts are the nightly's and the benchmarks'.
HOST_BOUND = {"THR-1", "THR-2"}

# One test per requirement group; together they measure all of the catalogue.
CUT = " or ".join([
    "test_goodput_through_each_wan and oneweb",  # THR-1, THR-2
    "test_active_satellite_outage_and_return",  # FO-1, FO-2
    "test_dead_zone_then_service_restored",  # FO-3
    "test_ops_traffic_under_passenger_saturation",  # OPS-1, OPS-2, OPS-3
    "test_boarding_storm_portal_logins",  # POR-1
    "test_free_tier_cap_accuracy", "test_bundle_is_cut_at_its_size", "test_unpaid_passenger_cannot_bypass_the_portal",  # POR-2..4
    "test_s2_interruptions", "test_supply_loss",  # PWR-1, PWR-2
])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def black_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The black-box router up, and its lab file (docs/examples/black-box-lab.yaml with cables
    and instrument ports of this test's own)."""
    os.environ.setdefault("SKYBENCH_ROUTER_PASSWORD", "black-box-test")
    data = yaml.safe_load((REPO / "docs" / "examples" / "black-box-lab.yaml").read_text())
    data["dut"]["lan_interface"], data["dut"]["ops_interface"] = "sbn-lan", "sbn-ops"
    for wan in data["wans"]:
        wan["dut_interface"] = f"sbn-{wan['name']}"
    for instrument in data["instruments"]:
        instrument["resource"] = f"TCPIP0::127.0.0.1::{_free_port()}::SOCKET"
    path = tmp_path_factory.mktemp("black-box") / "black-box.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    box = BlackBoxHost(load_lab(path)).up()
    try:
        yield path
    finally:
        box.down()


def test_a_nightly_cut_measures_every_requirement_on_the_black_box(black_box: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "pytest", "scenarios/nightly", "-m", "nightly", "-k", CUT, "--lab", str(black_box),
            "--results-dir", str(results), "-p", "no:cacheprovider", "-q", "-rfEx", "-s"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1500)
    out = proc.stdout + proc.stderr
    print(out[-6000:])
    rows = load_measurements(results)
    measured = set(rows["requirement"])
    catalogue = set(default_catalogue().requirements)
    assert measured == catalogue, f"not measured on the black box: {sorted(catalogue - measured)}"
    failed = rows[(rows["verdict"] == "fail") & ~rows["requirement"].isin(HOST_BOUND)]
    assert failed.empty, "requirements failed on the black box:\n" + "\n".join(failed["message"])
    outcomes = [json.loads(line) for line in (results / "outcomes.jsonl").read_text().splitlines()]
    broken = [o for o in outcomes if o["outcome"] == "failed" and "test_goodput_through_each_wan" not in o["test"]]
    assert not broken, f"tests failed on the black box: {[(o['test'], o['message'][:300]) for o in broken]}"
    for row in rows[rows["requirement"].isin(HOST_BOUND)].itertuples():
        print(f"{row.requirement} on the black box: {row.value:.2f} % ({row.verdict})")
    dut = {json.loads(c).get("dut_disagrees") for c in rows[rows["requirement"] == "FO-1"]["context"]}
    assert dut == {None}, f"the black box's log disagreed with the wire: {dut}"
