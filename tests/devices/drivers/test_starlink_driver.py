"""The Starlink driver (starlink-grpc-core underneath) against the emulated dish's real gRPC server
on loopback: descriptors come to the client only through gRPC reflection, as from a real dish."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from bench.devices.drivers.base import DeviceError, DeviceTarget
from bench.devices.drivers.starlink import StarlinkGrpcTerminal
from bench.devices.protocols import Obstruction, SatelliteTerminal, TerminalState, TerminalStatus, Throughput
from bench.devices.terminals.dish import DishService, serve_dish


def _status(**changes: object) -> TerminalStatus:
    base = TerminalStatus(
        state=TerminalState.CONNECTED, latency_ms=42.5, drop_rate=0.02,
        obstruction=Obstruction(currently_obstructed=False, fraction_obstructed=0.05, valid_s=600.0),
        throughput=Throughput(downlink_bps=12_000_000.0, uplink_bps=1_500_000.0),
        alerts=["roaming"], uptime_s=3600, device_id="ut-test-1", hardware_version="rev4_prod1",
        software_version="2025.01.15.mr48200")
    return base.model_copy(update=changes)


class DishDouble:
    """The real dish service with a status the test sets (instead of the lab's feed)."""

    def __init__(self) -> None:
        self.status = _status()
        self.reboots = 0
        self.service = DishService(lambda: self.status, self._reboot)

    def _reboot(self) -> None:
        self.reboots += 1


@pytest.fixture
def dish() -> Iterator[tuple[DishDouble, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    double = DishDouble()
    server = serve_dish("127.0.0.1", port, double.service)
    try:
        yield double, port
    finally:
        server.stop(grace=None)


def _driver(port: int, timeout_s: float = 5.0) -> StarlinkGrpcTerminal:
    return StarlinkGrpcTerminal(DeviceTarget(name="starlink", driver="starlink-grpc", address="127.0.0.1",
                                             port=port, timeout_s=timeout_s))


def test_reads_every_terminal_field(dish: tuple[DishDouble, int]) -> None:
    double, port = dish
    with _driver(port) as terminal:
        assert isinstance(terminal, SatelliteTerminal)
        status = terminal.status()
    assert status.state is TerminalState.CONNECTED
    assert status.latency_ms == pytest.approx(42.5)
    assert status.drop_rate == pytest.approx(0.02)
    assert status.obstruction.fraction_obstructed == pytest.approx(0.05)
    assert not status.obstruction.currently_obstructed and status.obstruction.valid_s == 600.0
    assert status.throughput.downlink_bps == 12_000_000 and status.throughput.uplink_bps == 1_500_000
    assert status.alerts == ["roaming"]
    assert (status.uptime_s, status.device_id, status.software_version) == (3600, "ut-test-1", "2025.01.15.mr48200")


@pytest.mark.parametrize("state", [TerminalState.OBSTRUCTED, TerminalState.NO_SATELLITES, TerminalState.SEARCHING,
                                   TerminalState.BOOTING, TerminalState.STOWED])
def test_outage_states_round_trip(dish: tuple[DishDouble, int], state: TerminalState) -> None:
    double, port = dish
    double.status = _status(state=state, latency_ms=None, drop_rate=1.0,
                            obstruction=Obstruction(currently_obstructed=state is TerminalState.OBSTRUCTED,
                                                    fraction_obstructed=0.5, valid_s=10.0))
    with _driver(port) as terminal:
        assert terminal.state() is state
        assert terminal.latency_ms() is None
        assert terminal.drop_rate() == 1.0
        assert terminal.obstruction().currently_obstructed is (state is TerminalState.OBSTRUCTED)


def test_reboot_reaches_the_dish(dish: tuple[DishDouble, int]) -> None:
    double, port = dish
    with _driver(port) as terminal:
        terminal.reboot()
    assert double.reboots == 1


def test_no_dish_at_the_address() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with _driver(port) as terminal, pytest.raises(DeviceError) as err:
            terminal.status()
    text = str(err.value)
    assert "no Starlink dish answers" in text and f"127.0.0.1:{port}" in text and "starlink-grpc" in text


def test_a_grpc_server_that_is_not_a_dish() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with _driver(port) as terminal, pytest.raises(DeviceError, match="does not serve the Starlink gRPC API"):
            terminal.status()
    finally:
        server.stop(grace=None)
