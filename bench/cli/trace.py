"""`skybench trace import|info|plot|generate|replay|verify`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.cli import app, console
from bench.errors import BenchError

trace_app = typer.Typer(help="Link traces: import recordings, inspect, plot, generate, replay and verify.",
                        no_args_is_help=True)
app.add_typer(trace_app, name="trace")

LabOption = Annotated[Optional[Path], typer.Option("--lab", help="lab file (default: the embedded lab)")]
FromOption = Annotated[Optional[str], typer.Option("--from", help="window start: seconds or HH:MM:SS")]
ToOption = Annotated[Optional[str], typer.Option("--to", help="window end: seconds or HH:MM:SS")]
KmOption = Annotated[Optional[str], typer.Option("--km", help="window by position, e.g. 400-520")]
MapOption = Annotated[Optional[list[str]], typer.Option(
    "--map", help="trace link to lab WAN, TRACE_LINK=WAN (or =none to leave it out); repeatable")]


def _read(path: Path) -> Any:
    from bench.traces import read_trace

    return read_trace(path)


def _rate(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    from bench.link.units import parse_rate_bps

    try:
        return int(parse_rate_bps(value))
    except ValueError as exc:
        raise BenchError(f"{option} {value!r}: {exc}", where=option, fix="write e.g. 218mbit or 15000000") from None


# --- import, info, plot, generate ---------------------------------------------------------------

@trace_app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help="starlink-dish, ping, iperf3-json, throughput-csv or mahimahi")],
    file: Annotated[Path, typer.Argument(help="the recording")],
    out: Annotated[Path, typer.Option("-o", "--out", help="trace to write (.parquet, or .csv)")],
    link: Annotated[Optional[str], typer.Option(help="link name in the trace")] = None,
    provider: Annotated[Optional[str], typer.Option(help="provider of the link")] = None,
    rate_down: Annotated[Optional[str], typer.Option(help="link rate ground->train, e.g. 218mbit")] = None,
    rate_up: Annotated[Optional[str], typer.Option(help="link rate train->ground, e.g. 15mbit")] = None,
    delay_ms: Annotated[Optional[float], typer.Option(help="one-way delay for sources without latency")] = None,
    direction: Annotated[Optional[str], typer.Option(help="down or up (mahimahi, iperf3)")] = None,
    interval_s: Annotated[Optional[float], typer.Option(help="bin width for event logs (ping)")] = None,
    keep_gaps: Annotated[bool, typer.Option("--keep-gaps", help="keep measurement gaps as wall time")] = False,
    licence: Annotated[Optional[str], typer.Option(help="licence of the source data")] = None,
    attribution: Annotated[Optional[str], typer.Option(help="attribution of the source data")] = None,
    route: Annotated[Optional[str], typer.Option(help="route name")] = None,
    time_zone: Annotated[Optional[str], typer.Option(help="IANA time zone, e.g. Asia/Almaty")] = None,
    start_time: Annotated[Optional[str], typer.Option(help="ISO 8601 start with offset")] = None,
) -> None:
    """Convert a recording into a skybench trace."""
    from bench.traces import write_trace
    from bench.traces.importers import import_trace

    options: dict[str, Any] = {
        "link": link, "provider": provider, "rate_down_bps": _rate(rate_down, "--rate-down"),
        "rate_up_bps": _rate(rate_up, "--rate-up"), "delay_ms": delay_ms, "direction": direction,
        "interval_s": interval_s, "licence": licence, "attribution": attribution, "route": route,
        "time_zone": time_zone, "start_time": start_time,
    }
    options = {k: v for k, v in options.items() if v is not None}
    if keep_gaps:
        options["close_gaps"] = False
    trace = import_trace(kind, file, **options)
    write_trace(trace, out)
    console.print(f"[green]wrote[/] {out}: {len(trace.table)} rows, links {', '.join(trace.links)}, "
                  f"{trace.duration_s:.0f} s, licence {trace.meta.licence}")


@trace_app.command("info")
def info(
    file: Annotated[Path, typer.Argument(help="trace (.parquet or .csv)")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Duration, links, RTT and rate percentiles, outages."""
    from bench.traces.info import summarize
    from bench.traces.replay import fmt_trace_time

    trace = _read(file)
    summary = summarize(trace)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    head = Table(title=f"trace {file.name}", show_header=False)
    head.add_column("field")
    head.add_column("value")
    km = summary["km"]
    for field, value in (("source", summary["source"] + ("  [bold yellow](SYNTHETIC)[/]" if summary["source"] == "synthetic" else "")),
                         ("provider", summary["provider"]), ("route", summary["route"] or "-"),
                         ("start", f"{summary['start_time']} ({summary['time_zone']})"),
                         ("duration", f"{fmt_trace_time(summary['duration_s'])} ({summary['duration_s']:.0f} s), {summary['rows']} rows"),
                         ("km", f"{km['from']:g} - {km['to']:g}" if km else "-"),
                         ("licence", summary["licence"]),
                         ("derived from", "\n".join(summary["derived_from"]) or "-")):
        head.add_row(field, escape(str(value)) if field != "source" else value)
    console.print(head)
    links = Table(title="links")
    for column in ("link", "dir", "delay p50/p95/p99 ms", "RTT p50/p95/p99 ms", "rate p5/p50/p95 Mbit/s", "loss",
                   "outages", "outage length p50/max s"):
        links.add_column(column)
    for name, link in summary["links"].items():
        rtt = link["rtt_ms"]
        for k, direction in enumerate(link["directions"]):
            d = link[direction]
            delay = d["delay_ms"]
            rate = d["rate_bps"]
            outages = d["outages"]
            lengths = outages.get("length_s")
            links.add_row(
                f"{name} ({link['provider']})" if k == 0 else "", direction,
                "/".join(f"{delay[q]:.1f}" for q in ("p50", "p95", "p99")) if delay else "-",
                ("/".join(f"{rtt[q]:.1f}" for q in ("p50", "p95", "p99")) if rtt else "-") if k == 0 else "",
                "unlimited" if rate == "unlimited" else "/".join(f"{rate[q] / 1e6:.1f}" for q in ("p5", "p50", "p95")),
                f"{d['loss_mean'] * 100:.3f} %",
                f"{outages['count']} ({outages['per_hour']:.1f}/h, {outages['fraction'] * 100:.2f} %)",
                f"{lengths['p50']:.1f} / {lengths['max']:.1f}" if lengths else "-",
            )
    console.print(links)


@trace_app.command("plot")
def plot(
    file: Annotated[Path, typer.Argument(help="trace (.parquet or .csv)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="PNG to write")],
    km: Annotated[bool, typer.Option("--km", help="x axis in km instead of time")] = False,
) -> None:
    """Delay, rate and outages per link, against time or km."""
    from bench.traces.plot import plot_trace

    path = plot_trace(_read(file), out, x="km" if km else "time")
    console.print(f"[green]wrote[/] {path}")


@trace_app.command("generate")
def generate(
    route: Annotated[str, typer.Argument(help="route id (astana-almaty, astana-oskemen, astana-borovoe) or a route file")],
    out: Annotated[Path, typer.Option("-o", "--out", help="trace to write (.parquet or .csv)")],
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same trace")] = 1,
) -> None:
    """Generate a synthetic trace from a route description."""
    from bench.traces import write_trace
    from bench.traces.generator import generate as generate_trace

    trace = generate_trace(route, seed=seed)
    write_trace(trace, out)
    console.print(f"[green]wrote[/] {out}: SYNTHETIC, route {trace.meta.route}, seed {seed}, links "
                  f"{', '.join(trace.links)}, {trace.duration_s / 3600:.2f} h")


# --- replay and verify ----------------------------------------------------------------------------

@trace_app.command("replay")
def replay(
    file: Annotated[Path, typer.Argument(help="trace (.parquet or .csv)")],
    speed: Annotated[float, typer.Option(help="time compression: 60 plays an hour in a minute")] = 1.0,
    from_: FromOption = None,
    to: ToOption = None,
    km: KmOption = None,
    lab: LabOption = None,
    map_: MapOption = None,
    ignore_unmapped: Annotated[bool, typer.Option("--ignore-unmapped", help="leave out trace links the lab lacks")] = False,
    loop: Annotated[bool, typer.Option("--loop", help="play the window again and again until Ctrl-C")] = False,
    log: Annotated[Optional[Path], typer.Option("--log", help="step-log directory (default: results/replay-TIME)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="play the schedule and log it without a lab")] = False,
) -> None:
    """Play a trace onto a fresh lab's emulated links (Ctrl-C stops and removes the lab)."""
    from bench.traces.replay import DryRunTarget, Replay, lab_target, map_links, parse_link_map, plan_replay

    trace = _read(file)
    plan = plan_replay(trace, speed=speed, from_=from_, to=to, km=km, name=str(file))  # all rows checked first
    log_dir = log or Path("results") / f"replay-{time.strftime('%Y%m%d-%H%M%S')}"
    mapping = parse_link_map(map_ or [])
    console.print(f"replaying {file} {_window_text(plan)} at speed {speed:g} ({plan.wall_s:.1f} s of wall time"
                  f"{', looped' if loop else ''}); {len(plan.steps)} steps"
                  + (f", {plan.coalesced_rows} rows coalesced (step interval {plan.min_step_s * 1000:g} ms)"
                     if plan.coalesced_rows else ""))
    if dry_run:
        _play(plan, DryRunTarget(), loop, log_dir)
        return
    from bench.lab.lab import Lab
    from bench.lab.labfile import load_lab

    config = load_lab(lab)
    map_links(plan.links, [w.name for w in config.wans], mapping, ignore_unmapped=ignore_unmapped)  # before the lab
    with Lab(config) as the_lab:
        target = lab_target(the_lab, plan, mapping, ignore_unmapped=ignore_unmapped)
        for link in plan.links:
            console.print(f"  trace link {link} -> " + (f"WAN {target.wan_of(link)} ({the_lab.link(target.wan_of(link)).backend_name} backend)"
                                                         if target.wan_of(link) else "[yellow]left out[/]"))
        _play(plan, target, loop, log_dir)
        _ = Replay  # the lab comes down after the replay has stopped


def _window_text(plan: Any) -> str:
    from bench.traces.replay import fmt_trace_time

    text = f"{fmt_trace_time(plan.t0)}-{fmt_trace_time(plan.t1)}"
    k0, k1 = plan.km_at(plan.t0), plan.km_at(plan.t1)
    return text + (f" (km {k0:.1f}-{k1:.1f})" if k0 is not None and k1 is not None else "")


def _play(plan: Any, target: Any, loop: bool, log_dir: Path) -> None:
    import numpy as np

    from bench.traces.replay import Replay, fmt_trace_time, timing_errors_ms

    replay = Replay(plan, target, loop=loop, log_dir=log_dir)
    columns = [TextColumn("[bold]{task.fields[clock]}"), BarColumn(), TextColumn("{task.percentage:>5.1f} %"),
               TextColumn("{task.fields[state]}"), TimeRemainingColumn()]
    interrupted = False
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("replay", total=plan.span_s, clock="", state="")
        replay.start()
        try:
            while True:
                done = replay.wait(timeout=0.2)
                t = replay.trace_time()
                km = replay.km()
                outs = sorted({a.step.link for a in replay.applied[-12:] if a.step.impairment.outage})
                progress.update(task, completed=t - plan.t0,
                                clock=f"trace {fmt_trace_time(t)}" + (f"  km {km:8.2f}" if km is not None else ""),
                                state=f"steps {len(replay.applied)}" + (f"  [red]outage {','.join(outs)}[/]" if outs else ""))
                if done:
                    break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            replay.stop()
    errors = timing_errors_ms(replay.applied)
    if len(errors):
        console.print(f"{len(errors)} steps applied; timing error (applied - scheduled) p50 {np.percentile(errors, 50):.2f} ms, "
                      f"p99 {np.percentile(errors, 99):.2f} ms, max {errors.max():.2f} ms")
    console.print(f"step log: {replay.log_file or log_dir}" + ("  [yellow](interrupted)[/]" if interrupted else ""))


@trace_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="trace (.parquet or .csv)")],
    from_: FromOption = None,
    to: ToOption = None,
    km: KmOption = None,
    lab: LabOption = None,
    map_: MapOption = None,
    rate_hz: Annotated[float, typer.Option("--rate", help="probes per second (>= 10)")] = 50.0,
    min_outage_s: Annotated[float, typer.Option("--min-outage", help="outages at least this long must be seen")] = 1.0,
    plot_png: Annotated[Optional[Path], typer.Option("--plot", help="PNG to write (default: FILE-verify.png)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    check_rate: Annotated[bool, typer.Option("--rate-check/--no-rate-check",
                                             help="where the trace has rates, replay once more per direction under a TCP flow and judge the rate")] = True,
) -> None:
    """Replay at speed 1 on a fresh lab while probing, and compare with the trace (exit 1 if a goal is missed)."""
    from bench.lab.lab import Lab
    from bench.lab.labfile import load_lab
    from bench.traces.replay import fmt_trace_time, parse_link_map, plan_replay
    from bench.traces.verify import fidelity_table, plot_fidelity, verify_trace

    trace = _read(file)
    plan = plan_replay(trace, speed=1.0, from_=from_, to=to, km=km, name=str(file))  # bad input: before the lab
    config = load_lab(lab)
    png = plot_png or file.with_name(file.name.split(".")[0] + "-verify.png")
    if not as_json:
        console.print(f"verifying {file} {fmt_trace_time(plan.t0)}-{fmt_trace_time(plan.t1)} at speed 1 "
                      f"({plan.wall_s:.0f} s) with UDP probes at {rate_hz:g} Hz")
    with Lab(config) as the_lab:
        if as_json:
            result = verify_trace(trace, lab=the_lab, name=str(file), from_=from_, to=to, km=km,
                                  links=parse_link_map(map_ or []), rate_hz=rate_hz, min_outage_s=min_outage_s,
                                  check_rate=check_rate)
        else:
            with Progress(TextColumn("[bold]{task.fields[clock]}"), BarColumn(), TextColumn("{task.percentage:>5.1f} %"),
                          TimeRemainingColumn(), console=console) as progress:
                task = progress.add_task("verify", total=plan.span_s, clock="")

                def show(replay: Any) -> None:
                    t = replay.trace_time()
                    progress.update(task, completed=t - plan.t0, clock=f"trace {fmt_trace_time(t)}")

                result = verify_trace(trace, lab=the_lab, name=str(file), from_=from_, to=to, km=km,
                                      links=parse_link_map(map_ or []), rate_hz=rate_hz, min_outage_s=min_outage_s, progress=show,
                                      check_rate=check_rate)
    plot_fidelity(result, png)
    if as_json:
        print(json.dumps({**result.to_json(), "plot": str(png)}, indent=2))
    else:
        console.print(fidelity_table(result))
        console.print(("[green]fidelity goals met[/]" if result.passed else "[bold red]fidelity goals missed[/]")
                      + f"; plot: {png}")
    if not result.passed:
        raise typer.Exit(1)
