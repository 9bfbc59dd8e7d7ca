"""skybench certify: a signed record on the embedded lab that verifies; tampering with the record
or one attachment, or another public key, fails verification naming what is wrong; a malformed
equipment profile is one located error; the suite registry points at real modules."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.certification.equipment import EquipmentProblems, load_equipment
from bench.certification.plan import PlanError, default_plan_path, load_plan, plan_node_ids
from bench.measure.catalogue import default_catalogue
from bench.certification.model import load_record
from scenarios import SUITES
from tests.conftest import skybench

PLAN = default_plan_path()
EQUIPMENT = """\
vendor: skybench
model: reference router
serial: REF-0001
firmware: 0.1.0
wans:
  - {name: oneweb, kind: satellite, terminal: emulated OneWeb terminal}
  - {name: starlink, kind: satellite, terminal: emulated Starlink terminal}
  - {name: lte, kind: cellular, terminal: emulated LTE modem}
"""


def test_suite_entries_point_at_real_modules() -> None:
    for name in ("certification", "repro"):
        suite = SUITES[name]
        assert suite.path.is_dir()
        for area in suite.areas:
            assert area.present(suite.path), f"{name}: {area.module} is missing"


def test_malformed_equipment_profile_is_one_located_error(tmp_path: Path) -> None:
    path = tmp_path / "vendor.yaml"
    path.write_text(EQUIPMENT.replace("kind: cellular", "kind: celular"))
    with pytest.raises(EquipmentProblems) as caught:
        load_equipment(path)
    assert len(caught.value.problems) == 1
    assert f"{path}:8" in caught.value.message and "wans[2].kind" in caught.value.message and "did you mean 'cellular'" in caught.value.message
    proc = skybench("certify", "--equipment", str(path), "--key", str(tmp_path / "nokey"))
    assert proc.returncode == 2 and f"{path}:8" in proc.stderr and "Traceback" not in proc.stderr


def test_default_plan_covers_every_certification_requirement_with_an_existing_test() -> None:
    plan = load_plan()
    catalogue = default_catalogue()
    wanted = {k for k, r in catalogue.requirements.items() if "certification" in r.suites}
    assert {r.id for r in plan.requirements} == wanted
    ids = plan_node_ids(plan)
    assert ids[0].endswith("scenarios/certification") and any("nightly/test_portal.py::" in i for i in ids)
    assert len(ids) == len(set(ids))  # OPS-1..3 share one test: it runs once


def test_a_plan_naming_a_missing_test_is_refused(tmp_path: Path) -> None:
    text = PLAN.read_text().replace("nightly/test_portal.py::test_free_tier_cap_accuracy", "nightly/test_portal.py::test_no_such_test")
    shutil.copytree(PLAN.parent / "traces", tmp_path / "traces")
    (tmp_path / "plan.yaml").write_text(text)
    with pytest.raises(PlanError, match=r"POR-2: test nightly/test_portal.py::test_no_such_test does not exist"):
        load_plan(tmp_path / "plan.yaml")


def _small_plan(work: Path) -> Path:
    """The default plan cut to FO-1 (a trace window of the certification suite) and POR-2 (a
    nightly test by node id): the full plan takes about 10 minutes a repeat, too long for here."""
    text = PLAN.read_text()
    head, _, _ = text.partition("\nrequirements:")
    shutil.copytree(PLAN.parent / "traces", work / "traces")
    path = work / "plan.yaml"
    path.write_text(head + "\nrequirements:\n  - {id: FO-1, test: test_failover_at_trace_outage, trace: astana-almaty-km263}\n"
                    '  - {id: POR-2, test: "nightly/test_portal.py::test_free_tier_cap_accuracy"}\n')
    return path


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str]]:
    work = tmp_path_factory.mktemp("certify")
    (work / "vendor.yaml").write_text(EQUIPMENT)
    skybench("certify", "keygen", str(work / "key"), check=True)
    proc = skybench("certify", "--equipment", str(work / "vendor.yaml"), "--key", str(work / "key"), "--repeat", "2",
                    "--plan", str(_small_plan(work)), "--results", str(work / "results"), timeout=600)
    records = list((work / "results").glob("cert-*"))
    assert len(records) == 1, proc.stdout + proc.stderr
    yield records[0], work / "key.pub", proc.stdout


@pytest.mark.lab
def test_certify_writes_a_signed_record_that_verifies(certified: tuple[Path, Path, str]) -> None:
    record_dir, pub, output = certified
    record = load_record(record_dir / "record.json")
    assert [r.id for r in record.requirements] == ["FO-1", "POR-2"]
    assert record.equipment.serial == "REF-0001" and record.bench.lab == "embedded" and record.bench.lab_file_sha256
    assert {t.sha256 for t in record.traces} == {m.trace_hash for r in record.requirements for m in r.measurements} - {None}
    fo1 = next(r for r in record.requirements if r.id == "FO-1")
    assert len(fo1.repeats.get("switch", [])) == 2, fo1  # --repeat 2: both values kept, their variance in the note
    assert "variance" in (fo1.note or "")
    por2 = next(r for r in record.requirements if r.id == "POR-2")  # the nightly test ran twice too
    assert por2.verdict == "pass" and sorted(m.context.get("repeat") for m in por2.measurements) == [1, 2], por2
    variance = json.loads((record_dir / "attachments" / "variance.json").read_text())
    assert variance["FO-1"]["switch"]["n"] == 2 and variance["POR-2"]["cap_error"]["n"] == 2
    assert all(m.firmware == "0.1.0" for r in record.requirements for m in r.measurements)
    assert {a.path for a in record.attachments} >= {"attachments/equipment.yaml", "attachments/lab.yaml", "attachments/run/outcomes.jsonl"}
    assert all([t.outcome for t in r.tests] == ["passed", "passed"] for r in record.requirements), [r.tests for r in record.requirements]
    ok = skybench("certify", "verify", str(record_dir), "--pubkey", str(pub))
    assert ok.returncode == 0 and "valid" in ok.stdout, ok.stdout + ok.stderr
    assert f"the record's verdict: {record.overall_verdict()}" in ok.stdout
    print(output[-3000:])


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.lab
@pytest.mark.parametrize("victim", ["record.json", "attachments/run/outcomes.jsonl", "attachments/traces/astana-almaty-s7-km263.parquet"])
def test_a_changed_byte_fails_verification_naming_the_file(certified: tuple[Path, Path, str], tmp_path: Path, victim: str) -> None:
    record_dir, pub, _ = certified
    copy = tmp_path / "record"
    shutil.copytree(record_dir, copy)
    _flip_one_byte(copy / victim)
    proc = skybench("certify", "verify", str(copy), "--pubkey", str(pub))
    assert proc.returncode == 1
    assert "INVALID" in proc.stdout and f"{victim}: changed after signing" in proc.stdout, proc.stdout


@pytest.mark.lab
def test_a_wrong_public_key_fails(certified: tuple[Path, Path, str], tmp_path: Path) -> None:
    record_dir, _, _ = certified
    skybench("certify", "keygen", str(tmp_path / "other"), check=True)
    proc = skybench("certify", "verify", str(record_dir), "--pubkey", str(tmp_path / "other.pub"))
    assert proc.returncode == 1 and "not with the given public key" in proc.stdout, proc.stdout
