"""The captive portal, the free-tier cap, premium packages and bundle quotas, measured."""

from __future__ import annotations

import json
import socket

import pytest

from bench.devices.reference import ReferenceRouter
from bench.traffic.passenger import Passenger
from bench.lab.lab import Lab
from tests.devices.router_helpers import TEST_BUNDLE_BYTES, TEST_CONFIG, buy, free_tier_rates, rate_bps, router, router_with  # noqa: F401

pytestmark = pytest.mark.lab


def _accept(p: Passenger) -> dict:
    status, _, body = p.http("POST", "http://portal.skybench.test/api/accept", body="")
    assert status == 200, body
    return json.loads(body)


def test_unauthenticated_passenger_is_sent_to_the_portal_and_held_in_the_walled_garden(lab: Lab, router: ReferenceRouter) -> None:
    with Passenger(lab, "unauth") as p:
        p.connect()
        status, headers, _ = p.http("GET", "http://origin.skybench.test/news")
        assert status == 302 and headers["location"].startswith("http://portal.skybench.test/")
        status, _, page = p.http("GET", "http://portal.skybench.test/")
        assert status == 200 and b"Accept the terms" in page
        status, _, _ = p.http("GET", "http://pay.skybench.test/checkout?order=x&amount=1")
        assert status == 200  # the payment provider is in the walled garden
        with pytest.raises(ConnectionRefusedError):
            p.download(seconds=0.5)  # anything else: refused (TCP reset)
        with pytest.raises(OSError):
            p.run_in(lambda: socket.create_connection(("198.19.0.1", 443), timeout=2).close())
        # Other passengers' sessions are not a passenger's business.
        assert p.http("GET", "http://portal.skybench.test/api/status")[0] == 403


def test_free_tier_is_held_to_its_cap(lab: Lab, router: ReferenceRouter) -> None:
    cap = router.config.portal.free_tier.down_kbit * 1000
    wire, payload, session = free_tier_rates(lab, seconds=6.0)
    assert session["tier"] == "free"
    print(f"free tier, cap {cap / 1e6:.3f} Mbit/s (htb): wire {wire / 1e6:.3f} Mbit/s ({wire / cap:.1%}), payload {payload / 1e6:.3f} Mbit/s")
    assert 0.88 * cap <= wire <= 1.08 * cap


def test_whole_trip_passenger_is_never_cut(lab: Lab, router: ReferenceRouter) -> None:
    cap = router.config.portal.free_tier.down_kbit * 1000
    with Passenger(lab, "trip") as p:
        p.connect()
        status, session = buy(p, "unlimited-trip")
        assert status == 200 and session["tier"] == "unlimited"
        samples: list = []
        t = p.download(nbytes=int(TEST_BUNDLE_BYTES * 1.5), samples=samples, sample_s=0.1)
        client = next(c for c in router.status()["clients"] if c["mac"] == p.mac)
        print(f"whole trip: {t.bytes / 1e6:.0f} MB in {t.seconds:.2f} s = {t.bits_per_s / 1e6:.0f} Mbit/s; "
              f"accounted down {client['bytes_down']} B, client received {t.ip_bytes_rx} IP bytes")
        # Per-client accounting (kernel counters) agrees with what the client received.
        assert abs(client["bytes_down"] - t.ip_bytes_rx) <= 0.01 * t.ip_bytes_rx
        assert client["bytes_up"] > 0
        assert t.bytes >= TEST_BUNDLE_BYTES * 1.5
        # Never held anywhere near the free-tier cap (last second included).
        assert rate_bps(samples, samples[-1][0] - 1.0, samples[-1][0]) > 20 * cap


def test_bundle_is_cut_back_to_the_free_tier_after_its_bytes(lab: Lab, router: ReferenceRouter) -> None:
    cap = router.config.portal.free_tier.down_kbit * 1000
    with Passenger(lab, "bundle") as p:
        p.connect()
        status, session = buy(p, "bundle-test")
        assert status == 200 and session["tier"] == "bundle"
        samples: list = []

        def slow_for_2s(s: list) -> bool:
            # Stop once the transfer has run at free-tier speed for two seconds.
            if len(s) < 2 or s[-1][2] < TEST_BUNDLE_BYTES * 0.9:
                return False
            back = [x for x in s if x[0] >= s[-1][0] - 2.0]
            return s[-1][0] - back[0][0] >= 1.9 and (s[-1][2] - back[0][2]) * 8 / (s[-1][0] - back[0][0]) < 3 * cap

        p.download(seconds=90, samples=samples, sample_s=0, stop_when=slow_for_2s)
        used = next(s for s in router.status()["sessions"] if s["mac"] == p.mac)
    assert samples[-1][2] > TEST_BUNDLE_BYTES, "the transfer ended before the bundle was used up"
    # The cut: the last moment the client still received at premium speed (100 ms windows).
    cut = None
    for i in range(len(samples) - 1, 0, -1):
        j = max(k for k in range(i + 1) if samples[k][0] <= samples[i][0] - 0.1) if samples[i][0] > 0.1 else 0
        if (samples[i][2] - samples[j][2]) * 8 / max(samples[i][0] - samples[j][0], 1e-6) > 20 * cap:
            cut = samples[i]
            break
    assert cut is not None
    error = (cut[2] - TEST_BUNDLE_BYTES) / TEST_BUNDLE_BYTES
    premium = cut[2] * 8 / cut[0]
    after = rate_bps(samples, samples[-1][0] - 1.5, samples[-1][0], column=3)
    print(f"bundle {TEST_BUNDLE_BYTES} B: cut back after {cut[2]} IP bytes at the client ({error:+.3%}), "
          f"premium {premium / 1e6:.0f} Mbit/s, then {after / 1e6:.3f} Mbit/s (cap {cap / 1e6:.3f}); quota object used {used['quota_used_bytes']} B")
    assert abs(error) <= 0.02
    assert after <= 1.3 * cap
    assert used["quota_exhausted"] is True


def test_quota_counts_every_byte_exactly(lab: Lab, router: ReferenceRouter) -> None:
    payload, count = 1000, 50
    with Passenger(lab, "exact") as p:
        p.connect()
        buy(p, "bundle-test")

        def exchange() -> list[bytes]:
            replies = []
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                for i in range(count):
                    s.sendto(bytes([i % 256]) * payload, ("198.19.0.1", 7070))
                    replies.append(s.recv(4096))
            return replies

        replies = p.run_in(exchange)
        used = next(s for s in router.status()["sessions"] if s["mac"] == p.mac)["quota_used_bytes"]
    # Each datagram: 20 (IP) + 8 (UDP) + payload up; the echo (payload + " from <WAN address>") down.
    expected = sum(28 + payload + 28 + len(r) for r in replies)
    print(f"{count} UDP exchanges: quota object counted {used} B, IP bytes on the wire {expected} B")
    assert used == expected


def test_a_declined_card_buys_nothing(lab: Lab, router: ReferenceRouter) -> None:
    with Passenger(lab, "declined") as p:
        p.connect()
        _accept(p)
        status, body = buy(p, "unlimited-trip", card="4000 0000 0000 0002")
        assert status == 402 and body["payment"]["status"] == "declined"
        session = next(s for s in router.status()["sessions"] if s["mac"] == p.mac)
        assert session["tier"] == "free"


def test_without_quota_enforcement_a_bundle_is_counted_but_not_cut(lab: Lab) -> None:
    router = router_with(lab, TEST_CONFIG.override({"portal": {"quota_enforced": False}}))
    cap = router.config.portal.free_tier.down_kbit * 1000
    try:
        with Passenger(lab, "noquota") as p:
            p.connect()
            buy(p, "bundle-test")
            samples: list = []
            t = p.download(nbytes=int(TEST_BUNDLE_BYTES * 1.3), samples=samples, sample_s=0.1)
            used = next(s for s in router.status()["sessions"] if s["mac"] == p.mac)
        assert t.bytes >= TEST_BUNDLE_BYTES * 1.3
        assert rate_bps(samples, samples[-1][0] - 1.0, samples[-1][0]) > 20 * cap
        assert used["quota_used_bytes"] >= TEST_BUNDLE_BYTES  # counted to the end (the kernel reports at most the size)
    finally:
        router_with(lab, TEST_CONFIG)


@pytest.mark.parametrize("one_way_delay", ["0ms", "50ms"])
def test_cap_mechanisms_compared(lab: Lab, one_way_delay: str) -> None:
    """Benchmark: the free-tier cap shaped per client with HTB vs policed with an nftables meter,
    on the bare lab and with a LEO-like 100 ms round trip on the active WAN."""
    results = {}
    link = lab.link("oneweb")
    try:
        for direction in ("uplink", "downlink"):
            link.set_direction(direction, delay=one_way_delay)
        for mechanism in ("htb", "nft-limit"):
            router = router_with(lab, TEST_CONFIG.override({"portal": {"free_tier": {"mechanism": mechanism}}}))
            cap = router.config.portal.free_tier.down_kbit * 1000
            with Passenger(lab, f"cap-{mechanism}") as p:
                p.connect()
                _accept(p)
                samples: list = []
                p.download(seconds=6, samples=samples)
            results[mechanism] = rate_bps(samples, 1.0, 6.0, column=3)
    finally:
        for direction in ("uplink", "downlink"):
            link.set_direction(direction, delay="0ms")
        router_with(lab, TEST_CONFIG)
    for mechanism, rate in results.items():
        print(f"cap {cap / 1e6:.3f} Mbit/s by {mechanism}, one-way delay {one_way_delay}: {rate / 1e6:.3f} Mbit/s on the wire ({rate / cap:.1%})")
    assert 0.9 * cap <= results["htb"] <= 1.05 * cap
    assert 0.2 * cap <= results["nft-limit"] <= 1.15 * cap


def test_free_tier_upload_is_policed_to_its_cap(lab: Lab, router: ReferenceRouter) -> None:
    cap = router.config.portal.free_tier.up_kbit * 1000
    with Passenger(lab, "upload") as p:
        p.connect()
        _accept(p)
        # The nftables limit's bucket holds a second's worth of rate plus the burst (the kernel's
        # tokens_max): a first upload empties it, the measured one starts right after.
        p.upload(seconds=2)
        t = p.upload(seconds=6)
    # The ground's sink saw this much payload between its first and last byte.
    print(f"free tier upload, cap {cap / 1e6:.3f} Mbit/s (nftables meter): {t.bits_per_s / 1e6:.3f} Mbit/s payload ({t.bits_per_s / cap:.1%})")
    assert 0.5 * cap <= t.bits_per_s <= 1.1 * cap
