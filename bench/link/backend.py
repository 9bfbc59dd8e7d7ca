"""The one interface every link backend implements, its counters, and backend selection.

Geometry: a link lives in a namespace holding two interfaces. `term` faces the satellite terminal
(onboard side), `gnd` faces the ground. Frames entering on term and leaving on gnd are UPLINK;
frames entering on gnd and leaving on term are DOWNLINK.
"""

from __future__ import annotations

import abc
import functools
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bench.errors import BenchError
from bench.lab import netns
from bench.lab.state import new_prefix
from bench.link.model import Impairment, LinkSpec

BackendName = Literal["netem", "userspace"]
Requested = Literal["auto", "netem", "userspace"]


class DirectionCounters(BaseModel):
    """What one direction did since the link started."""

    model_config = ConfigDict(frozen=True)

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    dropped_loss: int = 0
    dropped_outage: int = 0
    dropped_queue_full: int = 0
    queue_depth: int = 0
    # netem reports one drop total; the backend attributes it to the cause active at the time,
    # so the split is exact only for the userspace backend.
    drop_causes_exact: bool = True

    @property
    def dropped(self) -> int:
        return self.dropped_loss + self.dropped_outage + self.dropped_queue_full


class LinkCounters(BaseModel):
    model_config = ConfigDict(frozen=True)

    backend: BackendName
    uplink: DirectionCounters
    downlink: DirectionCounters


class LinkAddress(BaseModel):
    """How another process finds a running link and attaches to it (kept in the lab's ledger)."""

    model_config = ConfigDict(frozen=True)

    backend: BackendName
    ns: str
    term_if: str
    gnd_if: str
    # userspace: direction -> the engine's control socket (an abstract Unix socket name, which
    # lives in the link namespace: it leaves no file behind and is reached from inside it).
    control: dict[str, str] = {}


class LinkBackend(abc.ABC):
    """A link emulator between two interfaces of one namespace."""

    name: BackendName

    def __init__(self, ns: str, term_if: str, gnd_if: str) -> None:
        self.ns = ns
        self.term_if = term_if
        self.gnd_if = gnd_if

    @abc.abstractmethod
    def start(self, spec: LinkSpec) -> None:
        """Bridge the two interfaces with `spec` in force."""

    @abc.abstractmethod
    def apply(self, direction: str, impairment: Impairment) -> None:
        """Change one direction in place: held packets stay, the next packet gets the new values."""

    @abc.abstractmethod
    def counters(self) -> LinkCounters: ...

    @abc.abstractmethod
    def stop(self) -> None:
        """Remove the link and restore the interfaces; safe to call twice."""

    def pids(self) -> dict[str, int]:
        """Processes the backend runs (direction -> pid); none for a kernel backend."""
        return {}

    # -- a second process working on a link someone else started ----------------------------------
    @classmethod
    @abc.abstractmethod
    def attach(cls, address: LinkAddress) -> LinkBackend:
        """Control a link another process started (and still owns) at `address`."""

    @abc.abstractmethod
    def address(self) -> LinkAddress:
        """Where another process finds this link (see `attach`)."""

    @abc.abstractmethod
    def current(self) -> LinkSpec:
        """What the link does now, read from the engine or the kernel, not from this object."""

    @abc.abstractmethod
    def detach(self) -> None:
        """Let go of an attached link (it keeps running); safe to call twice."""


@functools.cache
def kernel_has_netem(probe_ns: str | None = None) -> tuple[bool, str]:
    """Whether netem can be installed, probed on a dummy device inside a throwaway namespace.

    Never touches the root namespace. The answer is cached for the process.
    """
    from pyroute2.netlink.exceptions import NetlinkError

    owned = probe_ns is None
    ns = probe_ns or f"{new_prefix()}-probe"
    try:
        if owned:
            netns.create(ns)
        with netns.ipr(ns) as ipr:
            try:
                ipr.link("add", ifname="sbprobe0", kind="dummy")
            except NetlinkError:  # no dummy driver: a veth pair does as well
                ipr.link("add", ifname="sbprobe0", kind="veth", peer={"ifname": "sbprobe1"})
            try:
                index = ipr.link_lookup(ifname="sbprobe0")[0]
                try:
                    ipr.tc("add", "netem", index, delay=1000)
                except NetlinkError as exc:
                    return False, f"kernel refused a netem qdisc (sch_netem missing?): {exc}"
            finally:
                ipr.link("del", ifname="sbprobe0")
        return True, "a netem qdisc could be installed on a probe device"
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot use netem here"
        return False, f"netem probe failed: {type(exc).__name__}: {exc}"
    finally:
        if owned:
            netns.remove(ns)


def select_backend(requested: Requested = "auto") -> tuple[BackendName, str]:
    """Which backend runs and why (the reason goes into doctor output and reports)."""
    if requested == "userspace":
        return "userspace", "userspace backend requested"
    has_netem, reason = kernel_has_netem()
    if requested == "netem":
        if not has_netem:
            raise BenchError(
                f"the netem backend was requested but this kernel cannot run it: {reason}",
                where="link backend",
                fix="load sch_netem (`modprobe sch_netem`, package linux-modules-extra) "
                "or use --link-backend userspace",
            )
        return "netem", "netem backend requested"
    if requested != "auto":
        raise BenchError(f"unknown link backend {requested!r}", fix="use auto, netem or userspace")
    if has_netem:
        return "netem", f"auto: {reason}"
    return "userspace", f"auto: {reason}; using the userspace backend"
