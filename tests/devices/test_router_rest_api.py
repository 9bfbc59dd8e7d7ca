"""The generic REST driver (bench.devices.drivers) drives the reference router through its
management API on the ops LAN: the same calls a test makes against a vendor's router."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from bench.devices.drivers.factory import router_driver
from bench.devices.protocols import OnboardRouter
from bench.devices.reference import ReferenceRouter
from bench.traffic.passenger import Passenger
from bench.errors import BenchError
from bench.lab.lab import Lab
from tests.devices.router_helpers import router  # noqa: F401 - fixture

pytestmark = pytest.mark.lab


def test_the_rest_driver_reads_and_changes_the_reference_router(lab: Lab, router: ReferenceRouter) -> None:
    router.wait_for("all up on oneweb", lambda s: s["active"]["passengers"] == "oneweb" and all(w["state"] == "up" for w in s["wans"].values()), 10)
    t0 = datetime.now(timezone.utc)
    dut: OnboardRouter = router_driver(lab.config, embedded=lab)
    try:
        with Passenger(lab, "rest-free") as free, Passenger(lab, "rest-new") as newcomer:
            free.connect()
            newcomer.connect()
            assert free.http("POST", "http://portal.skybench.test/api/accept", body="")[0] == 200
            free.download(seconds=0.5)

            wans = {w.name: w for w in dut.wans()}
            assert set(wans) == {"oneweb", "starlink", "lte"}
            assert wans["oneweb"].up and wans["oneweb"].active and not wans["lte"].active
            assert wans["oneweb"].latency_ms is not None and wans["oneweb"].loss == 0.0
            assert wans["oneweb"].address == "198.18.16.1" and (wans["oneweb"].tx_bytes or 0) > 0
            assert dut.active_wan("passenger") == "oneweb" and dut.active_wan("operational") == "oneweb"

            assert {free.mac, newcomer.mac} <= {c.mac for c in dut.clients()}
            sessions = {s.mac: s for s in dut.portal_sessions()}
            cap = router.config.portal.free_tier.down_kbit * 1000
            assert sessions[free.mac].tier == "free" and sessions[free.mac].speed_cap_bps == cap
            assert sessions[free.mac].used_bytes > 0
            assert sessions[newcomer.mac].tier == "unauthenticated"
            assert dut.firmware().version == router.config.version
            assert "terms_accepted" in [e.message.split()[0] for e in dut.logs_since(t0)]

            dut.apply_config({"health.down_after": 4})
            assert router.status()["health"]["down_after"] == 4
            with pytest.raises(BenchError, match="409"):
                dut.apply_config({"portal.enabled": False})

            dut.reboot()
            deadline = time.monotonic() + 5
            while router.events(event="reboot") == [] and time.monotonic() < deadline:
                time.sleep(0.1)
            sessions = {s.mac: s for s in dut.portal_sessions()}
            assert sessions[free.mac].tier == "unauthenticated"
            status, headers, _ = free.http("GET", "http://origin.skybench.test/")
            assert status == 302  # the reboot ended the session: back to the portal
    finally:
        dut.close()
        router.restart()  # the thresholds changed at run time: back to the test configuration
