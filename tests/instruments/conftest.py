"""Fixtures: lab-file instrument entries, and emulated instruments served over loopback TCP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.instruments.emulated.attenuator import EmulatedAttenuator
from bench.instruments.emulated.server import ScpiSocketServer
from bench.instruments.emulated.supply import EmulatedPowerSupply, SupplyState
from bench.instruments.targets import RecordingFadeTarget, RecordingPowerTarget
from bench.lab.model import InstrumentConfig


def supply_config(resource: str, *, model: str | None = None, volts: tuple[float, float] = (0.0, 30.0),
                  amps: tuple[float, float] = (0.0, 3.0), name: str = "psu") -> InstrumentConfig:
    return InstrumentConfig(name=name, kind="power_supply", resource=resource, model=model,
                            voltage_range_v=volts, current_range_a=amps)


def attenuator_config(resource: str, *, model: str | None = None, db: tuple[float, float] = (0.0, 60.0),
                      name: str = "fader", wan: str = "starlink") -> InstrumentConfig:
    return InstrumentConfig(name=name, kind="rf_attenuator", resource=resource, model=model,
                            attenuation_range_db=db, acts_on=wan)


@pytest.fixture
def power_target() -> RecordingPowerTarget:
    return RecordingPowerTarget()


@pytest.fixture
def emulated_supply(power_target: RecordingPowerTarget) -> EmulatedPowerSupply:
    # The router is running: 24 V, 2 A limit, output on.
    return EmulatedPowerSupply(power_target, initial=SupplyState(voltage_v=24.0, current_limit_a=2.0, output_on=True))


@pytest.fixture
def supply_server(emulated_supply: EmulatedPowerSupply) -> Iterator[ScpiSocketServer]:
    with ScpiSocketServer(emulated_supply) as server:
        yield server


@pytest.fixture
def fade_target() -> RecordingFadeTarget:
    return RecordingFadeTarget()


@pytest.fixture
def emulated_attenuator(fade_target: RecordingFadeTarget) -> EmulatedAttenuator:
    return EmulatedAttenuator(fade_target)


@pytest.fixture
def attenuator_server(emulated_attenuator: EmulatedAttenuator) -> Iterator[ScpiSocketServer]:
    with ScpiSocketServer(emulated_attenuator) as server:
        yield server
