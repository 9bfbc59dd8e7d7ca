"""`skybench certify --equipment vendor.yaml`: run the certification plan on the lab and write a
signed record; `skybench certify verify RECORD_DIR`; `skybench certify keygen FILE`."""

from __future__ import annotations

import re
import shutil
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from bench.certification.model import CertificationRecord, SignatureStatus, load_record
from bench.cli import app, console
from bench.measure.verdict import VERDICT_STYLE
from bench.errors import BenchError
from bench.pytestrun import run_pytest

certify_app = typer.Typer(help="Certification: run the fixed plan, sign the record, verify records, make keys.")
app.add_typer(certify_app, name="certify")



@certify_app.callback(invoke_without_command=True)
def certify(
    ctx: typer.Context,
    equipment: Annotated[Optional[Path], typer.Option("--equipment", help="equipment profile (vendor.yaml)")] = None,
    lab: Annotated[Optional[Path], typer.Option("--lab", help="lab file (default: the embedded lab)")] = None,
    key: Annotated[Optional[Path], typer.Option("--key", help="Ed25519 private key (default: the file $SKYBENCH_SIGNING_KEY names)")] = None,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="run the suite N times: each measurement's variance goes into the record")] = 1,
    results: Annotated[Optional[Path], typer.Option("--results", help="where the record directory goes (default: the lab file's results_dir)")] = None,
    plan_file: Annotated[Optional[Path], typer.Option("--plan", help="certification plan (default: the suite's own, scenarios/certification/plan.yaml)")] = None,
) -> None:
    """Run the certification plan on the lab; write RECORD_DIR (record.json, attachments, signed manifest)."""
    if ctx.invoked_subcommand is not None:
        return
    if equipment is None:
        raise BenchError("no equipment profile given", where="skybench certify",
                         fix="pass --equipment vendor.yaml (vendor, model, serial, firmware, wans); see scenarios/certification/README.md")
    from bench import __version__
    from bench.certification.equipment import load_equipment
    from bench.certification.plan import default_plan_path, load_plan, plan_node_ids
    from bench.certification.record import ATTACHMENTS, build_record, write_record
    from bench.certification.signing import ALGORITHM, key_id, load_private_key, sign_record_dir, signing_key_path
    from bench.lab.labfile import load_lab
    from bench.measure.catalogue import default_catalogue

    # Everything that can be wrong with the input is found before the lab is built.
    profile = load_equipment(equipment)
    config = load_lab(lab)
    private = load_private_key(signing_key_path(key))
    plan_path = plan_file or default_plan_path()
    plan = load_plan(plan_path)
    lab_wans = [w.name for w in config.wans]
    missing = [w.name for w in profile.wans if w.name not in lab_wans]
    if missing:
        raise BenchError(f"the equipment's WAN {', '.join(missing)} has no WAN in lab {config.name} (it has {', '.join(lab_wans)})",
                         where=f"{equipment} wans", fix="name the equipment's WANs as the lab file does, or use a lab file that has them")
    catalogue = default_catalogue()
    if config.source is None:
        raise BenchError("the lab was not read from a file", where="skybench certify", fix="pass --lab FILE")
    lab_file = config.source
    serial = re.sub(r"[^A-Za-z0-9._-]+", "_", profile.serial)
    record_dir = (results or Path(config.results_dir)) / f"cert-{time.strftime('%Y%m%d-%H%M%S')}-{serial}"
    attachments = record_dir / ATTACHMENTS
    run_dir = attachments / "run"
    run_dir.mkdir(parents=True)
    shutil.copyfile(equipment, attachments / "equipment.yaml")
    shutil.copyfile(lab_file, attachments / "lab.yaml")
    shutil.copyfile(plan_path, attachments / "plan.yaml")
    for name in plan.traces:
        (attachments / "traces").mkdir(exist_ok=True)
        shutil.copyfile(plan.trace_path(name), attachments / "traces" / plan.trace_path(name).name)

    # The certification suite and the plan's tests in other suites (by node id, so no -m filter:
    # a nightly test the plan names runs although it is not marked certification).
    argv = [sys.executable, "-m", "pytest", *plan_node_ids(plan), "--results-dir", str(run_dir),
            "--junitxml", str(run_dir / "junit.xml"), "-p", "no:cacheprovider", "-q", "-rA",
            "--count", str(repeat), "--equipment", str(equipment)]
    if lab is not None:
        argv += ["--lab", str(lab)]
    console.print(f"certifying {escape(profile.vendor)} {escape(profile.model)} serial {escape(profile.serial)} firmware "
                  f"{escape(profile.firmware)} on lab [bold]{config.name}[/]: plan {plan.plan_version}, "
                  f"{len(plan.requirements)} requirements, {repeat} repeat(s); record in {record_dir}")
    started = datetime.now(timezone.utc)
    child = run_pytest(argv, run_dir=run_dir, echo=lambda line: console.print(escape(line), highlight=False))
    finished = datetime.now(timezone.utc)
    record = build_record(
        certificate_id=f"SKB-{started:%Y%m%d}-{serial}-{uuid.uuid4().hex[:6]}", plan=plan, equipment=profile, lab=config,
        lab_file=lab_file, catalogue_version=catalogue.version,
        catalogue_titles={r.id: catalogue.requirements[r.id].title for r in plan.requirements}, run_dir=run_dir,
        record_dir=record_dir, started=started, finished=finished, bench_version=__version__,
        signature=SignatureStatus(status="not-verified", algorithm=ALGORITHM, key_id=key_id(private.public_key()),
                                  signed_at=datetime.now(timezone.utc)), repeat=repeat)
    write_record(record, record_dir)
    signature = sign_record_dir(record_dir, private)
    _print_verdicts(record)
    overall = record.overall_verdict()
    console.print(f"overall: [bold]{overall}[/]; record {record_dir / 'record.json'} signed by {signature['key_id']} "
                  f"(manifest sha256 {signature['manifest_sha256'][:16]}...)")
    console.print(f"check it with: skybench certify verify {record_dir} --pubkey KEY.pub")
    if child.interrupted:
        console.print(f"[bold red]interrupted[/]: the record holds what ran before the stop")
        raise typer.Exit(child.bench_status())
    if overall in ("FAIL", "INCOMPLETE"):
        raise typer.Exit(1)


def _print_verdicts(record: CertificationRecord) -> None:
    table = Table(title=f"certification {record.certificate_id}")
    for column in ("requirement", "verdict", "tests passed", "measurements", "variance / finding"):
        table.add_column(column)
    for r in record.requirements:
        passed = sum(t.outcome == "passed" for t in r.tests)
        table.add_row(f"{r.id} {escape(r.title)}", f"[{VERDICT_STYLE[r.verdict]}]{r.verdict}[/]", f"{passed}/{len(r.tests)}",
                      str(len(r.measurements)), escape(r.note or ""))
    console.print(table)


@certify_app.command("verify")
def verify(
    record_dir: Annotated[Path, typer.Argument(help="the record directory `skybench certify` wrote")],
    pubkey: Annotated[Optional[Path], typer.Option("--pubkey", help="the certifier's public key (.pub); default: the key stored with the signature")] = None,
) -> None:
    """Check the signature and every file of a record; exit 1 naming what changed."""
    from bench.certification.signing import RECORD, load_public_key, verify_record_dir

    result = verify_record_dir(record_dir, load_public_key(pubkey) if pubkey else None)
    record = None
    if result.valid:
        try:
            record = load_record(record_dir / RECORD)
        except BenchError as exc:
            result.problems.append(f"{RECORD}: {exc.what}")
    if result.valid and record is not None:
        console.print(f"[green]valid[/]: {result.checked_files} files as signed by {result.key_id} at {result.signed_at} "
                      f"(manifest sha256 {result.manifest_sha256})"
                      + ("" if result.key_pinned else "; [yellow]key not pinned[/]: give --pubkey to check who signed"))
        # The signature says the record is as written; what it certifies is its verdict.
        console.print(f"the record's verdict: [bold]{record.overall_verdict()}[/]")
        for r in record.requirements:
            if r.verdict not in ("pass", "marginal"):
                console.print(f"  {r.id} [{VERDICT_STYLE[r.verdict]}]{r.verdict}[/]: {escape(r.note or '')}", highlight=False)
        return
    console.print(f"[bold red]INVALID[/]: {record_dir}")
    for problem in result.problems:
        console.print(f"  {escape(problem)}", highlight=False)
    raise typer.Exit(1)


@certify_app.command("keygen")
def keygen(
    private: Annotated[Path, typer.Argument(help="private key file to write (its public key goes to FILE.pub)")],
) -> None:
    """Write a new Ed25519 key pair for signing certification records."""
    from bench.certification.signing import generate_keypair

    priv, pub, kid = generate_keypair(private)
    console.print(f"wrote {priv} (private, mode 600) and {pub} (public); key {kid}")
