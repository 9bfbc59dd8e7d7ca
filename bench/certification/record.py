"""Building the certification record (reports.certification.CertificationRecord) from one run of
the suite: a verdict per plan requirement with every measurement, the values of each repeat and
their variance, the traces by hash, the bench, the lab file and the equipment; plus the list of
attachments with their sha256 (the signed manifest covers the same files)."""

from __future__ import annotations

import json
import socket
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.certification.equipment import EquipmentProfile
from bench.certification.plan import CertificationPlan
from bench.certification.signing import RECORD, sha256_of
from bench.lab.model import LabConfig
from bench.measure.measurement import Measurement
from bench.measure.store import load_measurements
from reports.certification import (Attachment, BenchInfo, CertificationRecord, Equipment, RequirementResult,
                                   SignatureStatus, TraceRef)

ATTACHMENTS = "attachments"
VARIANCE_FILE = "variance.json"
MEDIA_TYPES = {".json": "application/json", ".jsonl": "application/x-ndjson", ".yaml": "application/yaml",
               ".xml": "application/xml", ".log": "text/plain", ".txt": "text/plain", ".png": "image/png",
               ".parquet": "application/vnd.apache.parquet"}
SEVERITY = {"pass": 0, "marginal": 1, "fail": 2}


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


def _outcome_notes(run_dir: Path) -> dict[str, str]:
    """test function name -> the message of its failure, error or skip (for requirements not measured)."""
    path = run_dir / "outcomes.jsonl"
    notes: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if r["outcome"] != "passed" and r["message"]:
                notes.setdefault(r["test"].split("::")[-1].split("[")[0], f"{r['outcome']} ({r['when']}): {r['message'][:300]}")
    return notes


def requirement_results(plan: CertificationPlan, catalogue_titles: dict[str, str], run_dir: Path) -> tuple[list[RequirementResult], dict[str, Any]]:
    measured = measurements_of(run_dir)
    notes = _outcome_notes(run_dir)
    results, variance = [], {}
    for req in plan.requirements:
        mine = [m for m in measured if m.requirement == req.id]
        repeats: dict[str, list[float]] = {}
        for m in sorted(mine, key=lambda m: m.time):
            repeats.setdefault(m.quantity, []).append(m.value)
        stats = {q: {**spread(v), "units": next(m.units for m in mine if m.quantity == q)} for q, v in repeats.items()}
        variance[req.id] = stats
        if mine:
            verdict = max((m.verdict for m in mine), key=SEVERITY.__getitem__)
            note = "; ".join(f"{q}: n={s['n']}, mean {s['mean']:.4g} {s['units']}, variance {s['variance']:.3g}, "
                             f"sd {s['sd']:.3g} {s['units']}" for q, s in stats.items())
        else:
            verdict = "not-measured"
            note = notes.get(req.function, f"{req.test} made no measurement")
        results.append(RequirementResult(id=req.id, title=catalogue_titles[req.id], verdict=verdict, measurements=mine,
                                         repeats=repeats, note=note))
    return results, variance


def attachments_of(record_dir: Path) -> list[Attachment]:
    root = record_dir / ATTACHMENTS
    return [Attachment(name=p.relative_to(root).as_posix(), path=p.relative_to(record_dir).as_posix(), sha256=sha256_of(p),
                       media_type=MEDIA_TYPES.get(p.suffix, "application/octet-stream"))
            for p in sorted(root.rglob("*")) if p.is_file()]


def build_record(*, certificate_id: str, plan: CertificationPlan, equipment: EquipmentProfile, lab: LabConfig,
                 lab_file: Path, catalogue_version: str, catalogue_titles: dict[str, str], run_dir: Path, record_dir: Path,
                 started: datetime, finished: datetime, bench_version: str, signature: SignatureStatus) -> CertificationRecord:
    """The record of one run (its measurements in `run_dir`), attachments read from `record_dir`."""
    results, variance = requirement_results(plan, catalogue_titles, run_dir)
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
