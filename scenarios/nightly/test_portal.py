"""Nightly: the captive portal, through the DUT profile's own journey. The walled garden and the
purchase flow, free-tier cap accuracy (POR-2), bundle enforcement (POR-3), and bypass attempts by
a passenger who has not paid (POR-4). The procedures are bench/procedures/portal.py; the caps and
sizes judged against are the operator's, from the DUT profile.

POR-3 buys the profile's bundle as the operator sells it (the reference router: 1 GB) and
downloads until the passenger's speed falls to the free tier's: the volume received up to the
last moment at full speed is the cut, set against the bundle's size.

POR-4 counts the attempts whose unique token reached a ground witness (TCP, UDP, DNS and ICMP
listeners on ground addresses no lab name resolves to); the paying passenger's own traffic and
hand-built frames with its own addresses must reach the witness first, or nothing is measured.
A full MAC and IP clone of a paying passenger who has LEFT is what no router can tell from the
passenger itself: it is reported as a known exposure (test_clone_of_a_departed_passenger), with
the window measured, as an xfail whose reason gives the window, and written to
`known-exposures.jsonl` in the results directory; it is not counted in POR-4 (the catalogue's
method says so) and never passes silently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest

from bench.devices.profile import DutProfile
from bench.devices.protocols import OnboardRouter
from bench.lab import addressing, netns
from bench.lab.lab import Lab
from bench.procedures.portal import bundle_cut, bypass_attempts, free_tier_rates, session_evidence
from bench.steps import step
from bench.traffic import attempts
from bench.traffic.bypass import GroundWitness, new_token
from bench.traffic.journey import DECLINED_CARD, JourneyError
from bench.traffic.passenger import Passenger

pytestmark = [pytest.mark.nightly, pytest.mark.lab, pytest.mark.usefixtures("traveller")]  # the steady state first

EXPOSURE_OBSERVE_S = 20.0  # how long the clone's access is followed (the window is ">= this" if it never ends)
ORIGIN = f"http://origin.{addressing.LAB_DOMAIN}/"


@pytest.fixture(scope="module")
def witness(lab: Lab) -> Iterator[GroundWitness]:
    with GroundWitness(lab) as w:
        yield w


def _free_tier(profile: DutProfile) -> Any:
    if profile.portal.free_tier is None:
        pytest.skip(f"the DUT profile declares no free tier (portal.free_tier in {profile.source})")
    return profile.portal.free_tier


def _origin_reached(p: Passenger) -> bool:
    """An HTTP request to the ground's origin got the origin's own page (not a portal's)."""
    try:
        status, _, body = p.http("GET", ORIGIN, timeout_s=5)
    except OSError:
        return False
    return status == 200 and b"skybench origin server" in body


def test_walled_garden_and_purchase_flow(lab: Lab, profile: DutProfile) -> None:
    package = profile.portal.unlimited() or next(iter(profile.portal.packages), None)
    if package is None:
        pytest.skip(f"the DUT profile sells no package ({profile.source})")
    with Passenger(lab, "garden") as p:
        p.connect()
        assert not p.online(), "a new passenger's captive check said online before any portal step"
        assert not _origin_reached(p), "a new passenger reached the ground's origin without the portal"
        with pytest.raises(JourneyError):
            p.go_online(package, card=DECLINED_CARD)  # the last step, or the check after it, must fail
        assert not p.online() and not _origin_reached(p), "a declined card opened the internet"
        p.go_online(package)  # the walled garden lets the passenger reach the payment provider
        assert p.online() and _origin_reached(p), "the purchase did not open the internet"


@pytest.mark.requirement("POR-2")
def test_free_tier_cap_accuracy(lab: Lab, dut: OnboardRouter, profile: DutProfile, measure: Any) -> None:
    cap = _free_tier(profile).down_kbit * 1000
    r = free_tier_rates(lab, dut, seconds=7.0)
    print(f"free tier: cap {cap / 1e6:.3f} Mbit/s, on the wire {r.wire_bps / 1e6:.3f} Mbit/s ({r.wire_bps / cap - 1:+.2%}), "
          f"payload {r.payload_bps / 1e6:.3f} Mbit/s; the DUT says {session_evidence(r.dut_session)}")
    measure("POR-2", (r.wire_bps / cap - 1) * 100, units="%", cap_mbps=cap / 1e6, wire_mbps=round(r.wire_bps / 1e6, 4),
            payload_mbps=round(r.payload_bps / 1e6, 4), **session_evidence(r.dut_session))


@pytest.mark.requirement("POR-3")
def test_bundle_is_cut_at_its_size(lab: Lab, dut: OnboardRouter, profile: DutProfile, measure: Any) -> None:
    cap = _free_tier(profile).down_kbit * 1000
    bundles = profile.portal.bundles()
    if not bundles:
        pytest.skip(f"the DUT profile sells no bundle ({profile.source})")
    package, spec = next(iter(bundles.items()))
    assert spec.bytes is not None
    r = bundle_cut(lab, dut, package, spec.bytes, cap)
    print(f"bundle {package} ({spec.bytes} B): {'cut back after' if r.cut else 'NOT cut; still at full speed after'} "
          f"{r.cut_at_bytes if r.cut else r.delivered_bytes} IP bytes ({r.error:+.3%}); the DUT says {session_evidence(r.dut_session)}")
    measure("POR-3", r.error * 100, units="%", package=package, bundle_bytes=spec.bytes, ip_bytes_at_cut=r.cut_at_bytes,
            delivered_bytes=r.delivered_bytes, cut=r.cut, **session_evidence(r.dut_session))


@pytest.mark.requirement("POR-4")
def test_unpaid_passenger_cannot_bypass_the_portal(lab: Lab, witness: GroundWitness, measure: Any) -> None:
    with Passenger(lab, "payer") as payer, Passenger(lab, "sneak") as sneak:
        payer.board()
        sneak.connect()  # a lease, no terms accepted, nothing paid
        payer_online = _origin_reached(payer)
        r = bypass_attempts(witness, payer, sneak)
    for name, (got, said) in r.results.items():
        print(f"{'GOT THROUGH' if got else 'blocked    '}  {name}: {said}")
    # A broken witness or spoofing check would count 0 bypasses: the count means nothing then.
    measure("POR-4", len(r.through), units="count", attempts=len(r.results), got_through=r.through, preconditions={
        "the paying passenger reaches the ground's origin": payer_online,
        "the paying passenger's own UDP reaches the witness": r.witness_works,
        "hand-built frames with the payer's own MAC and IP get through (the spoofing check works)": r.spoofing_works})


def test_clone_of_a_departed_passenger(lab: Lab, dut: OnboardRouter, witness: GroundWitness, request: pytest.FixtureRequest) -> None:
    """Known exposure: after a paying passenger leaves, a device with its MAC and IP is, to any
    router, that passenger. How long the clone keeps access is the exposure's window."""
    with Passenger(lab, "leaver") as leaver:
        leaver.board()
        assert leaver.lease is not None
        mac, ip, mask, gateway = leaver.mac, leaver.lease.ip, leaver.lease.mask, leaver.lease.router
    left_at = time.time()
    with Passenger(lab, "clone", mac=mac) as clone:
        with netns.ipr(clone.ns) as ipr:
            idx = ipr.link_lookup(ifname=clone.IFNAME)[0]
            ipr.addr("add", index=idx, address=ip, prefixlen=mask)
            ipr.route("replace", dst="0.0.0.0/0", gateway=gateway)
        first = last = None
        start = time.time()
        while time.time() - start < EXPOSURE_OBSERVE_S:
            token = new_token()
            attempts.direct_udp(clone.ns, token)
            if witness.saw(token):
                first = first or time.time()
                last = time.time()
            elif first is not None:
                break
            time.sleep(0.5)
    window = (last - left_at) if last else 0.0
    still_open = last is not None and time.time() - last < 2.0
    record = {"exposure": "full MAC and IP clone of a paying passenger who has left", "dut": dut.name,
              "left_at": left_at, "window_s": round(window, 2), "observed_s": EXPOSURE_OBSERVE_S, "still_open_at_end": still_open,
              "test": request.node.nodeid}
    with step("known exposure", **record):
        _record_exposure(request.config, record)
    print(f"known exposure: a clone of a departed paying passenger had access for {window:.1f} s"
          f"{' and still had it when the observation ended' if still_open else ''}")
    if first is not None:
        pytest.xfail(f"known exposure: a full MAC+IP clone of a paying passenger who left kept access for "
                     f"{'>= ' if still_open else ''}{window:.1f} s (observed {EXPOSURE_OBSERVE_S:.0f} s); no router can tell it apart")


def _record_exposure(config: pytest.Config, record: dict[str, Any]) -> None:
    allure.attach(json.dumps(record, indent=2), name="known exposure", attachment_type=allure.attachment_type.JSON)
    results = config.getoption("--results-dir")
    if results:
        with open(Path(results) / "known-exposures.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
