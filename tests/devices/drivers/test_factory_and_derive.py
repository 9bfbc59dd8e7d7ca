"""The lab file picks the driver (pointing it at another device is a lab-file change only), and the
terminal status derivation from a link spec."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from bench.devices.drivers.factory import router_driver, terminal_driver
from bench.devices.drivers.rest import RestRouter
from bench.devices.drivers.ssh import OpenWrtSshRouter
from bench.devices.drivers.starlink import StarlinkGrpcTerminal
from bench.devices.protocols import TerminalState
from bench.devices.terminals.derive import StatusDeriver, ping_drop_rate, round_trip_ms
from bench.devices.terminals.dish import serve_dish
from bench.errors import BenchError
from bench.lab.model import LabConfig
from bench.link.model import Impairment, LinkSpec
from tests.devices.drivers.rest_server import RestServerDouble
from tests.devices.drivers.router_double import OpenWrtShellDouble, RouterDouble, rest_payload
from tests.devices.drivers.ssh_server import SshServerDouble
from tests.devices.drivers.test_starlink_driver import DishDouble

PASSWORD_ENV = "SKYBENCH_TEST_ROUTER_PASSWORD"


def hardware_lab(dut: dict[str, Any], starlink_terminal: dict[str, Any] | None = None) -> LabConfig:
    """A hardware lab file's content, as a vendor's bench would write it."""
    wans = [
        {"name": "oneweb", "kind": "satellite", "provider": "oneweb", "priority": 1,
         "terminal": {"driver": "none"}, "dut_interface": "enp1s0"},
        {"name": "starlink", "kind": "satellite", "provider": "starlink", "priority": 2,
         "terminal": {**(starlink_terminal or {"driver": "none"}), **({"interface": "enp4s0"} if starlink_terminal else {})},
         "dut_interface": "enp3s0"},
    ]
    return LabConfig.model_validate({"kind": "hardware", "name": "vendor-bench",
                                     "dut": {"lan_interface": "enp5s0", **dut}, "wans": wans})


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> RouterDouble:
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    return RouterDouble()


def test_the_lab_file_picks_ssh(state: RouterDouble) -> None:
    with SshServerDouble(OpenWrtShellDouble(state), username="root", password="pw") as server:
        lab = hardware_lab({"name": "rutx50", "driver": "ssh", "address": "127.0.0.1", "port": server.port,
                            "credentials": {"username": "root", "password_env": PASSWORD_ENV}})
        with router_driver(lab) as router:
            assert isinstance(router, OpenWrtSshRouter) and router.name == "rutx50"
            assert router.active_wan() == "oneweb"


def test_the_same_lab_file_pointed_at_a_rest_router(state: RouterDouble) -> None:
    with RestServerDouble(lambda p, q: rest_payload(state, p, q)) as server:
        lab = hardware_lab({"name": "vendor-x", "driver": "rest", "address": "127.0.0.1", "port": server.port})
        with router_driver(lab) as router:
            assert isinstance(router, RestRouter)
            assert router.active_wan() == "oneweb"


def test_the_lab_file_picks_the_starlink_driver() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    double = DishDouble()
    server = serve_dish("127.0.0.1", port, double.service)
    try:
        lab = hardware_lab({"driver": "ssh", "address": "127.0.0.1"},
                           {"driver": "starlink-grpc", "address": "127.0.0.1", "port": port})
        with terminal_driver(lab, "starlink") as dish:
            assert isinstance(dish, StarlinkGrpcTerminal) and dish.state() is TerminalState.CONNECTED
        with pytest.raises(BenchError, match="no terminal management"):
            terminal_driver(lab, "oneweb")
    finally:
        server.stop(grace=None)


def test_embedded_devices_need_their_running_lab() -> None:
    lab = LabConfig()
    with pytest.raises(BenchError, match="lab running"):
        router_driver(lab)
    with pytest.raises(BenchError, match="lab running"):
        terminal_driver(lab, "starlink")


def test_derived_latency_and_loss() -> None:
    spec = LinkSpec(uplink=Impairment(delay_ms=20, loss=0.1), downlink=Impairment(delay_ms=25, loss=0.05))
    assert round_trip_ms(spec, "starlink") == 46.0
    assert ping_drop_rate(spec) == pytest.approx(1 - 0.9 * 0.95)
    gilbert = LinkSpec(uplink=Impairment(ge_p=0.01, ge_r=0.09, ge_loss_bad=1.0))
    assert ping_drop_rate(gilbert) == pytest.approx(0.1)  # in the bad state 10 % of the time


def test_derived_states_obstruction_and_throughput() -> None:
    deriver = StatusDeriver(provider="starlink", device_id="ut-1", boot_at=0.0)
    clear, out = LinkSpec(), LinkSpec(uplink=Impairment(outage=True))
    first = deriver.update(clear, 10.0, sky_rx_bytes=0, sky_tx_bytes=0)
    assert first.state is TerminalState.CONNECTED and first.uptime_s == 10
    during = deriver.update(out, 11.0, sky_rx_bytes=1_000_000, sky_tx_bytes=250_000)
    assert during.state is TerminalState.OBSTRUCTED and during.latency_ms is None and during.drop_rate == 1.0
    assert during.throughput.downlink_bps == 8_000_000 and during.throughput.uplink_bps == 2_000_000
    after = deriver.update(clear, 20.0, sky_rx_bytes=1_000_000, sky_tx_bytes=250_000)
    assert after.state is TerminalState.CONNECTED and not after.obstruction.currently_obstructed
    assert after.obstruction.fraction_obstructed == pytest.approx(9 / 20)  # obstructed from 11 s to 20 s
    deriver.reboot(21.0, boot_duration_s=2.0)
    assert deriver.update(clear, 22.0, 0, 0).state is TerminalState.BOOTING
    assert deriver.update(clear, 23.5, 0, 0).uptime_s == 2
    lte = StatusDeriver(provider="lte", device_id="m-1", boot_at=0.0)
    assert lte.update(out, 1.0, 0, 0).state is TerminalState.SEARCHING

