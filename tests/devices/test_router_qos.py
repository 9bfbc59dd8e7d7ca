"""Operational traffic keeps its share of a WAN's uplink while passengers saturate it (HTB)."""

from __future__ import annotations

import threading
import time

import pytest

from bench.traffic.passenger import Transfer, upload_in
from bench.lab.lab import Lab
from tests.devices.router_helpers import TEST_CONFIG, router_with

pytestmark = pytest.mark.lab
LINK_KBIT = 20000
SECONDS = 5.0


def _parallel(jobs: list[tuple[str, str]], seconds: float) -> list[Transfer]:
    results: list[Transfer | BaseException | None] = [None] * len(jobs)

    def run(i: int, ns: str, ifname: str) -> None:
        try:
            results[i] = upload_in(ns, ifname, seconds)
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the test's thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, ns, ifname)) for i, (ns, ifname) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]


def test_ops_keeps_its_share_under_passenger_saturation(lab: Lab) -> None:
    router = router_with(lab, TEST_CONFIG.override({"wans": {"oneweb": {"uplink_kbit": LINK_KBIT}}}))
    try:
        router.wait_for("oneweb active", lambda s: s["active"] == {"passengers": "oneweb", "ops": "oneweb"}, 10)
        pax, ops = (lab.ns("passengers"), "wifi0"), (lab.ns("ops"), "ops0")
        link = LINK_KBIT * 1000
        guaranteed = link * router.config.qos.ops_share
        before = router.htb_stats("wan-oneweb")
        t0 = time.time()
        alone = _parallel([pax] * 3, SECONDS)
        pax_alone = sum(t.bits_per_s for t in alone)
        both = _parallel([pax] * 3 + [ops], SECONDS)
        after = router.htb_stats("wan-oneweb")
        ops_rate = both[-1].bits_per_s
        pax_rate = sum(t.bits_per_s for t in both[:-1])
        print(f"uplink {link / 1e6:.0f} Mbit/s (HTB), ops guaranteed {guaranteed / 1e6:.1f} Mbit/s: passengers alone "
              f"{pax_alone / 1e6:.2f} Mbit/s; under saturation ops {ops_rate / 1e6:.2f} Mbit/s, passengers {pax_rate / 1e6:.2f} Mbit/s")
        # Passengers alone borrow the whole link; ops, sharing it, gets at least its guarantee.
        assert pax_alone >= 0.85 * link
        assert ops_rate >= 0.9 * guaranteed
        assert ops_rate + pax_rate <= 1.08 * link
        # The probes ride in the router's own class: a saturated uplink is not a dead one.
        assert router.events(since=t0, event="wan_down") == []
        # The traffic went through the classes the ruleset put it in.
        assert after["1:20"]["bytes"] - before["1:20"]["bytes"] >= both[-1].bytes
        assert after["1:30"]["bytes"] - before["1:30"]["bytes"] >= sum(t.bytes for t in alone + both[:-1])
    finally:
        router_with(lab, TEST_CONFIG)
