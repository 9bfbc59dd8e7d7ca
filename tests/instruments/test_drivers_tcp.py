"""The drivers against the emulated instruments over real TCP on loopback (pyvisa-py sockets)."""

from __future__ import annotations

import socket

import pytest

from bench.errors import BenchError
from bench.instruments import InstrumentError, PowerSupply, RfAttenuator, open_instrument
from bench.instruments.emulated.attenuator import EmulatedAttenuator
from bench.instruments.emulated.server import ScpiSocketServer
from bench.instruments.emulated.supply import EmulatedPowerSupply
from bench.instruments.targets import RecordingFadeTarget, RecordingPowerTarget
from tests.instruments.conftest import attenuator_config, supply_config


def test_measured_voltage_follows_the_setting_and_drops_when_off(
        supply_server: ScpiSocketServer, power_target: RecordingPowerTarget) -> None:
    with PowerSupply(supply_config(supply_server.resource, model="EMU-PSU")) as psu:
        assert psu.output_enabled() is True
        assert psu.measure_voltage() == pytest.approx(24.0)
        assert psu.measure_current() == pytest.approx(0.5)  # 12 W router at 24 V
        psu.set_voltage(28.0)
        assert psu.measure_voltage() == pytest.approx(28.0)
        assert psu.measure_current() == pytest.approx(12.0 / 28.0, abs=1e-4)
        psu.set_output(False)
        assert psu.measure_voltage() == 0.0 and psu.measure_current() == 0.0
        assert [e.kind for e in power_target.events] == ["lost"]
        psu.set_output(True)
    assert [e.kind for e in power_target.events] == ["lost", "restored"]


def test_current_limit_sags_the_output_and_browns_the_router_out(
        supply_server: ScpiSocketServer, power_target: RecordingPowerTarget) -> None:
    with PowerSupply(supply_config(supply_server.resource)) as psu:
        psu.set_current_limit(0.45)  # the router wants 0.5 A: CC mode, the output sags a little
        assert psu.measure_current() == pytest.approx(0.45)
        assert psu.measure_voltage() == pytest.approx(0.45 * 24.0**2 / 12.0, abs=1e-3)
        assert power_target.events == []  # 21.6 V still runs the router
        psu.set_current_limit(0.2)  # 9.6 V: below the router's 14.4 V minimum
        assert [e.kind for e in power_target.events] == ["lost"]
        psu.set_current_limit(2.0)
    assert [e.kind for e in power_target.events] == ["lost", "restored"]


def test_out_of_range_is_refused_and_nothing_reaches_the_instrument(
        supply_server: ScpiSocketServer, emulated_supply: EmulatedPowerSupply) -> None:
    with PowerSupply(supply_config(supply_server.resource, volts=(0.0, 28.0), amps=(0.0, 3.0))) as psu:
        before = list(emulated_supply.received)
        with pytest.raises(InstrumentError, match=r"refused 36 V: outside the lab file's voltage_range_v \[0, 28\]"):
            psu.set_voltage(36)
        with pytest.raises(InstrumentError, match="current_range_a"):
            psu.set_current_limit(float("nan"))
        assert list(emulated_supply.received) == before  # not one byte was sent
    assert emulated_supply.state.voltage_v == 24.0


def test_the_instruments_own_errors_come_back_with_their_codes(
        supply_server: ScpiSocketServer, emulated_supply: EmulatedPowerSupply) -> None:
    # The lab file allows 80 V, the emulated supply is rated 60 V: -222 from the instrument.
    with PowerSupply(supply_config(supply_server.resource, volts=(0.0, 80.0))) as psu:
        with pytest.raises(InstrumentError, match=r"refused 'VOLT 80.000': -222 \"Data out of range\""):
            psu.set_voltage(80.0)
        with pytest.raises(InstrumentError, match=r"-113 \"Undefined header\""):
            psu.setting("VOLT:PROT:TRIP 3")
        psu.set_voltage(20.0)
    assert emulated_supply.state.voltage_v == 20.0


def test_idn_mismatch_over_tcp(supply_server: ScpiSocketServer) -> None:
    with pytest.raises(InstrumentError) as wrong:
        open_instrument(supply_config(supply_server.resource, model="E36313A"))
    message = str(wrong.value)
    assert "EMU-PSU-6010" in message and "expects model 'E36313A'" in message
    assert supply_server.resource in message


def test_timeout_names_the_resource_and_what_to_check(emulated_supply: EmulatedPowerSupply) -> None:
    # An instrument that ends its answers with CR instead of LF: the read never terminates.
    with ScpiSocketServer(emulated_supply, response_terminator="\r") as server:
        with pytest.raises(InstrumentError) as timed_out:
            PowerSupply(supply_config(server.resource), timeout_ms=300).open()
    message = str(timed_out.value)
    assert f"instrument psu ({server.resource}): did not answer '*IDN?' within 300 ms" in message
    assert "line feed" in message and "5025" in message


def test_connection_refused_names_the_resource() -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resource = f"TCPIP0::127.0.0.1::{port}::SOCKET"
    with pytest.raises(InstrumentError) as refused:
        open_instrument(supply_config(resource), timeout_ms=500)
    assert f"instrument psu ({resource})" in str(refused.value)
    assert "switched on" in str(refused.value)


def test_attenuator_over_tcp_steps_and_fades_its_target(
        attenuator_server: ScpiSocketServer, fade_target: RecordingFadeTarget) -> None:
    with RfAttenuator(attenuator_config(attenuator_server.resource, model="EMU-ATT")) as fader:
        assert fader.attenuation() == 0.0
        assert fader.set_attenuation(12.3) == 12.25  # the 0.25 dB step
        assert fader.set_attenuation(30) == 30.0
        with pytest.raises(InstrumentError, match="attenuation_range_db"):
            fader.set_attenuation(61)
    assert [db for _, db in fade_target.settings] == [12.25, 30.0]


def test_emulated_attenuator_refuses_beyond_its_rating(emulated_attenuator: EmulatedAttenuator) -> None:
    assert emulated_attenuator.execute("ATT 95;ATT?") is None  # the error ends the line
    assert emulated_attenuator.execute("SYST:ERR?") == '-222,"Data out of range"'
    assert emulated_attenuator.execute("att 40 db;att?") == "40.00"


def test_server_refuses_a_non_loopback_address(emulated_supply: EmulatedPowerSupply) -> None:
    with pytest.raises(BenchError, match="loopback only"):
        ScpiSocketServer(emulated_supply, host="0.0.0.0")


def test_two_clients_see_one_instrument(supply_server: ScpiSocketServer) -> None:
    with PowerSupply(supply_config(supply_server.resource, name="bench")) as one, \
            PowerSupply(supply_config(supply_server.resource, name="cli")) as two:
        one.set_voltage(26.0)
        assert two.voltage_setpoint() == 26.0


def test_a_missing_serial_port_names_the_resource() -> None:
    with pytest.raises(InstrumentError) as missing:
        open_instrument(supply_config("ASRL/dev/ttySKYBENCH9::INSTR"))
    assert "instrument psu (ASRL/dev/ttySKYBENCH9::INSTR): cannot open it" in str(missing.value)
    assert "/dev/ttySKYBENCH9" in str(missing.value) and "Traceback" not in str(missing.value)
