"""An emulated instrument inside a lab namespace: reachable there, not from the host's loopback."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from bench.instruments import InstrumentError, PowerSupply
from bench.instruments.emulated.server import ScpiSocketServer
from bench.instruments.emulated.supply import EmulatedPowerSupply
from bench.lab import netns
from bench.lab.state import new_prefix
from tests.instruments.conftest import supply_config

pytestmark = pytest.mark.lab


@pytest.fixture
def instrument_ns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    name = f"{new_prefix()}-instr"
    netns.create(name)
    try:
        with netns.ipr(name) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        yield name
    finally:
        netns.remove(name)


def test_server_in_a_namespace(instrument_ns: str) -> None:
    with ScpiSocketServer(EmulatedPowerSupply(), netns_name=instrument_ns) as server:
        psu = PowerSupply(supply_config(server.resource), timeout_ms=500)
        netns.run_in(instrument_ns, psu.open)  # the session's socket is opened inside the namespace
        try:
            psu.set_voltage(12.0)
            assert psu.voltage_setpoint() == 12.0
        finally:
            psu.close()
        # The host's own loopback does not reach it.
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", server.port)) != 0
        with pytest.raises(InstrumentError, match="switched on"):
            PowerSupply(supply_config(server.resource), timeout_ms=500).open()
