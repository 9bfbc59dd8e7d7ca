"""Building the certification record (bench.certification.model) from one run of the suite: a
verdict per plan requirement from its measurements AND from what became of its tests (each
repeat: passed, failed, error, skipped, not run), the values of each repeat and their variance,
the traces by hash, the bench, the lab file and the equipment; plus the list of attachments with
their sha256 (the signed manifest covers the same files)."""

from __future__ import annotations

import json
import socket
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.certification.equipment import EquipmentProfile
from bench.certification.model import (Attachment, BenchInfo, CertificationRecord, Equipment, PlanTestOutcome, RequirementResult,
                                       SignatureStatus, TraceRef)
from bench.certification.plan import CertificationPlan
from bench.certification.signing import RECORD, sha256_of
from bench.lab.model import LabConfig
from bench.measure.measurement import Measurement
from bench.measure.store import load_measurements
from bench.measure.verdict import worst
from bench.outcomes import outcomes_of

ATTACHMENTS = "attachments"
VARIANCE_FILE = "variance.json"
MEDIA_TYPES = {".json": "application/json", ".jsonl": "application/x-ndjson", ".yaml": "application/yaml",
               ".xml": "application/xml", ".log": "text/plain", ".txt": "text/plain", ".png": "image/png",
               ".parquet": "application/vnd.apache.parquet"}


def measurements_of(run_dir: Path) -> list[Measurement]:
    frame = load_measurements(run_dir)
    out = []
    for row in frame.to_dict("records"):
        row = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}  # NaN -> None
        row["context"] = json.loads(row.get("context") or "{}")
        out.append(Measurement.model_validate(row))
    return out


def spread(values: list[float]) -> dict[str, float | int]:
    """n, mean, variance and standard deviation (sample; 0 for a single value), min, max."""
    n = len(values)
    return {"n": n, "mean": statistics.fmean(values), "variance": statistics.variance(values) if n > 1 else 0.0,
            "sd": statistics.stdev(values) if n > 1 else 0.0, "min": min(values), "max": max(values)}


def plan_test_outcomes(plan: CertificationPlan, run_dir: Path, repeat: int) -> dict[str, list[PlanTestOutcome]]:
    """Requirement id -> what became of each run of its test: one per repeat, `not run` for those
    the run never got to (it was stopped, died, or never collected them)."""
    outcomes = list(outcomes_of(run_dir).values())
    out: dict[str, list[PlanTestOutcome]] = {}
    for req in plan.requirements:
        mine = [PlanTestOutcome(test=o.test, outcome=o.outcome, message=o.message[:500])
                for o in outcomes if o.function == req.function and (req.module is None or o.test.split("::")[0].endswith(req.module))]
        missing = max(0, repeat - len(mine))
        mine += [PlanTestOutcome(test=req.test, outcome="not run", message="the run ended before this test ran")] * missing
        out[req.id] = mine
    return out


def requirement_verdict(measurements: list[Measurement], tests: list[PlanTestOutcome]) -> tuple[str, str | None]:
    """A plan requirement's verdict and, where its measurements alone do not explain it, why.

    fail: a measurement beyond its limit, or a test run that failed for another reason than an
    invalid measurement; invalid: a measurement taken while the bench's own checks failed (its
    test failed for that); not-measured: no valid measurement, or a test run skipped or not run.
    """
    broken = [t for t in tests if t.outcome in ("failed", "error")]
    missing = [t for t in tests if t.outcome in ("skipped", "not run")]
    measured = worst(m.verdict for m in measurements)
    if measured == "fail":
        return "fail", None
    if measured == "invalid":  # its test failed because of it: the bench, not the equipment, is in question
        return "invalid", _why(tests, broken + missing) if broken or missing else None
    if broken:
        return "fail", _why(tests, broken)
    if missing or measured == "not-measured":
        return "not-measured", _why(tests, missing) if missing else None
    return measured, None


def _why(tests: list[PlanTestOutcome], which: list[PlanTestOutcome]) -> str:
    kinds = "/".join(sorted({t.outcome for t in which}))
    return f"{len(which)} of {len(tests)} test run(s) {kinds}" + (f": {which[0].message}" if which[0].message else "")


def requirement_results(plan: CertificationPlan, catalogue_titles: dict[str, str], run_dir: Path,
                        repeat: int = 1) -> tuple[list[RequirementResult], dict[str, Any]]:
    measured = measurements_of(run_dir)
    tests = plan_test_outcomes(plan, run_dir, repeat)
    results, variance = [], {}
    for req in plan.requirements:
        mine = [m for m in measured if m.requirement == req.id]
        repeats: dict[str, list[float]] = {}
        for m in sorted((m for m in mine if m.valid), key=lambda m: m.time):
            repeats.setdefault(m.quantity, []).append(m.value)
        stats = {q: {**spread(v), "units": next(m.units for m in mine if m.quantity == q)} for q, v in repeats.items()}
        variance[req.id] = stats
        verdict, why = requirement_verdict(mine, tests[req.id])
        spread_note = "; ".join(f"{q}: n={s['n']}, mean {s['mean']:.4g} {s['units']}, variance {s['variance']:.3g}, "
                                f"sd {s['sd']:.3g} {s['units']}" for q, s in stats.items())
        invalid = next((m.message for m in mine if not m.valid), None)
        note = "; ".join(x for x in (why, invalid if verdict == "invalid" else None, spread_note) if x) or f"{req.test} made no measurement"
        results.append(RequirementResult(id=req.id, title=catalogue_titles[req.id], verdict=verdict, tests=tests[req.id],
                                         measurements=mine, repeats=repeats, note=note))
    return results, variance


def attachments_of(record_dir: Path) -> list[Attachment]:
    root = record_dir / ATTACHMENTS
    return [Attachment(name=p.relative_to(root).as_posix(), path=p.relative_to(record_dir).as_posix(), sha256=sha256_of(p),
                       media_type=MEDIA_TYPES.get(p.suffix, "application/octet-stream"))
            for p in sorted(root.rglob("*")) if p.is_file()]


def build_record(*, certificate_id: str, plan: CertificationPlan, equipment: EquipmentProfile, lab: LabConfig,
                 lab_file: Path, catalogue_version: str, catalogue_titles: dict[str, str], run_dir: Path, record_dir: Path,
                 started: datetime, finished: datetime, bench_version: str, signature: SignatureStatus,
                 repeat: int = 1) -> CertificationRecord:
    """The record of one run (its measurements and outcomes in `run_dir`, each plan test run
    `repeat` times), attachments read from `record_dir`."""
    results, variance = requirement_results(plan, catalogue_titles, run_dir, repeat)
    (record_dir / ATTACHMENTS / VARIANCE_FILE).write_text(json.dumps(variance, indent=2) + "\n")
    traces = [TraceRef(name=name, sha256=t.content_sha256, source=f"{t.source}; file {t.file} sha256 {t.sha256}; "
                       f"licence {t.licence}; {t.attribution}", window=t.window)
              for name, t in plan.traces.items() if any(r.trace == name for r in plan.requirements)]
    return CertificationRecord(
        certificate_id=certificate_id,
        equipment=Equipment(vendor=equipment.vendor, model=equipment.model, serial=equipment.serial,
                            firmware=equipment.firmware, wans=equipment.wan_lines()),
        bench=BenchInfo(version=bench_version, lab=lab.name, lab_file=str(lab_file), lab_file_sha256=sha256_of(lab_file),
                        host=socket.gethostname()),
        catalogue_version=f"{catalogue_version} (certification plan {plan.plan_version})",
        started=started, finished=finished, traces=traces, requirements=results,
        attachments=attachments_of(record_dir), signature=signature)


def write_record(record: CertificationRecord, record_dir: Path) -> Path:
    path = record_dir / RECORD
    path.write_text(record.model_dump_json(indent=2) + "\n")
    return path
