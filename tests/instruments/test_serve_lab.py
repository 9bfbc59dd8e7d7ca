"""A lab file's instruments served as emulated ones at their own resource strings."""

from __future__ import annotations

import socket

import pytest

from bench.errors import BenchError
from bench.instruments import PowerSupply, RfAttenuator, open_instrument
from bench.instruments.emulated.lab import serve_lab_instruments
from bench.instruments.targets import RecordingFadeTarget, RecordingPowerTarget
from tests.instruments.conftest import attenuator_config, supply_config


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_drivers_reach_the_lab_files_own_resources() -> None:
    psu = supply_config(f"TCPIP0::127.0.0.1::{_free_port()}::SOCKET", model="HMP4040")
    faders = [attenuator_config(f"TCPIP0::127.0.0.1::{_free_port()}::SOCKET", name=f"fader-{wan}", wan=wan)
              for wan in ("oneweb", "starlink")]
    power, oneweb, starlink = RecordingPowerTarget(), RecordingFadeTarget(), RecordingFadeTarget()
    with serve_lab_instruments([psu, *faders], power_target=power,
                               fade_targets={"oneweb": oneweb, "starlink": starlink}) as servers:
        assert set(servers) == {"psu", "fader-oneweb", "fader-starlink"}
        with open_instrument(psu) as supply:
            assert isinstance(supply, PowerSupply) and "HMP4040" in supply.identity
            assert supply.output_enabled() and supply.measure_voltage() == 24.0
            supply.interrupt(0.02)
        with open_instrument(faders[1]) as fader:
            assert isinstance(fader, RfAttenuator)
            fader.set_attenuation(20)
    assert len(power.off_periods_s()) == 1
    assert starlink.last_db == 20.0 and oneweb.settings == []


def test_only_socket_resources_on_loopback_can_be_emulated() -> None:
    with pytest.raises(BenchError, match="raw SCPI socket"):
        with serve_lab_instruments([supply_config("ASRL/dev/ttyUSB0::INSTR")]):
            pass
    with pytest.raises(BenchError, match="loopback only"):
        with serve_lab_instruments([supply_config("TCPIP0::192.0.2.50::5025::SOCKET")]):
            pass
    with pytest.raises(BenchError, match="outside voltage_range_v"):
        with serve_lab_instruments([supply_config(f"TCPIP0::127.0.0.1::{_free_port()}::SOCKET", volts=(0, 12))]):
            pass
