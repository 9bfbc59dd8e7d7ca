"""Shared pieces of the reference-router tests: the test configuration, the fixture that runs the
lab's router with it, the purchase flow a passenger goes through, and throughput arithmetic."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench.devices.reference import ReferenceRouter, RouterConfig, load_router_config
from bench.devices.reference.clients import buy, rate_bps  # noqa: F401 - the suites share them (moved to the library)
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
