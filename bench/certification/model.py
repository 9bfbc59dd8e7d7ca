"""The certification record: what `skybench certify` signs and hands on, as a file format.

The equipment, the bench and lab, the exact traces by hash, a verdict per plan requirement with
every measurement (``bench.measure.measurement.Measurement``, as the results store has them) and
what became of each plan test (passed, failed, skipped, not run), the attachments with their
sha256, and the status of the record's signature as `skybench certify verify` found it. The
format is documented in docs/reports.md; ``record_version`` is bumped on any incompatible change.

Requirement verdicts: pass, marginal, fail (a measurement beyond its limit, or a plan test that
failed), invalid (only invalid measurements: the bench's own checks did not hold), not-measured
(no measurement, or a plan test that was skipped or did not run). The overall verdict is FAIL,
INCOMPLETE (nothing failed, but something was not validly measured), PASS or PASS with marginal
results: never PASS over a test that did not pass.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.errors import BenchError
from bench.measure.measurement import Measurement

Verdict = Literal["pass", "marginal", "invalid", "fail", "not-measured"]
RECORD_VERSION = "1"


class RecordModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Equipment(RecordModel):
    """The equipment under certification (the suite's equipment profile, vendor.yaml)."""

    vendor: str
    model: str
    serial: str
    firmware: str
    wans: list[str] = Field(default_factory=list, description="its WANs / terminals, e.g. 'starlink: Flat High Performance'")


class BenchInfo(RecordModel):
    version: str  # skybench version
    lab: str  # lab name
    lab_file: str | None = None
    lab_file_sha256: str | None = None
    host: str | None = None


class TraceRef(RecordModel):
    name: str
    sha256: str  # the trace's content hash
    source: str | None = None  # 'synthetic astana-almaty seed 7' / a recording's file name
    window: str | None = None  # the replayed window, e.g. 'km 400-520 at 60x'


class PlanTestOutcome(RecordModel):
    """What became of one run of a plan test (one per repeat)."""

    test: str  # pytest node id
    outcome: Literal["passed", "failed", "error", "skipped", "not run"]
    message: str = ""


class RequirementResult(RecordModel):
    id: str  # catalogue id, FO-1
    title: str
    verdict: Verdict
    tests: list[PlanTestOutcome] = Field(default_factory=list)
    measurements: list[Measurement] = Field(default_factory=list)
    repeats: dict[str, list[float]] = Field(default_factory=dict, description="quantity -> its value in each repeat (variance)")
    note: str | None = None


class Attachment(RecordModel):
    name: str
    path: str  # relative to the record's directory
    sha256: str
    media_type: str = "application/octet-stream"


class SignatureStatus(RecordModel):
    status: Literal["valid", "invalid", "unsigned", "not-verified"]
    algorithm: str | None = None  # e.g. 'Ed25519'
    key_id: str | None = None  # the public key's fingerprint
    signed_at: datetime | None = None
    manifest_sha256: str | None = None  # hash of the manifest the signature covers
    detail: str | None = None  # what verification found (which file changed, ...)


class CertificationRecord(RecordModel):
    record_version: Literal["1"] = RECORD_VERSION
    certificate_id: str
    equipment: Equipment
    bench: BenchInfo
    catalogue_version: str
    started: datetime
    finished: datetime
    traces: list[TraceRef] = Field(default_factory=list)
    requirements: list[RequirementResult]
    attachments: list[Attachment] = Field(default_factory=list)
    signature: SignatureStatus = SignatureStatus(status="not-verified")

    def overall_verdict(self) -> str:
        verdicts = {r.verdict for r in self.requirements}
        if "fail" in verdicts:
            return "FAIL"
        if verdicts & {"invalid", "not-measured"}:
            return "INCOMPLETE"
        return "PASS with marginal results" if "marginal" in verdicts else "PASS"


def load_record(path: Path | str) -> CertificationRecord:
    path = Path(path)
    try:
        return CertificationRecord.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BenchError("no such certification record", where=str(path), fix="give the record JSON that `skybench certify` wrote") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BenchError(f"not a certification record: {field}: {first['msg']} ({exc.error_count()} problem(s))", where=str(path),
                         fix="the record format is in docs/reports.md (record_version 1)") from None
