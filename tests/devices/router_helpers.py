"""Shared pieces of the reference-router tests: the test configuration, the fixture that runs the
lab's router with it, and the purchase flow as the reference portal answers it (its own JSON: the
tests of the router look inside it; the suites judge any DUT by the wire, bench.traffic.journey)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from bench.devices.reference import ReferenceRouter, RouterConfig, load_router_config
from bench.errors import BenchError
from bench.lab.lab import Lab
from bench.traffic.journey import ACCEPTED_CARD
from bench.traffic.passenger import Passenger
from bench.traffic.quota import rate_bps  # noqa: F401 - the router tests' throughput arithmetic

PORTAL = "http://portal.skybench.test"
PAY = "pay.skybench.test"


def accept_terms(p: Passenger) -> dict[str, Any]:
    """The free tier: accept the portal's terms; returns the session the portal reports."""
    status, _, body = p.http("POST", f"{PORTAL}/api/accept", body="")
    if status != 200:
        raise BenchError(f"the portal refused the terms: HTTP {status} {body[:200]!r}", where=p.name)
    return json.loads(body)


def buy(p: Passenger, package: str, card: str = ACCEPTED_CARD) -> tuple[int, dict[str, Any]]:
    """The whole purchase: order at the portal, pay at the provider, come back to the portal.
    Returns the portal's final status and JSON body (200 and the session when granted)."""
    status, _, body = p.http("POST", f"{PORTAL}/api/buy", body=f"package={package}")
    if status != 200:
        raise BenchError(f"the portal refused to sell {package!r}: HTTP {status} {body[:200]!r}", where=p.name)
    checkout = urlparse(json.loads(body)["checkout_url"])
    if checkout.hostname != PAY:
        raise BenchError(f"checkout sent to {checkout.hostname!r}, expected {PAY}", where=p.name)
    q = {k: v[0] for k, v in parse_qs(checkout.query).items()}
    form = f"order={q['order']}&amount={q['amount']}&return={q['return']}&card={card}"
    status, headers, body = p.http("POST", f"http://{PAY}/checkout/pay", body=form)
    if status != 303:
        raise BenchError(f"the payment provider answered HTTP {status}, expected a 303 back to the portal: {body[:200]!r}", where=p.name)
    status, _, body = p.http("GET", headers["location"])
    return status, json.loads(body)


def free_tier_rates(lab: Lab, seconds: float, name: str = "free") -> tuple[float, float, dict[str, Any]]:
    """A new passenger on the free tier downloads for `seconds`: its rate on the wire (Ethernet
    bytes) and as payload, from second 1 on, in bit/s, and the session the portal gave it."""
    with Passenger(lab, name) as p:
        p.connect()
        session = accept_terms(p)
        samples: list[tuple[float, int, int, int]] = []
        p.download(seconds=seconds, samples=samples)
    return rate_bps(samples, 1.0, seconds, column=3), rate_bps(samples, 1.0, seconds, column=1), session

# The smaller bundle the tests buy: 1 GB takes 10-30 s through this machine's lab; the data path
# is the same for any size (test_quota_counts_every_byte_exactly shows the counting is exact).
# SKYBENCH_BUNDLE_BYTES=1000000000 runs the tests with the real 1 GB bundle.
TEST_BUNDLE_BYTES = int(os.environ.get("SKYBENCH_BUNDLE_BYTES", "100000000"))

TEST_CONFIG: RouterConfig = load_router_config().override(
    {
        # Fast probes so failover tests take seconds; a WAN is down after 3 misses (<= 1.15 s).
        "health": {"interval_s": 0.3, "timeout_s": 0.25, "down_after": 3, "up_after": 3, "failback_hold_s": 3.0},
        "portal": {
            "packages": [
                {"id": "bundle-test", "kind": "bundle", "bytes": TEST_BUNDLE_BYTES, "price_kzt": 300, "title": "test bundle"},
                *[p.model_dump() for p in load_router_config().portal.packages],
            ]
        },
    }
)


def router_with(lab: Lab, config: RouterConfig) -> ReferenceRouter:
    router: ReferenceRouter | None = lab.router
    if router is None:
        pytest.skip("the lab's DUT is not the embedded reference router")
    if router.config != config or router.plan is None:
        router.restart(config)
    return router


@pytest.fixture
def router(lab: Lab) -> Iterator[ReferenceRouter]:
    """The lab's reference router running TEST_CONFIG (restarted only when a test changed it)."""
    yield router_with(lab, TEST_CONFIG)
