"""The drivers against the pyvisa-sim definitions (no connection at all): fast protocol checks."""

from __future__ import annotations

import pytest

from bench.instruments import InstrumentError, PowerSupply, RfAttenuator
from bench.instruments.sim import (
    SIM_ATTENUATOR_MODEL,
    SIM_ATTENUATOR_RESOURCE,
    SIM_BACKEND,
    SIM_SUPPLY_MODEL,
    SIM_SUPPLY_RESOURCE,
)
from tests.instruments.conftest import attenuator_config, supply_config


def sim_supply(**kw: object) -> PowerSupply:
    return PowerSupply(supply_config(SIM_SUPPLY_RESOURCE, **kw), backend=SIM_BACKEND)  # type: ignore[arg-type]


def test_supply_settings_round_trip() -> None:
    with sim_supply(model=SIM_SUPPLY_MODEL) as psu:
        assert SIM_SUPPLY_MODEL in psu.identity
        psu.set_voltage(12.5)
        psu.set_current_limit(1.25)
        psu.set_output(True)
        assert psu.voltage_setpoint() == 12.5
        assert psu.current_limit() == 1.25
        assert psu.output_enabled() is True
        psu.set_output(False)
        assert psu.output_enabled() is False
        assert psu.measure_voltage() == 0.0 and psu.measure_current() == 0.0


def test_supply_interrupt_and_dip_report_timing() -> None:
    with sim_supply() as psu:
        psu.set_voltage(24.0)
        cut = psu.interrupt(0.010)
        dip = psu.dip(16.8, 0.100)
        assert psu.voltage_setpoint() == 24.0  # the dip ended at the setpoint it started from
    assert (cut.kind, cut.requested_ms, cut.level_v, cut.nominal_v) == ("interruption", 10.0, 0.0, 24.0)
    assert (dip.kind, dip.requested_ms, dip.level_v) == ("dip", 100.0, 16.8)
    assert cut.achieved_ms >= 10.0 and dip.achieved_ms >= 100.0


def test_out_of_range_voltage_is_refused_before_sending() -> None:
    with sim_supply(volts=(0.0, 28.0)) as psu:
        psu.set_voltage(24.0)
        with pytest.raises(InstrumentError) as refused:
            psu.set_voltage(28.5)
        assert psu.voltage_setpoint() == 24.0
    message = str(refused.value)
    assert "refused 28.5 V" in message and "voltage_range_v [0, 28]" in message
    assert "nothing was sent" in message and "instrument psu (ASRL1::INSTR)" in message


def test_out_of_range_current_and_dip_level_are_refused() -> None:
    with sim_supply(volts=(18.0, 30.0), amps=(0.0, 2.0)) as psu:
        with pytest.raises(InstrumentError, match="current_range_a"):
            psu.set_current_limit(2.5)
        with pytest.raises(InstrumentError, match=r"refused 12\.0 V"):
            psu.dip(12.0, 0.1)  # a dip below the lab file's minimum is refused like any setting


def test_idn_mismatch_names_both_models() -> None:
    with pytest.raises(InstrumentError) as wrong:
        sim_supply(model="N6705C").open()
    message = str(wrong.value)
    assert "SIM-PSU-3005" in message and "'N6705C'" in message and "ASRL1::INSTR" in message


def test_instrument_refusal_is_read_from_the_error_queue() -> None:
    # The lab file allows more than the simulated supply's 30 V: the instrument itself refuses.
    with sim_supply(volts=(0.0, 60.0)) as psu:
        with pytest.raises(InstrumentError, match="refused 'VOLT 45.000': -113"):
            psu.set_voltage(45.0)
        psu.set_voltage(5.0)  # the queue was drained: the next setting is clean


def test_attenuator_round_trip_and_range() -> None:
    config = attenuator_config(SIM_ATTENUATOR_RESOURCE, model=SIM_ATTENUATOR_MODEL, db=(0.0, 40.0))
    with RfAttenuator(config, backend=SIM_BACKEND) as fader:
        assert fader.set_attenuation(12.5) == 12.5
        assert fader.attenuation() == 12.5
        with pytest.raises(InstrumentError, match="attenuation_range_db"):
            fader.set_attenuation(41.0)
        assert fader.attenuation() == 12.5


def test_wrong_kind_is_caught_by_the_identity_or_the_answers() -> None:
    # A supply entry pointing at the attenuator: the model check catches it.
    with pytest.raises(InstrumentError, match="expects model"):
        PowerSupply(supply_config(SIM_ATTENUATOR_RESOURCE, model=SIM_SUPPLY_MODEL), backend=SIM_BACKEND).open()
