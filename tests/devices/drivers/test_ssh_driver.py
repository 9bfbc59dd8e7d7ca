"""The SSH driver against a real SSH server on loopback, with the OpenWrt shell double behind it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from bench.devices.drivers.base import DeviceError, DeviceTarget
from bench.devices.drivers.ssh import OpenWrtSshRouter
from bench.devices.protocols import OnboardRouter
from bench.lab.model import Credentials
from tests.devices.drivers.router_double import OpenWrtShellDouble, PortalClientDouble, RouterDouble
from tests.devices.drivers.ssh_server import SshServerDouble

PASSWORD_ENV = "SKYBENCH_TEST_ROUTER_PASSWORD"


@pytest.fixture
def router_state() -> RouterDouble:
    return RouterDouble()


@pytest.fixture
def ssh_server(router_state: RouterDouble) -> Iterator[SshServerDouble]:
    with SshServerDouble(OpenWrtShellDouble(router_state), username="root", password="s3cret-pw") as server:
        yield server


def _target(port: int, *, user: str = "root", timeout_s: float = 5.0) -> DeviceTarget:
    return DeviceTarget(name="train-router", driver="ssh", address="127.0.0.1", port=port,
                        credentials=Credentials(username=user, password_env=PASSWORD_ENV), timeout_s=timeout_s)


@pytest.fixture
def router(ssh_server: SshServerDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenWrtSshRouter]:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-pw")
    with OpenWrtSshRouter(_target(ssh_server.port)) as driver:
        yield driver


def test_is_an_onboard_router(router: OpenWrtSshRouter) -> None:
    assert isinstance(router, OnboardRouter)


def test_firmware_from_ubus_system_board(router: OpenWrtSshRouter, router_state: RouterDouble) -> None:
    router_state.version = "24.10.0"
    fw = router.firmware()
    assert (fw.vendor, fw.model, fw.version) == ("OpenWrt", "Teltonika RUTX50", "24.10.0")
    assert fw.description == "OpenWrt 24.10.0 r23630-842932a63d"


def test_wans_follow_mwan3_state_and_failover(router: OpenWrtSshRouter, router_state: RouterDouble) -> None:
    wans = {w.name: w for w in router.wans()}
    assert list(wans) == ["oneweb", "starlink", "lte"]
    assert wans["oneweb"].up and wans["oneweb"].active and wans["oneweb"].latency_ms == 70
    assert wans["oneweb"].interface == "eth1" and wans["oneweb"].address == "198.18.16.1"
    assert (wans["oneweb"].rx_bytes, wans["oneweb"].tx_bytes) == (1_000, 2_000)
    assert wans["starlink"].active  # operational traffic prefers starlink
    assert not wans["lte"].active
    assert router.active_wan("passenger") == "oneweb"

    router_state.wan("oneweb").online = False
    wans = {w.name: w for w in router.wans()}
    assert not wans["oneweb"].up and not wans["oneweb"].active and wans["oneweb"].loss == 1.0
    assert router.active_wan("passenger") == "starlink"
    for wan in router_state.wans:
        wan.online = False
    assert router.active_wan("operational") is None


def test_clients_from_dhcp_leases(router: OpenWrtSshRouter, router_state: RouterDouble) -> None:
    assert router.clients() == []
    router_state.leases = [(1_900_000_000, "AA:BB:CC:00:00:01", "198.18.0.10", "phone-1"),
                           (1_900_000_100, "aa:bb:cc:00:00:02", "198.18.0.11", "*")]
    clients = router.clients()
    assert [(c.mac, c.ip, c.hostname) for c in clients] == [
        ("aa:bb:cc:00:00:01", "198.18.0.10", "phone-1"), ("aa:bb:cc:00:00:02", "198.18.0.11", None)]
    assert clients[0].lease_expires == datetime.fromtimestamp(1_900_000_000)


def test_portal_sessions_from_ndsctl(router: OpenWrtSshRouter, router_state: RouterDouble) -> None:
    router_state.portal = [
        PortalClientDouble("aa:bb:cc:00:00:01", "198.18.0.10"),
        PortalClientDouble("aa:bb:cc:00:00:02", "198.18.0.11", "Authenticated", "free", cap_kbit=2048, down_kb=10),
        PortalClientDouble("aa:bb:cc:00:00:03", "198.18.0.12", "Authenticated", "premium-1gb",
                           quota_kb=1024 * 1024, down_kb=1000, up_kb=24),
    ]
    sessions = {s.mac: s for s in router.portal_sessions()}
    assert sessions["aa:bb:cc:00:00:01"].tier == "unauthenticated"
    free = sessions["aa:bb:cc:00:00:02"]
    assert (free.tier, free.speed_cap_bps, free.quota_bytes) == ("free", 2_048_000, None)
    premium = sessions["aa:bb:cc:00:00:03"]
    assert (premium.tier, premium.quota_bytes, premium.used_bytes) == ("premium-1gb", 2**30, 1024 * 1024)
    assert premium.remaining_bytes == 2**30 - 2**20


def test_logs_since_filters_by_time(router: OpenWrtSshRouter, router_state: RouterDouble) -> None:
    t0 = datetime(2025, 3, 3, 12, 0, 0)
    router_state.log(t0, "daemon.info", "dnsmasq-dhcp[1234]", "DHCPACK(br-lan) 198.18.0.10 aa:bb:cc:00:00:01 phone-1")
    router_state.log(t0 + timedelta(seconds=30), "user.notice", "mwan3track[2211]", "Interface oneweb (eth1) is offline")
    router_state.log(t0 + timedelta(seconds=31), "kern.info", "kernel", "[ 4242.4242] eth1: link down")
    logs = router.logs_since(t0 + timedelta(seconds=10))
    assert [(e.source, e.severity) for e in logs] == [("mwan3track", "notice"), ("kernel", "info")]
    assert logs[0].message == "Interface oneweb (eth1) is offline"
    assert logs[0].time == t0 + timedelta(seconds=30)


def test_apply_config_runs_uci_and_reboot_reaches_router(router: OpenWrtSshRouter, router_state: RouterDouble,
                                                         ssh_server: SshServerDouble) -> None:
    router.apply_config({"mwan3.starlink.down": 3, "mwan3.starlink.enabled": True})
    assert router_state.uci == {"mwan3.starlink.down": "3", "mwan3.starlink.enabled": "1"}
    assert "uci commit mwan3" in ssh_server.shell.commands[-1]
    with pytest.raises(DeviceError, match="package.section.option"):
        router.apply_config({"not a uci key": 1})
    router.reboot()
    assert router_state.reboots == 1


def test_lost_connection_is_retried_for_reads_and_reported(router: OpenWrtSshRouter,
                                                           ssh_server: SshServerDouble) -> None:
    router.firmware()  # connection established
    ssh_server.drop_next_command()
    assert router.firmware().version == "23.05.2"
    assert len(router.retries) == 1 and "ubus call system board" in router.retries[0].call
    assert ssh_server.connections_accepted == 2


def test_lost_connection_is_not_retried_for_changes(router: OpenWrtSshRouter, router_state: RouterDouble,
                                                    ssh_server: SshServerDouble) -> None:
    router.firmware()
    ssh_server.drop_next_command()
    with pytest.raises(DeviceError, match="not retried"):
        router.apply_config({"mwan3.starlink.down": 5})
    assert router_state.uci == {}


def test_lost_twice_gives_one_clear_error(router: OpenWrtSshRouter, ssh_server: SshServerDouble) -> None:
    ssh_server.drop_next_command(times=2)
    with pytest.raises(DeviceError) as err:
        router.firmware()
    text = str(err.value)
    assert "train-router" in text and "127.0.0.1" in text and "driver ssh" in text and "again on the retry" in text


def test_refused_login_names_user_and_password_source(ssh_server: SshServerDouble,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with OpenWrtSshRouter(_target(ssh_server.port)) as driver, pytest.raises(DeviceError) as err:
        driver.firmware()
    text = str(err.value)
    assert "refused the login of user 'root'" in text and PASSWORD_ENV in text and "wrong" not in text
    assert ssh_server.logins_refused >= 1


def test_missing_password_variable_is_named(ssh_server: SshServerDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with OpenWrtSshRouter(_target(ssh_server.port)) as driver, pytest.raises(Exception, match=PASSWORD_ENV):
        driver.firmware()


def test_nothing_listening_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        with OpenWrtSshRouter(_target(port)) as driver, pytest.raises(DeviceError) as err:
            driver.wans()
    assert f"connection refused on port {port}" in str(err.value) and "how to fix" in str(err.value)


def test_silent_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()  # accepts TCP but never speaks SSH
        with OpenWrtSshRouter(_target(s.getsockname()[1], timeout_s=0.5)) as driver, \
                pytest.raises(DeviceError, match="SSH handshake failed|no answer"):
            driver.firmware()


def test_missing_package_is_named(router: OpenWrtSshRouter) -> None:
    with pytest.raises(DeviceError, match="exit 127.*not found"):
        router.run("mwan3 use oneweb ping -c1 198.19.255.1")
