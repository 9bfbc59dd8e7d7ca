"""The steady state a measurement starts from, seen on the wire: which WAN a passenger's new flows
leave the train by (the ground's "whoami" echo names the source address, `lab.wan_at_ground` the
WAN), and waiting until that is the WAN the lab expects.

    settle(lab, dut, passenger.ns)               # new flows on the most preferred WAN again
    wait_for_path(lab, passenger.ns, "starlink", timeout_s=20)

The DUT's own account (its `wans()`) is asked too, only to wait a little longer for WANs the wire
cannot show (a backup WAN the DUT still counts as down after a cut): it never decides a verdict.
"""

from __future__ import annotations

import itertools
import socket
import time
from typing import TYPE_CHECKING

from bench.devices.protocols import OnboardRouter
from bench.errors import BenchError
from bench.lab import addressing, netns
from bench.steps import step

if TYPE_CHECKING:
    from bench.lab.lab import Lab

SETTLE_TIMEOUT_S = 60.0  # FO-2 allows 30 s of failback; twice that before the bench gives up
# Each check is a new flow from a source port of its own (a repeated port could be an old flow
# the DUT keeps on its old WAN: bench.traffic.probes.NEW_FLOW_PORTS says more).
PATH_PORTS = itertools.cycle(range(44000, 46000))


def path_of(lab: Lab, ns: str, *, timeout_s: float = 1.0) -> str | None:
    """The WAN one new UDP flow from namespace `ns` leaves the train by (None: no answer, or an
    address of no lab WAN)."""

    def ask() -> str | None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.settimeout(timeout_s)
            try:
                s.bind(("0.0.0.0", next(PATH_PORTS)))
                s.sendto(b"path 0", (str(addressing.GROUND_SERVER.ip), addressing.WHOAMI_PORT))
                reply = s.recv(512)
            except OSError:
                return None
        return lab.wan_at_ground(reply.decode(errors="replace").rsplit(" ", 1)[-1])

    return netns.run_in(ns, ask)


def wait_for_path(lab: Lab, ns: str, wan: str, timeout_s: float) -> float:
    """Until a new flow from `ns` leaves by `wan` (three in a row); returns the seconds it took.
    Raises BenchError naming what the flows did meanwhile."""
    start = time.monotonic()
    seen: list[str | None] = []
    in_a_row = 0
    while True:
        path = path_of(lab, ns)
        seen.append(path)
        in_a_row = in_a_row + 1 if path == wan else 0
        if in_a_row >= 3:
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            recent = ", ".join(str(p) for p in seen[-5:])
            raise BenchError(f"new passenger flows did not leave by {wan} within {timeout_s:.0f} s (last paths seen at "
                             f"the ground: {recent})", where=f"namespace {ns}",
                             fix="is a link still in outage, or the DUT still holding traffic elsewhere? see the step log")
        time.sleep(0.2)


def dut_says_all_up(dut: OnboardRouter | None) -> bool | None:
    """Whether the DUT counts every WAN up (None: it cannot say, or did not answer)."""
    if dut is None:
        return None
    try:
        return all(w.up for w in dut.wans())
    except BenchError:
        return None


def settle(lab: Lab, dut: OnboardRouter | None, ns: str, *, timeout_s: float = SETTLE_TIMEOUT_S) -> str:
    """The steady state: new flows from `ns` on the most preferred WAN (the lab file's priority 1),
    and, as far as the DUT can say, every WAN up. Returns that WAN."""
    preferred = lab.wan_order()[0]
    with step("settle", preferred=preferred, ns=ns) as rec:
        start = time.monotonic()
        took = wait_for_path(lab, ns, preferred, timeout_s)
        claimed = dut_says_all_up(dut)
        while claimed is False and time.monotonic() - start < timeout_s:
            time.sleep(0.5)
            claimed = dut_says_all_up(dut)
        rec["result"] = (f"new flows on {preferred} after {took:.1f} s; the DUT counts every WAN up: "
                         f"{'cannot say' if claimed is None else claimed}")
    return preferred
