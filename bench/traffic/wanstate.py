"""The reference router's WAN state as the suites need it: wait for the steady state (every WAN
up, each class on its most preferred WAN) and which WAN a class uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.devices.reference.router import ReferenceRouter


def preferred(router: ReferenceRouter, traffic_class: str = "passengers") -> list[str]:
    assert router.plan is not None
    return router.plan.class_order(traffic_class)


def settle(router: ReferenceRouter, extra_s: float = 15.0) -> dict[str, Any]:
    """Wait until every WAN is up and both classes use their most preferred WAN: at most the
    configured way back (up_after probes, then the failback hold) plus `extra_s`."""
    h = router.config.health
    want = {tc: preferred(router, tc)[0] for tc in ("passengers", "ops")}
    timeout = h.up_after * h.interval_s + h.timeout_s + h.failback_hold_s + extra_s
    try:
        return router.wait_for("every WAN up, classes on their preferred WAN",
                               lambda s: s if s["active"] == want and all(w["state"] == "up" for w in s["wans"].values()) else None,
                               timeout)
    except TimeoutError:
        s = router.status()
        raise BenchError(f"the router did not settle within {timeout:.0f} s: active {s['active']}, "
                         f"WANs {({n: w['state'] for n, w in s['wans'].items()})}", where=router.name,
                         fix="a link left in outage by an earlier test? see the step log") from None


def wait_active(router: ReferenceRouter, wan: str, timeout_s: float, traffic_class: str = "passengers") -> dict[str, Any]:
    return router.wait_for(f"{traffic_class} on {wan}", lambda s: s if s["active"][traffic_class] == wan else None, timeout_s)
