"""The certification report: one self-contained HTML document a vendor can hand on.

Input: a certification record (``bench.certification.model.CertificationRecord``, JSON), as
`skybench certify` writes and signs it; its format is documented in docs/reports.md.

Output: HTML with its CSS inline and its images as data URIs (no file beside it, nothing fetched
when opened). No PDF: a well-kept HTML-to-PDF library (weasyprint) needs Pango and a dozen system
libraries; print the HTML to PDF from a browser (the stylesheet has print rules) instead.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import statistics
from datetime import datetime
from pathlib import Path
from typing import Literal

from bench.certification.model import CertificationRecord, RequirementResult, SignatureStatus
from bench.measure.measurement import position
from bench.measure.verdict import SEVERITY, VERDICT_COLOUR

CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.35em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}
.pass{color:#fff;background:#2e7d32}.marginal{color:#000;background:#ffb300}.fail{color:#fff;background:#c62828}
.not-measured,.not-verified,.unsigned{color:#000;background:#ddd}.valid{color:#fff;background:#2e7d32}.invalid{color:#fff;background:#c62828}
.badge{display:inline-block;padding:.1em .55em;border-radius:.3em;font-weight:bold;font-size:.9em}
.overall{font-size:1.4em;padding:.3em .8em}.mono{font-family:'DejaVu Sans Mono',monospace;font-size:.85em;word-break:break-all}
.kv th{width:14em}img{max-width:100%;border:1px solid #ddd}.small{color:#666;font-size:.85em}
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}table,img{page-break-inside:avoid}}
"""


def render_certification(record: CertificationRecord, output: Path | str, *, base_dir: Path | None = None) -> Path:
    """Write the report to ``output`` (HTML); attachments are read from ``base_dir`` (images inlined,
    each checked against its sha256)."""
    output = Path(output)
    e = html.escape
    overall = record.overall_verdict()
    overall_class = "fail" if overall == "FAIL" else "not-measured" if overall == "INCOMPLETE" else "pass"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Certification {e(record.certificate_id)}: {e(record.equipment.vendor)} {e(record.equipment.model)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Certification report {e(record.certificate_id)}</h1>",
        f"<p>{e(record.equipment.vendor)} {e(record.equipment.model)}, firmware {e(record.equipment.firmware)}: "
        f"<span class='badge overall {overall_class}'>{e(overall)}</span></p>",
        _signature_block(record.signature),
        "<h2>Equipment</h2>", _kv([("vendor", record.equipment.vendor), ("model", record.equipment.model),
                                   ("serial", record.equipment.serial), ("firmware", record.equipment.firmware),
                                   ("WANs / terminals", ", ".join(record.equipment.wans) or "-")]),
        "<h2>Bench</h2>", _kv([("skybench version", record.bench.version), ("lab", record.bench.lab),
                               ("lab file", f"{record.bench.lab_file or '-'}" + (f" (sha256 {record.bench.lab_file_sha256})" if record.bench.lab_file_sha256 else "")),
                               ("host", record.bench.host or "-"), ("requirement catalogue", record.catalogue_version),
                               ("started", record.started.isoformat()), ("finished", record.finished.isoformat())]),
        "<h2>Verdicts</h2>", _verdict_table(record),
        "<h2>Plan tests</h2>", _plan_tests(record),
        "<h2>Measurements</h2>", _measurement_tables(record),
        "<h2>Traces</h2>", _traces(record),
    ]
    if record.attachments:
        parts += ["<h2>Attachments</h2>", _attachments(record, base_dir or output.parent)]
    parts.append(f"<p class='small'>Record format {e(record.record_version)}; generated {e(datetime.now().astimezone().isoformat(timespec='seconds'))} by skybench.</p></body></html>")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(parts), encoding="utf-8")
    return output


def _badge(verdict: str) -> str:
    return f"<span class='badge {html.escape(verdict)}'>{html.escape(verdict)}</span>"


def _kv(rows: list[tuple[str, str]]) -> str:
    return "<table class='kv'>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows) + "</table>"


def _signature_block(sig: SignatureStatus) -> str:
    e = html.escape
    words = {"valid": "signature valid: the record and its attachments are as signed",
             "invalid": "SIGNATURE INVALID: the record or an attachment changed after signing",
             "unsigned": "the record is not signed", "not-verified": "the signature was not verified"}
    details = [f"algorithm {sig.algorithm}" if sig.algorithm else "", f"key {sig.key_id}" if sig.key_id else "",
               f"signed {sig.signed_at.isoformat()}" if sig.signed_at else "", f"manifest sha256 {sig.manifest_sha256}" if sig.manifest_sha256 else ""]
    detail = "; ".join(d for d in details if d)
    return (f"<p>{_badge(sig.status)} {e(words[sig.status])}"
            + (f"<br><span class='small mono'>{e(detail)}</span>" if detail else "")
            + (f"<br><span class='small'>{e(sig.detail)}</span>" if sig.detail else "") + "</p>")


def _verdict_table(record: CertificationRecord) -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(r.id)}</b></td><td>{html.escape(r.title)}</td><td>{_badge(r.verdict)}</td>"
        f"<td>{len(r.measurements)}</td><td>{html.escape(r.note or _worst_message(r))}</td></tr>"
        for r in record.requirements)
    return f"<table><tr><th>id</th><th>requirement</th><th>verdict</th><th>measurements</th><th>finding</th></tr>{rows}</table>"


def _plan_tests(record: CertificationRecord) -> str:
    """Each run of each plan test and what became of it: a record lists what did not pass."""
    rows = "".join(
        f"<tr><td>{html.escape(r.id)}</td><td class='mono'>{html.escape(t.test)}</td>"
        f"<td>{_badge('pass' if t.outcome == 'passed' else 'fail' if t.outcome in ('failed', 'error') else 'not-measured')}"
        f" {html.escape(t.outcome)}</td><td>{html.escape(t.message)}</td></tr>"
        for r in record.requirements for t in r.tests)
    if not rows:
        return "<p>The record names no plan test outcomes.</p>"
    return f"<table><tr><th>id</th><th>test</th><th>outcome</th><th>message</th></tr>{rows}</table>"


def _worst_message(r: RequirementResult) -> str:
    if not r.measurements:
        return "not measured"
    return max(r.measurements, key=lambda m: SEVERITY[m.verdict]).message


def _measurement_tables(record: CertificationRecord) -> str:
    rows = []
    for r in record.requirements:
        for m in r.measurements:
            spread = _spread(r.repeats.get(m.quantity, []), m.units)
            rows.append(
                f"<tr><td>{html.escape(r.id)}</td><td>{html.escape(m.title)}</td><td>{m.value:.4g} {html.escape(m.units)}</td>"
                f"<td>{html.escape(m.limit)}</td><td>{html.escape(m.marginal or '-')}</td><td>{_badge(m.verdict)}</td>"
                f"<td>{html.escape(position(m.trace, m.trace_time_s, m.km) or '-')}</td><td>{html.escape(spread)}</td></tr>")
    chart = _margin_chart(record)
    return (f"<table><tr><th>id</th><th>quantity</th><th>value</th><th>limit</th><th>marginal band</th><th>verdict</th>"
            f"<th>where</th><th>repeats</th></tr>{''.join(rows)}</table>" + chart)


def _spread(values: list[float], units: str) -> str:
    if len(values) < 2:
        return "-"
    return (f"n={len(values)}, mean {statistics.fmean(values):.4g} {units}, sd {statistics.stdev(values):.3g} {units}, "
            f"range {min(values):.4g}..{max(values):.4g}")


def _margin_chart(record: CertificationRecord) -> str:
    """Each bounded measurement's margin to its limit, as a fraction of the limit (inline PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = []
    for r in record.requirements:
        for m in r.measurements:
            bound = m.limit_high if m.limit_kind == "max" else m.limit_low if m.limit_kind == "min" else None
            if bound in (None, 0):
                continue
            margin = (bound - m.value) / abs(bound) if m.limit_kind == "max" else (m.value - bound) / abs(bound)
            bars.append((f"{r.id} {m.quantity}", margin * 100, m.verdict))
    if not bars:
        return ""
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(bars) + 1.2), layout="constrained")
    ax.barh([b[0] for b in bars], [b[1] for b in bars], color=[VERDICT_COLOUR[b[2]] for b in bars])
    ax.axvline(0, color="black", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel("margin to the limit (% of the limit; negative: beyond it)")
    ax.grid(True, axis="x", alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return f"<p><img alt='margin of each measurement to its limit' src='{_data_uri(buffer.getvalue(), 'image/png')}'></p>"


def _traces(record: CertificationRecord) -> str:
    if not record.traces:
        return "<p>No trace was replayed.</p>"
    rows = "".join(f"<tr><td>{html.escape(t.name)}</td><td class='mono'>{html.escape(t.sha256)}</td>"
                   f"<td>{html.escape(t.source or '-')}</td><td>{html.escape(t.window or '-')}</td></tr>" for t in record.traces)
    return f"<table><tr><th>trace</th><th>sha256 (content)</th><th>source</th><th>window</th></tr>{rows}</table>"


def _attachments(record: CertificationRecord, base_dir: Path) -> str:
    rows, images = [], []
    for a in record.attachments:
        path = base_dir / a.path
        try:
            data = path.read_bytes()
        except OSError:
            status = "missing"
            data = b""
        else:
            status = "sha256 ok" if hashlib.sha256(data).hexdigest() == a.sha256 else "SHA256 MISMATCH"
        rows.append(f"<tr><td>{html.escape(a.name)}</td><td class='mono'>{html.escape(a.path)}</td>"
                    f"<td class='mono'>{html.escape(a.sha256)}</td><td>{html.escape(status)}</td></tr>")
        if data and a.media_type.startswith("image/") and status == "sha256 ok":
            images.append(f"<h3>{html.escape(a.name)}</h3><img alt='{html.escape(a.name)}' src='{_data_uri(data, a.media_type)}'>")
    return f"<table><tr><th>attachment</th><th>file</th><th>sha256</th><th>check</th></tr>{''.join(rows)}</table>" + "".join(images)


def _data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
