"""The link control API: open an emulated link in a namespace and change it while it runs.

Every change is a recorded step (bench.steps), so the run's step log says what the link did and
when; the backend in use and why it was chosen are recorded when the link opens.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from bench.errors import BenchError
from bench.link.backend import LinkAddress, LinkBackend, LinkCounters, Requested, select_backend
from bench.link.model import DIRECTIONS, Impairment, LinkSpec, impairment_from_strings
from bench.steps import recorded, step


def _make_backend(name: str, ns: str, term_if: str, gnd_if: str) -> LinkBackend:
    if name == "netem":
        from bench.link.netem import NetemBackend

        return NetemBackend(ns, term_if, gnd_if)
    from bench.link.userspace import UserspaceBackend

    return UserspaceBackend(ns, term_if, gnd_if)


def _attach_backend(address: LinkAddress) -> LinkBackend:
    if address.backend == "netem":
        from bench.link.netem import NetemBackend

        return NetemBackend.attach(address)
    from bench.link.userspace import UserspaceBackend

    return UserspaceBackend.attach(address)


class EmulatedLink:
    """One running link between `term` (onboard side) and `gnd` (ground side) in namespace `ns`.

    Either started here (`open_link`: closing it removes the link) or attached to a link another
    process started (`attach_link`: closing only lets go; the same change API and steps apply).
    """

    def __init__(self, ns: str, term_if: str, gnd_if: str, backend: Requested = "auto",
                 spec: LinkSpec | None = None) -> None:
        self.ns = ns
        self.name = f"link {ns}"
        self.backend_name, self.backend_reason = select_backend(backend)
        self.spec = spec or LinkSpec()
        self._backend = _make_backend(self.backend_name, ns, term_if, gnd_if)
        with step(f"{self.name}: open", backend=self.backend_name, reason=self.backend_reason,
                  term=term_if, gnd=gnd_if, uplink=self.spec.uplink.describe(),
                  downlink=self.spec.downlink.describe()):
            self._backend.start(self.spec)
        self._open = True
        self.owned = True

    @classmethod
    def attach(cls, address: LinkAddress) -> EmulatedLink:
        link = cls.__new__(cls)
        link.ns = address.ns
        link.name = f"link {address.ns}"
        link.backend_name = address.backend
        link.backend_reason = "attached to a running link"
        link.owned = False
        with step(f"{link.name}: attach", backend=address.backend):
            link._backend = _attach_backend(address)
            try:
                link.spec = link._backend.current()
            except BaseException:
                link._backend.detach()
                raise
        link._open = True
        return link

    def address(self) -> LinkAddress:
        """Where another process finds this link (`attach_link(address)`)."""
        return self._backend.address()

    # -- changes ----------------------------------------------------------------------------------
    @recorded("set")
    def set(self, spec: LinkSpec) -> None:
        """Both directions at once."""
        for direction in DIRECTIONS:
            self._apply(direction, spec.direction(direction))

    @recorded("set direction")
    def set_direction(self, direction: str, impairment: Impairment | None = None, **values: Any) -> Impairment:
        """One direction: a whole Impairment, or changes as strings/values on top of the current
        one (`link.set_direction("uplink", delay="30ms", rate="200mbit", loss="1%")`)."""
        if direction not in DIRECTIONS:
            raise BenchError(f"unknown link direction {direction!r}", where=self.name, fix="use uplink or downlink")
        if impairment is None:
            impairment = impairment_from_strings(self.spec.direction(direction), where=self.name, **values)
        elif values:
            raise BenchError("give either an Impairment or values, not both", where=self.name)
        self._apply(direction, impairment)
        return impairment

    @recorded("outage")
    def outage(self, on: bool, direction: str = "both") -> None:
        """Drop everything (on=True) or restore the link, in one or both directions."""
        for name in DIRECTIONS if direction == "both" else (direction,):
            self._apply(name, self.spec.direction(name).model_copy(update={"outage": on}))

    def _apply(self, direction: str, impairment: Impairment) -> None:
        self._require_open()
        self._backend.apply(direction, impairment)
        self.spec = self.spec.model_copy(update={direction: impairment})

    # -- observation ------------------------------------------------------------------------------
    def counters(self) -> LinkCounters:
        self._require_open()
        return self._backend.counters()

    def pids(self) -> dict[str, int]:
        return self._backend.pids()

    @property
    def backend(self) -> LinkBackend:
        return self._backend

    # -- lifetime ----------------------------------------------------------------------------------
    def close(self) -> None:
        if not getattr(self, "_open", False):
            return
        if not self.owned:
            self._open = False
            self._backend.detach()
            return
        with step(f"{self.name}: close", backend=self.backend_name):
            self._open = False
            self._backend.stop()

    def _require_open(self) -> None:
        if not getattr(self, "_open", False):
            raise BenchError("the link is closed", where=self.name, fix="open it again with open_link()")

    def __enter__(self) -> EmulatedLink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_link(ns: str, term_if: str, gnd_if: str, backend: Requested = "auto",
              spec: LinkSpec | None = None) -> EmulatedLink:
    """Start an emulated link between two interfaces of namespace `ns` (a context manager)."""
    return EmulatedLink(ns, term_if, gnd_if, backend, spec)


def attach_link(address: LinkAddress) -> EmulatedLink:
    """Control a link another process started (a running lab's), without owning it.

    Its current impairment is read from the engine or the kernel; closing the returned link only
    lets go of it.
    """
    return EmulatedLink.attach(address)
