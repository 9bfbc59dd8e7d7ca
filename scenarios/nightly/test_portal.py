"""Nightly: the captive portal. Free-tier cap accuracy (POR-2), bundle enforcement (POR-3), the
walled garden and purchase flows, and bypass attempts by a passenger who has not paid (POR-4).

POR-3 uses a small bundle added to the router's configuration (BUNDLE_BYTES, 100 MB; set
SKYBENCH_BUNDLE_BYTES=1000000000 for the real 1 GB): the cut is made by the kernel, which counts
every forwarded IP byte of the client in both directions in an nftables quota object (byte-exact:
tests/devices/test_router_portal.py::test_quota_counts_every_byte_exactly), so the size does not
change the mechanism, only how long the download takes (1 GB: 10-60 s here). A small bundle is the
harder case for accuracy: the fixed overshoot at the cut (HTB bucket and packets in flight, ~90 kB)
is 10 times larger a share of 100 MB than of 1 GB. The router's own configuration under test
(router.yaml or --router-config) is kept; only the package is added.

POR-4 counts the attempts whose unique token reached a ground witness (TCP, UDP, DNS and ICMP
listeners on ground addresses no lab name resolves to). A full MAC and IP clone of a paying
passenger who has LEFT is what no router can tell from the passenger itself: it is reported as a
known exposure (test_clone_of_a_departed_passenger), with the window measured, as an xfail whose
reason gives the window, and written to `known-exposures.jsonl` in the results directory; it is
not counted in POR-4 (the catalogue's method says so) and never passes silently.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import allure
import pytest

from bench.devices.reference.clients import buy, free_tier_rates, running, whole_trip
from bench.devices.reference.config import RouterConfig
from bench.devices.reference.passenger import Passenger
from bench.devices.reference.router import ReferenceRouter
from bench.lab import netns
from bench.lab.lab import Lab
from bench.steps import step
from bench.traffic import attempts, wanstate
from bench.traffic.bypass import GroundWitness, new_token
from bench.traffic.quota import cut_point, slow_for

pytestmark = [pytest.mark.nightly, pytest.mark.lab]

BUNDLE_BYTES = int(os.environ.get("SKYBENCH_BUNDLE_BYTES", "100000000"))
BUNDLE_ID = "bundle-nightly"
EXPOSURE_OBSERVE_S = 20.0  # how long the clone's access is followed (the window is ">= this" if it never ends)


@pytest.fixture(scope="module")
def router(lab: Lab) -> Iterator[ReferenceRouter]:
    if lab.router is None:
        pytest.skip("these measurements need the embedded reference router as the DUT")
    under_test: RouterConfig = lab.router.config
    packages = [p.model_dump() for p in under_test.portal.packages if p.id != BUNDLE_ID]
    with_bundle = under_test.override({"portal": {"packages": [
        {"id": BUNDLE_ID, "kind": "bundle", "bytes": BUNDLE_BYTES, "price_kzt": 300, "title": "nightly test bundle"}, *packages]}})
    router = running(lab, with_bundle)
    wanstate.settle(router)
    try:
        yield router
    finally:
        running(lab, under_test)


@pytest.fixture(scope="module")
def witness(lab: Lab, router: ReferenceRouter) -> Iterator[GroundWitness]:
    with GroundWitness(lab) as w:
        yield w


def test_walled_garden_and_purchase_flow(lab: Lab, router: ReferenceRouter) -> None:
    with Passenger(lab, "garden") as p:
        p.connect()
        status, headers, _ = p.http("GET", "http://origin.skybench.test/news")
        assert status == 302 and headers["location"].startswith("http://portal.skybench.test/"), (status, headers)
        assert p.http("GET", "http://portal.skybench.test/")[0] == 200
        assert p.http("GET", "http://pay.skybench.test/checkout?order=x&amount=1")[0] == 200
        status, body = buy(p, "unlimited-trip", card="4000 0000 0000 0002")
        assert status == 402 and body["payment"]["status"] == "declined"
        assert p.http("GET", "http://origin.skybench.test/news")[0] == 302, "a declined card opened the internet"
        status, session = buy(p, "unlimited-trip")
        assert status == 200 and session["tier"] == "unlimited"
        assert p.http("GET", "http://origin.skybench.test/news")[0] == 200


@pytest.mark.requirement("POR-2")
def test_free_tier_cap_accuracy(lab: Lab, router: ReferenceRouter, measure) -> None:
    cap = router.config.portal.free_tier.down_kbit * 1000
    wire, payload, session = free_tier_rates(lab, seconds=7.0)
    assert session["tier"] == "free"
    print(f"free tier: cap {cap / 1e6:.3f} Mbit/s, on the wire {wire / 1e6:.3f} Mbit/s ({wire / cap - 1:+.2%}), payload {payload / 1e6:.3f} Mbit/s")
    measure("POR-2", (wire / cap - 1) * 100, units="%", cap_mbps=cap / 1e6, wire_mbps=round(wire / 1e6, 4),
            payload_mbps=round(payload / 1e6, 4), mechanism=router.config.portal.free_tier.mechanism)


@pytest.mark.requirement("POR-3")
def test_bundle_is_cut_at_its_size(lab: Lab, router: ReferenceRouter, measure) -> None:
    cap = router.config.portal.free_tier.down_kbit * 1000
    with Passenger(lab, "bundle") as p:
        p.connect()
        status, session = buy(p, BUNDLE_ID)
        assert status == 200 and session["tier"] == "bundle", session
        samples: list = []
        # Until it has run at free-tier speed for 2 s, or (never cut) 30 % past the bundle.
        stop = slow_for(2.0, cap, BUNDLE_BYTES * 0.9)
        p.download(seconds=120, samples=samples, sample_s=0, stop_when=lambda s: stop(s) or s[-1][2] > BUNDLE_BYTES * 1.3)
        used = next(s for s in router.status()["sessions"] if s["mac"] == p.mac)
    delivered = samples[-1][2]
    cut = cut_point(samples, cap) if stop(samples) else None
    at_cut = cut[2] if cut else delivered
    error = (at_cut - BUNDLE_BYTES) / BUNDLE_BYTES
    print(f"bundle {BUNDLE_BYTES} B: {'cut back after' if cut else 'NOT cut; still at full speed after'} {at_cut} IP bytes ({error:+.3%}); "
          f"router reports used {used['quota_used_bytes']} B, exhausted {used['quota_exhausted']}, enforced {router.config.portal.quota_enforced}")
    measure("POR-3", error * 100, units="%", bundle_bytes=BUNDLE_BYTES, ip_bytes_at_cut=at_cut, cut=cut is not None,
            quota_used_bytes=used["quota_used_bytes"], quota_enforced=router.config.portal.quota_enforced)


@pytest.mark.requirement("POR-4")
def test_unpaid_passenger_cannot_bypass_the_portal(lab: Lab, router: ReferenceRouter, witness: GroundWitness, measure) -> None:
    results: dict[str, tuple[bool, str]] = {}
    with Passenger(lab, "payer") as payer, Passenger(lab, "sneak") as sneak:
        whole_trip(payer)
        sneak.connect()  # a lease, no terms accepted, nothing paid
        assert payer.http("GET", "http://origin.skybench.test/")[0] == 200, "the paying passenger has no internet: nothing to compare with"
        router_mac = _router_lan_mac(lab, router)

        def attempt(name: str, run) -> None:  # noqa: ANN001
            token = new_token()
            with step(f"bypass attempt: {name}", token=token) as rec:
                said = run(token)
                time.sleep(0.3)
                got = witness.saw(token)
                rec["result"] = f"{'GOT THROUGH' if got else 'blocked'}: {said}"
            results[name] = (got, said)

        attempt("TCP to a ground host by IP address", lambda t: attempts.direct_tcp(sneak.ns, t))
        attempt("UDP to a ground host by IP address", lambda t: attempts.direct_udp(sneak.ns, t))
        status, headers, body = sneak.http("GET", "http://198.19.0.1/bytes/64")
        results["HTTP to the origin by IP address"] = (status == 200 and len(body) == 64, f"HTTP {status} {headers.get('location', '')}")
        attempt("DNS to an outside resolver", lambda t: attempts.dns_to_outside(sneak.ns, t))
        attempt("DNS tunnel (TXT) through the router's resolver", lambda t: attempts.dns_tunnel(sneak.ns, t, sneak.lease.dns))
        attempt("ICMP tunnel (echo payloads)", lambda t: attempts.icmp_tunnel(sneak.ns, t))
        attempt("paying passenger's MAC, own IP (while online)", lambda t: attempts.spoofed_udp(
            sneak.ns, sneak.IFNAME, t, src_mac=payer.mac, src_ip=sneak.lease.ip, dst_mac=router_mac))
        attempt("paying passenger's IP, own MAC (while online)", lambda t: attempts.spoofed_udp(
            sneak.ns, sneak.IFNAME, t, src_mac=sneak.mac, src_ip=payer.lease.ip, dst_mac=router_mac))
        # The witness and the spoofing work: the same frames from the payer's own MAC and IP get through.
        control = new_token()
        attempts.spoofed_udp(sneak.ns, sneak.IFNAME, control, src_mac=payer.mac, src_ip=payer.lease.ip, dst_mac=router_mac)
        payer_token = new_token()
        attempts.direct_udp(payer.ns, payer_token)
        time.sleep(0.3)
    through = [name for name, (got, _) in results.items() if got]
    for name, (got, said) in results.items():
        print(f"{'GOT THROUGH' if got else 'blocked    '}  {name}: {said}")
    measure("POR-4", len(through), units="count", attempts=len(results), got_through=through)
    assert witness.saw(payer_token), "the paying passenger's own UDP did not reach the witness: the witness is broken, not the portal"
    assert witness.saw(control), "hand-built frames with the payer's own MAC and IP did not get through: the spoofing check is broken"


@pytest.mark.requirement("POR-4")
def test_clone_of_a_departed_passenger(lab: Lab, router: ReferenceRouter, witness: GroundWitness, request: pytest.FixtureRequest) -> None:
    """Known exposure: after a paying passenger leaves, a device with its MAC and IP is, to any
    router, that passenger. How long the clone keeps access is the exposure's window."""
    with Passenger(lab, "leaver") as leaver:
        whole_trip(leaver)
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
    record = {"exposure": "full MAC and IP clone of a paying passenger who has left", "router": router.name,
              "left_at": left_at, "window_s": round(window, 2), "observed_s": EXPOSURE_OBSERVE_S, "still_open_at_end": still_open,
              "test": request.node.nodeid}
    with step("known exposure", **record):
        _record_exposure(request.config, record)
    print(f"known exposure: a clone of a departed paying passenger had access for {window:.1f} s"
          f"{' and still had it when the observation ended' if still_open else ''}")
    if first is not None:
        pytest.xfail(f"known exposure: a full MAC+IP clone of a paying passenger who left kept access for "
                     f"{'>= ' if still_open else ''}{window:.1f} s (observed {EXPOSURE_OBSERVE_S:.0f} s); no router can tell it apart")


def _router_lan_mac(lab: Lab, router: ReferenceRouter) -> str:
    assert router.plan is not None
    with netns.ipr(lab.ns("router")) as ipr:
        link = ipr.get_links(ipr.link_lookup(ifname=router.plan.passenger_if)[0])[0]
        return link.get_attr("IFLA_ADDRESS")


def _record_exposure(config: pytest.Config, record: dict) -> None:
    allure.attach(json.dumps(record, indent=2), name="known exposure", attachment_type=allure.attachment_type.JSON)
    results = config.getoption("--results-dir")
    if results:
        with open(Path(results) / "known-exposures.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
