"""The certification report: one self-contained HTML naming each requirement with its verdict."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import _register, app
from bench.errors import BenchError
from bench.measure.catalogue import default_catalogue
from bench.measure.measurement import RunInfo, evaluate
from bench.certification.model import (Attachment, BenchInfo, CertificationRecord, Equipment, RequirementResult,
                                       SignatureStatus, TraceRef, load_record)
from reports.certification import render_certification

CATALOGUE = default_catalogue()
RUN = RunInfo(run_id="cert-1", suite="certification", dut="acme-r1", firmware="2.4.1")


class Refs(HTMLParser):
    """Every URL the document would fetch: img/script src, link href."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("img", "script", "iframe") and a.get("src"):
            self.fetched.append(a["src"] or "")
        if tag == "link" and a.get("href"):
            self.fetched.append(a["href"] or "")


def make_record(tmp_path: Path, *, tamper: bool = False) -> CertificationRecord:
    png = tmp_path / "fo1.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [3, 4, 7.4])
    fig.savefig(png)
    plt.close(fig)
    digest = hashlib.sha256(png.read_bytes()).hexdigest()
    if tamper:
        png.write_bytes(png.read_bytes() + b"x")
    fo1 = evaluate(CATALOGUE, "FO-1", 7.4, units="s", quantity="detection", run=RUN, trace="astana-almaty", trace_time_s=7985, km=431.2)
    fo1_switch = evaluate(CATALOGUE, "FO-1", 9.2, units="s", quantity="switch", run=RUN)
    thr1 = evaluate(CATALOGUE, "THR-1", 96.4, units="%", quantity="goodput_ratio", run=RUN)
    por4 = evaluate(CATALOGUE, "POR-4", 0, units="count", quantity="bypasses", run=RUN)
    return CertificationRecord(
        certificate_id="SKB-2026-0042",
        equipment=Equipment(vendor="ACME", model="TrainRouter R1", serial="R1-000123", firmware="2.4.1",
                            wans=["starlink: Flat HP", "oneweb: Kymeta u8", "lte: Sierra MG90"]),
        bench=BenchInfo(version="0.1.0", lab="embedded", lab_file="bench/lab/default.yaml", host="bench-1"),
        catalogue_version=CATALOGUE.version,
        started=datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc), finished=datetime(2026, 1, 5, 9, 10, tzinfo=timezone.utc),
        traces=[TraceRef(name="astana-almaty", sha256="ab" * 32, source="synthetic astana-almaty seed 7", window="km 400-520 at 60x")],
        requirements=[
            RequirementResult(id="FO-1", title=CATALOGUE.requirements["FO-1"].title, verdict="fail", measurements=[fo1, fo1_switch],
                              repeats={"detection": [7.4, 7.1, 7.6]}),
            RequirementResult(id="THR-1", title=CATALOGUE.requirements["THR-1"].title, verdict="marginal", measurements=[thr1]),
            RequirementResult(id="POR-4", title=CATALOGUE.requirements["POR-4"].title, verdict="pass", measurements=[por4]),
            RequirementResult(id="PWR-1", title=CATALOGUE.requirements["PWR-1"].title, verdict="not-measured", note="no power supply on this bench"),
        ],
        attachments=[Attachment(name="FO-1 window", path="fo1.png", sha256=digest, media_type="image/png")],
        signature=SignatureStatus(status="valid", algorithm="Ed25519", key_id="SHA256:kq3...", manifest_sha256="cd" * 32),
    )


def test_report_names_every_requirement_with_its_verdict(tmp_path: Path) -> None:
    out = render_certification(make_record(tmp_path), tmp_path / "report.html")
    text = out.read_text()
    for req, verdict in (("FO-1", "fail"), ("THR-1", "marginal"), ("POR-4", "pass"), ("PWR-1", "not-measured")):
        row = text[text.index(f"<td><b>{req}</b></td>"):]
        row = row[: row.index("</tr>")]
        assert f"class='badge {verdict}'" in row, row
    assert "FO-1 failover detection time: 7.4 s &gt; limit 5 s (+2.4 s, +48 %) at trace astana-almaty 02:13:05, km 431.2" in text
    assert "n=3, mean 7.367 s" in text  # the repeats' spread
    assert "ACME" in text and "R1-000123" in text and "ab" * 32 in text
    assert "signature valid" in text and ">FAIL<" in text
    assert "sha256 ok" in text


def test_report_is_self_contained(tmp_path: Path) -> None:
    out = render_certification(make_record(tmp_path), tmp_path / "report.html")
    refs = Refs()
    refs.feed(out.read_text())
    assert len(refs.fetched) == 2  # the margin chart and the attached plot
    assert all(src.startswith("data:image/png;base64,") for src in refs.fetched)


def test_tampered_attachment_is_shown_not_inlined(tmp_path: Path) -> None:
    record = make_record(tmp_path, tamper=True).model_copy(update={"signature": SignatureStatus(status="invalid", detail="fo1.png changed")})
    text = render_certification(record, tmp_path / "report.html").read_text()
    assert "SHA256 MISMATCH" in text and "SIGNATURE INVALID" in text
    refs = Refs()
    refs.feed(text)
    assert len(refs.fetched) == 1  # only the margin chart


def test_cli_renders_record_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(make_record(tmp_path).model_dump_json(indent=2))
    _register()
    result = CliRunner().invoke(app, ["report", "certification", str(record)])
    assert result.exit_code == 0, result.output
    assert "FAIL: 4 requirements" in " ".join(result.output.split()) and (tmp_path / "record.html").exists()
    broken = json.loads(record.read_text())
    del broken["equipment"]["serial"]
    record.write_text(json.dumps(broken))
    with pytest.raises(BenchError, match="equipment.serial"):
        load_record(record)
