"""Shared pieces of the reference-router tests: the test configuration, the fixture that runs the
lab's router with it, the purchase flow a passenger goes through, and throughput arithmetic."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from bench.devices.reference import ReferenceRouter, RouterConfig, load_router_config
from bench.devices.reference.passenger import Passenger
from bench.lab.lab import Lab

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


def buy(p: Passenger, package: str, card: str = "4242424242424242") -> tuple[int, dict[str, Any]]:
    """The whole purchase: order at the portal, pay at the provider, come back to the portal."""
    status, _, body = p.http("POST", "http://portal.skybench.test/api/buy", body=f"package={package}")
    assert status == 200, body
    checkout = urlparse(json.loads(body)["checkout_url"])
    assert checkout.hostname == "pay.skybench.test"
    q = {k: v[0] for k, v in parse_qs(checkout.query).items()}
    form = f"order={q['order']}&amount={q['amount']}&return={q['return']}&card={card}"
    status, headers, body = p.http("POST", "http://pay.skybench.test/checkout/pay", body=form)
    assert status == 303, body
    status, _, body = p.http("GET", headers["location"])
    return status, json.loads(body)


def rate_bps(samples: list[tuple[float, int, int, int]], t0: float, t1: float, column: int = 1) -> float:
    """Bits/s of a sample column between two elapsed times (1 payload, 2 IP, 3 Ethernet)."""
    window = [s for s in samples if t0 <= s[0] <= t1]
    if len(window) < 2:
        raise AssertionError(f"fewer than two samples between {t0} s and {t1} s")
    first, last = window[0], window[-1]
    return (last[column] - first[column]) * 8 / (last[0] - first[0])
