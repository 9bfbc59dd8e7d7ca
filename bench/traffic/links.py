"""Set the lab's sky links to a profile for a test and put back what they were afterwards."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bench.link.model import Impairment, LinkSpec

if TYPE_CHECKING:
    from bench.lab.lab import Lab


def profile(down_bps: int, up_bps: int, rtt_ms: float) -> LinkSpec:
    """Rates each way and a round trip split evenly between the directions, nothing else."""
    return LinkSpec(uplink=Impairment(delay_ms=rtt_ms / 2, rate_bps=up_bps),
                    downlink=Impairment(delay_ms=rtt_ms / 2, rate_bps=down_bps))


@contextmanager
def links_set(lab: Lab, wans: Iterable[str], spec: LinkSpec) -> Iterator[None]:
    """Every named WAN's sky link set to `spec` while the block runs, restored after (also on failure)."""
    saved: dict[str, LinkSpec] = {}
    try:
        for wan in wans:
            link = lab.link(wan)
            saved[wan] = link.spec
            link.set(spec)
        yield
    finally:
        for wan, old in saved.items():
            lab.link(wan).set(old)


@contextmanager
def links_kept(lab: Lab) -> Iterator[None]:
    """Every sky link's spec saved now and set back when the block ends (also on failure): a
    replay leaves the links in the last state it applied, which may be an outage."""
    saved = {name: lab.link(name).spec for name in lab.links}
    try:
        yield
    finally:
        for name, spec in saved.items():
            lab.link(name).set(spec)


@contextmanager
def outages(lab: Lab, wans: Iterable[str]) -> Iterator[None]:
    """The named WANs' sky links down (both directions) while the block runs, back after."""
    down: list[str] = []
    try:
        for wan in wans:
            lab.link(wan).outage(True)
            down.append(wan)
        yield
    finally:
        for wan in down:
            lab.link(wan).outage(False)
