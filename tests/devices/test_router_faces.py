"""The same driver checks, through the REST, SSH and SNMP faces of the reference router.

Each case loads one lab file, tests/data/labfiles/good/reference-router-<driver>.yaml: a hardware
lab whose DUT is the reference router's ops-LAN address. The files differ only in `driver:` (and
the REST port); the checks below are written against the OnboardRouter protocol and know nothing
of the driver. Pointing a file's `dut.address` at another router runs the same checks against it.
The drivers run in the lab's ops namespace (a worker process there, bench/devices/drivers/remote.py),
where a bench PC on the train's ops VLAN would be.

What each driver cannot carry is data, not code: UNSUPPORTED lists the calls that must raise
UnsupportedByDriver, and every other call must answer correctly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from bench.devices.drivers.factory import router_driver
from bench.devices.protocols import OnboardRouter, UnsupportedByDriver
from bench.devices.reference import ReferenceRouter
from bench.devices.reference.faces import face_credentials
from bench.traffic.passenger import Passenger
from bench.errors import BenchError
from bench.lab.lab import Lab
from bench.lab.labfile import load_lab
from bench.lab.model import LabConfig
from tests.devices.router_helpers import router  # noqa: F401 - fixture

pytestmark = pytest.mark.lab

LABFILES = sorted((Path(__file__).resolve().parents[1] / "data" / "labfiles" / "good").glob("reference-router-*.yaml"))
# Calls each driver's protocol cannot carry (standard MIBs have interfaces, not portal or health).
UNSUPPORTED: dict[str, set[str]] = {
    "ssh": set(),
    "rest": set(),
    "snmp": {"active_wan", "clients", "portal_sessions", "logs_since", "apply_config", "reboot"},
}
CONFIG_KEY = "skyrouter.health.down_after"  # the router's uci path (the REST API takes it too)


def open_driver(lab: Lab, path: Path) -> tuple[OnboardRouter, LabConfig]:
    config = load_lab(path)
    if config.dut.credentials != face_credentials(lab.config):
        pytest.skip(f"{path.name} names other credentials than the running lab's router uses")
    return router_driver(config, netns=lab.ns("ops")), config


@pytest.fixture(params=LABFILES, ids=lambda p: p.stem.removeprefix("reference-router-"))
def labfile(request: pytest.FixtureRequest) -> Path:
    return request.param


class Calls:
    """Runs protocol calls, noting the ones the driver says it cannot answer."""

    def __init__(self, dut: OnboardRouter) -> None:
        self.dut = dut
        self.unsupported: set[str] = set()

    def __call__(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.dut, name)(*args)
        except UnsupportedByDriver as exc:
            assert name in str(exc)
            self.unsupported.add(name)
            return None


def test_the_same_checks_pass_through_every_face(lab: Lab, router: ReferenceRouter, labfile: Path) -> None:
    router.wait_for("all up on oneweb", lambda s: s["active"]["passengers"] == "oneweb"
                    and all(w["state"] == "up" for w in s["wans"].values()), 15)
    dut, config = open_driver(lab, labfile)
    driver = config.dut.driver
    call = Calls(dut)
    # logread has whole seconds: "since" is the start of the current second.
    t0 = datetime.now(timezone.utc).replace(microsecond=0)
    try:
        with Passenger(lab, f"f-{driver}") as free, Passenger(lab, f"n-{driver}") as newcomer:
            free_lease, new_lease = free.connect(), newcomer.connect()
            assert free.http("POST", "http://portal.skybench.test/api/accept", body="")[0] == 200
            free.download(seconds=0.5)
            status = router.status()

            # WANs: names, addresses and counters from the kernel; state and activity from routerd
            first = {w.name: w for w in call("wans")}
            assert set(first) == set(status["wans"])
            for name, wan in first.items():
                assert wan.up and wan.address == status["wans"][name]["address"]
                assert wan.interface == status["wans"][name]["ifname"]
                assert (wan.rx_bytes or 0) > 0 and (wan.tx_bytes or 0) > 0
            # Probes keep flowing, so the counters only grow; an SNMP agent refreshes its interface
            # table from the kernel every few seconds, so look again until the growth shows.
            deadline = time.monotonic() + 15
            while True:
                time.sleep(0.5)
                again = {w.name: w for w in call("wans")}
                if (again["oneweb"].tx_bytes or 0) > (first["oneweb"].tx_bytes or 0) or time.monotonic() > deadline:
                    break
            assert all((again[n].tx_bytes or 0) >= (first[n].tx_bytes or 0) for n in first)
            assert (again["oneweb"].tx_bytes or 0) > (first["oneweb"].tx_bytes or 0)

            active = {tc: call("active_wan", tc) for tc in ("passenger", "operational")}
            if "active_wan" not in call.unsupported:
                assert active == {"passenger": status["active"]["passengers"], "operational": status["active"]["ops"]}
                assert {n for n, w in again.items() if w.active} == set(status["active"].values())
                assert again["oneweb"].latency_ms is not None and again["oneweb"].loss == 0.0

            clients = call("clients")
            if clients is not None:
                leased = {c.mac: c.ip for c in clients}
                assert leased.get(free.mac) == free_lease.ip and leased.get(newcomer.mac) == new_lease.ip

            sessions = call("portal_sessions")
            if sessions is not None:
                by_mac = {s.mac: s for s in sessions}
                assert by_mac[free.mac].tier == "free"
                assert by_mac[free.mac].speed_cap_bps == router.config.portal.free_tier.down_kbit * 1000
                assert by_mac[free.mac].used_bytes > 0
                assert by_mac[newcomer.mac].tier == "unauthenticated"

            firmware = call("firmware")
            assert firmware.vendor == "skybench"
            assert firmware.version in (router.config.version, router.config.version.split()[-1])

            logs = call("logs_since", t0)
            if logs is not None:
                assert "terms_accepted" in [e.message.split()[0] for e in logs]
                assert all(e.time.replace(tzinfo=e.time.tzinfo or datetime.now().astimezone().tzinfo) >= t0 for e in logs)

            before = router.status()["health"]["down_after"]
            call("apply_config", {CONFIG_KEY: before + 1})
            if "apply_config" not in call.unsupported:
                assert router.status()["health"]["down_after"] == before + 1
                call("apply_config", {CONFIG_KEY: before})
                assert router.status()["health"]["down_after"] == before
                with pytest.raises(BenchError):  # a setting the running router cannot take
                    dut.apply_config({"skyrouter.portal.enabled": 0})

            call("reboot")
            if "reboot" not in call.unsupported:
                deadline = time.monotonic() + 5
                while not router.events(since=t0.timestamp(), event="reboot") and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert {s.mac: s.tier for s in call("portal_sessions")}[free.mac] == "unauthenticated"

        assert call.unsupported == UNSUPPORTED[driver]
    finally:
        dut.close()


@pytest.fixture
def drivers(lab: Lab, router: ReferenceRouter) -> Iterator[dict[str, OnboardRouter]]:
    opened: dict[str, OnboardRouter] = {}
    try:
        for path in LABFILES:
            dut, config = open_driver(lab, path)
            opened[config.dut.driver] = dut
        yield opened
    finally:
        for dut in opened.values():
            dut.close()


def test_a_failover_is_seen_through_every_face(lab: Lab, router: ReferenceRouter, drivers: dict[str, OnboardRouter]) -> None:
    """Every driver that carries WAN health sees oneweb go down and come back; SNMP, which sees
    interfaces only, sees the passengers' download arrive on the starlink port instead."""
    router.wait_for("all up on oneweb", lambda s: s["active"]["passengers"] == "oneweb"
                    and all(w["state"] == "up" for w in s["wans"].values()), 15)
    health_seen = [d for name, d in drivers.items() if "active_wan" not in UNSUPPORTED[name]]
    counters_only = [d for name, d in drivers.items() if "active_wan" in UNSUPPORTED[name]]
    assert health_seen and counters_only
    link = lab.link("oneweb")
    with Passenger(lab, "failover") as passenger:
        passenger.connect()
        assert passenger.http("POST", "http://portal.skybench.test/api/accept", body="")[0] == 200
        try:
            link.outage(True)
            router.wait_for("passengers on starlink", lambda s: s["active"]["passengers"] == "starlink", 10)
            for dut in health_seen:
                wans = {w.name: w for w in dut.wans()}
                assert not wans["oneweb"].up and not wans["oneweb"].active
                assert wans["starlink"].up and wans["starlink"].active
                assert dut.active_wan("passenger") == "starlink"
            for dut in counters_only:
                before = {w.name: w for w in dut.wans()}
                received = passenger.download(seconds=1.5).ip_bytes_rx
                # An SNMP agent refreshes its interface table every few seconds: read until the
                # download shows (bounded), as a real manager polling the router would.
                deadline = time.monotonic() + 15
                while True:
                    after = {w.name: w for w in dut.wans()}
                    grew = {n: (after[n].rx_bytes or 0) - (before[n].rx_bytes or 0) for n in after}
                    if grew["starlink"] >= received * 0.9 or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                print(f"\nSNMP during the oneweb outage: passenger received {received} IP bytes; "
                      f"WAN ports' ifHCInOctets grew by {grew}")
                assert grew["starlink"] >= received * 0.9
                assert grew["oneweb"] < received * 0.1
        finally:
            link.outage(False)
        router.wait_for("passengers back on oneweb", lambda s: s["active"]["passengers"] == "oneweb", 20)
        for dut in health_seen:
            assert dut.active_wan("passenger") == "oneweb"
            assert {w.name: w.up for w in dut.wans()} == {"oneweb": True, "starlink": True, "lte": True}
