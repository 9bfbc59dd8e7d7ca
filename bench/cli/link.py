"""`skybench link show|set`: look at and change a running lab's sky links from another process.

The lab (`skybench lab up --detach`) is found through its ledger; each link is attached through
the link API (the userspace engines' control sockets, or the netem qdiscs over netlink), so a
change here goes through exactly the code a test's change goes through. Every change is a
recorded step and a line in the lab's change log, which `link show` lists.
"""

from __future__ import annotations

import datetime
import json
import sys
from enum import Enum
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from bench.cli import app, console
from bench.errors import BenchError
from bench.link.lab_links import attach_lab_link, link_addresses, log_change, read_changes, running_lab
from bench.link.model import DIRECTIONS
from bench.steps import step

link_app = typer.Typer(help="Show and change a running lab's emulated sky links.", no_args_is_help=True)
app.add_typer(link_app, name="link")

PrefixOption = Annotated[Optional[str], typer.Option("--lab-prefix", help="the lab (default: the only running one)")]
SHOWN_CHANGES = 10


class Direction(str, Enum):
    uplink = "uplink"
    downlink = "downlink"
    both = "both"


def _link_state(ledger: Any, wan: str) -> dict[str, Any]:
    link = attach_lab_link(ledger, wan)
    try:
        counters = link.counters()
        return {
            "backend": link.backend_name,
            "namespace": link.ns,
            "impairment": {d: link.spec.direction(d).model_dump() for d in DIRECTIONS},
            "described": {d: link.spec.direction(d).describe() for d in DIRECTIONS},
            "counters": {d: getattr(counters, d).model_dump() for d in DIRECTIONS},
        }
    finally:
        link.close()


@link_app.command("show")
def show(
    prefix: PrefixOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Each WAN's link: backend, what each direction does now, counters, and recent changes."""
    ledger = running_lab(prefix)
    states = {wan: _link_state(ledger, wan) for wan in link_addresses(ledger)}
    changes = read_changes(ledger)
    if as_json:
        sys.stdout.write(json.dumps({"lab": ledger.prefix, "links": states, "changes": changes}, indent=2) + "\n")
        return
    table = Table(title=f"sky links of lab {ledger.prefix}")
    for column in ("WAN", "backend", "direction", "impairment now", "packets in/out", "drops loss/outage/queue", "queued"):
        table.add_column(column)
    for wan, state in states.items():
        for direction in DIRECTIONS:
            c = state["counters"][direction]
            exact = "" if c["drop_causes_exact"] else " ~"
            table.add_row(
                wan if direction == "uplink" else "", state["backend"] if direction == "uplink" else "", direction,
                state["described"][direction], f"{c['packets_in']}/{c['packets_out']}",
                f"{c['dropped_loss']}/{c['dropped_outage']}/{c['dropped_queue_full']}{exact}", str(c["queue_depth"]),
            )
    console.print(table)
    if any(not s["counters"]["uplink"]["drop_causes_exact"] for s in states.values()):
        console.print("~ netem counts one drop total; the split by cause is attributed to the setting in force.")
    console.print(f"changes made by hand ({len(changes)}, last {SHOWN_CHANGES} shown):" if changes else "no change made by hand yet.")
    for entry in changes[-SHOWN_CHANGES:]:
        when = datetime.datetime.fromtimestamp(entry["at"]).strftime("%H:%M:%S")
        what = " ".join(f"{k}={v}" for k, v in entry["change"].items())
        console.print(f"  {when} {entry['wan']}: {what}", highlight=False)


@link_app.command("set")
def set_link(
    wan: Annotated[str, typer.Argument(help="the WAN whose link changes (oneweb, starlink, lte, ...)")],
    up: Annotated[bool, typer.Option("--up", help="end an outage")] = False,
    down: Annotated[bool, typer.Option("--down", help="outage: drop everything")] = False,
    direction: Annotated[Direction, typer.Option("--direction", help="which direction changes")] = Direction.both,
    delay: Annotated[Optional[str], typer.Option(help="one-way delay, e.g. 30ms")] = None,
    jitter: Annotated[Optional[str], typer.Option(help="uniform +/- jitter, e.g. 5ms")] = None,
    rate: Annotated[Optional[str], typer.Option(help="rate, e.g. 200mbit, or 'unlimited'")] = None,
    loss: Annotated[Optional[str], typer.Option(help="random loss, e.g. 1%")] = None,
    limit: Annotated[Optional[int], typer.Option(help="queue limit in packets")] = None,
    ge_p: Annotated[Optional[str], typer.Option("--ge-p", help="Gilbert-Elliott good->bad, e.g. 5%")] = None,
    ge_r: Annotated[Optional[str], typer.Option("--ge-r", help="Gilbert-Elliott bad->good, e.g. 25%")] = None,
    ge_loss_bad: Annotated[Optional[str], typer.Option("--ge-loss-bad", help="loss in the bad state")] = None,
    ge_loss_good: Annotated[Optional[str], typer.Option("--ge-loss-good", help="loss in the good state")] = None,
    prefix: PrefixOption = None,
) -> None:
    """Change a running lab's link in place (only the values given; the rest stays)."""
    if up and down:
        raise BenchError("--up and --down together", fix="give one of them")
    values: dict[str, Any] = {
        "delay": delay, "jitter": jitter, "rate": rate, "loss": loss, "limit_packets": limit,
        "ge_p": ge_p, "ge_r": ge_r, "ge_loss_bad": ge_loss_bad, "ge_loss_good": ge_loss_good,
    }
    values = {k: v for k, v in values.items() if v is not None}
    if not values and not (up or down):
        raise BenchError("nothing to change", fix="give --delay, --rate, --loss, ... or --up/--down (see --help)")
    directions = list(DIRECTIONS) if direction is Direction.both else [direction.value]
    ledger = running_lab(prefix)
    change = {**values, **({"outage": down} if up or down else {}), "direction": direction.value}
    with step("link set (by hand)", lab=ledger.prefix, wan=wan, **change):
        link = attach_lab_link(ledger, wan)
        try:
            for name in directions:
                if values:
                    link.set_direction(name, **values)
            if up or down:
                link.outage(down, direction.value)
            after = {d: link.spec.direction(d).describe() for d in DIRECTIONS}
        finally:
            link.close()
        log_change(ledger, wan, change, after)
    for name in DIRECTIONS:
        console.print(f"{wan} {name}: {after[name]}", highlight=False)
