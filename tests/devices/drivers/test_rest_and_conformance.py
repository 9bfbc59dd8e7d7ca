"""The REST drivers against a real HTTP server; and the same router checks through SSH and REST,
which is what "tests never know how a device is reached" means in practice."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from bench.devices.drivers.base import DeviceError, DeviceTarget
from bench.devices.drivers.rest import RestRouter, RestTerminal
from bench.devices.drivers.ssh import OpenWrtSshRouter
from bench.devices.protocols import OnboardRouter, SatelliteTerminal, TerminalState
from bench.lab.model import Credentials
from tests.devices.drivers.rest_server import RestServerDouble
from tests.devices.drivers.router_double import OpenWrtShellDouble, PortalClientDouble, RouterDouble, rest_payload
from tests.devices.drivers.ssh_server import SshServerDouble

PASSWORD_ENV = "SKYBENCH_TEST_ROUTER_PASSWORD"


def _target(driver: str, port: int, timeout_s: float = 5.0) -> DeviceTarget:
    return DeviceTarget(name="train-router", driver=driver, address="127.0.0.1", port=port, timeout_s=timeout_s,
                        credentials=Credentials(username="admin", password_env=PASSWORD_ENV))


@pytest.fixture
def state() -> RouterDouble:
    return RouterDouble()


@pytest.fixture(params=["ssh", "rest"])
def any_router(request: pytest.FixtureRequest, state: RouterDouble,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[OnboardRouter]:
    monkeypatch.setenv(PASSWORD_ENV, "pw-123")
    if request.param == "ssh":
        with SshServerDouble(OpenWrtShellDouble(state), username="admin", password="pw-123") as server, \
                OpenWrtSshRouter(_target("ssh", server.port)) as driver:
            yield driver
    else:
        with RestServerDouble(lambda p, q: rest_payload(state, p, q), username="admin", password="pw-123") as server, \
                RestRouter(_target("rest", server.port)) as driver:
            yield driver


# -- the same behaviour through either face ------------------------------------------------------

def test_failover_seen_through_any_driver(any_router: OnboardRouter, state: RouterDouble) -> None:
    assert isinstance(any_router, OnboardRouter)
    assert any_router.active_wan("passenger") == "oneweb"
    assert any_router.active_wan("operational") == "starlink"
    state.wan("oneweb").online = False
    state.wan("starlink").online = False
    wans = {w.name: w for w in any_router.wans()}
    assert [n for n, w in wans.items() if w.up] == ["lte"]
    assert wans["lte"].active and not wans["oneweb"].active
    assert any_router.active_wan("passenger") == "lte"


def test_portal_quota_seen_through_any_driver(any_router: OnboardRouter, state: RouterDouble) -> None:
    state.portal = [PortalClientDouble("aa:bb:cc:00:00:03", "198.18.0.12", "Authenticated", "premium-1gb",
                                       quota_kb=1024 * 1024, down_kb=2048)]
    (session,) = any_router.portal_sessions()
    assert (session.tier, session.quota_bytes, session.used_bytes) == ("premium-1gb", 2**30, 2 * 2**20)


def test_firmware_and_logs_through_any_driver(any_router: OnboardRouter, state: RouterDouble) -> None:
    assert any_router.firmware().version == "23.05.2"
    t0 = datetime(2025, 3, 3, 12, 0, 0)
    state.log(t0, "daemon.info", "dnsmasq-dhcp", "DHCPACK(br-lan) 198.18.0.10")
    state.log(t0 + timedelta(minutes=1), "user.notice", "mwan3track", "Interface starlink (eth2) is offline")
    assert [e.source for e in any_router.logs_since(t0 + timedelta(seconds=1))] == ["mwan3track"]


def test_uptime_through_any_driver(any_router: OnboardRouter, state: RouterDouble) -> None:
    assert any_router.uptime_s() == 86_400
    state.uptime_s = 12  # rebooted: the uptime went back
    assert any_router.uptime_s() == 12


# -- REST specifics ------------------------------------------------------------------------------

def test_rest_changes_are_sent_and_not_retried(state: RouterDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "pw-123")
    with RestServerDouble(lambda p, q: rest_payload(state, p, q), username="admin", password="pw-123") as server, \
            RestRouter(_target("rest", server.port)) as router:
        router.apply_config({"portal.free_cap_kbps": 2048})
        router.reboot()
        assert server.posts == [("PUT", "/api/v1/config", {"portal.free_cap_kbps": 2048}),
                                ("POST", "/api/v1/reboot", None)]
        router.firmware()
        server.drop_next = 1
        with pytest.raises(DeviceError, match="not retried"):
            router.apply_config({"portal.free_cap_kbps": 1})
        server.drop_next = 1
        assert router.firmware().vendor == "OpenWrt"  # a read is retried once
        assert [r.call for r in router.retries] == ["GET /api/v1/firmware"]


def test_rest_refused_login_and_bad_reply(state: RouterDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with RestServerDouble(lambda p, q: rest_payload(state, p, q), username="admin", password="pw-123") as server, \
            RestRouter(_target("rest", server.port)) as router, pytest.raises(DeviceError) as err:
        router.wans()
    assert "refused the login of user 'admin' (HTTP 401)" in str(err.value) and "wrong" not in str(err.value)

    monkeypatch.setenv(PASSWORD_ENV, "pw-123")
    with RestServerDouble(lambda p, q: [{"name": "oneweb", "up": "perhaps"}], username="admin",
                          password="pw-123") as server, RestRouter(_target("rest", server.port)) as router, \
            pytest.raises(DeviceError, match=r"unexpected reply to GET /api/v1/wans: 0\.up"):
        router.wans()


def test_rest_unreachable_and_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "pw-123")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        with RestRouter(_target("rest", s.getsockname()[1])) as router, pytest.raises(DeviceError) as err:
            router.firmware()
        assert "connection refused" in str(err.value) and "driver rest" in str(err.value)
        s.listen()  # accepts, never answers
        with RestRouter(_target("rest", s.getsockname()[1], timeout_s=0.3)) as router, \
                pytest.raises(DeviceError, match="gave no answer within 0.3 s"):
            router.firmware()


def test_rest_terminal_reads_status_and_reboots() -> None:
    status = {"state": "OBSTRUCTED", "latency_ms": 48.5, "drop_rate": 0.25,
              "obstruction": {"currently_obstructed": True, "fraction_obstructed": 0.1, "valid_s": 60.0},
              "throughput": {"downlink_bps": 1.5e6, "uplink_bps": 2.0e5}, "alerts": ["slow_ethernet_speeds"],
              "uptime_s": 1234, "device_id": "ow-1", "hardware_version": "hl1120", "software_version": "1.2"}
    with RestServerDouble(lambda p, q: status if p == "/api/v1/status" else None) as server, \
            RestTerminal(DeviceTarget(name="oneweb", driver="rest", address="127.0.0.1", port=server.port)) as term:
        assert isinstance(term, SatelliteTerminal)
        assert term.state() is TerminalState.OBSTRUCTED
        assert (term.latency_ms(), term.drop_rate(), term.uptime_s()) == (48.5, 0.25, 1234)
        assert term.obstruction().currently_obstructed and term.throughput().downlink_bps == 1.5e6
        assert term.alerts() == ["slow_ethernet_speeds"]
        term.reboot()
        assert server.posts == [("POST", "/api/v1/reboot", None)]
