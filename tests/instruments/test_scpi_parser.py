"""The emulated instruments read SCPI as real ones do: forms, paths, errors and the queue."""

from __future__ import annotations

from bench.instruments.emulated.supply import EmulatedPowerSupply
from bench.instruments.scpi_errors import parse_error_reply


def test_short_long_and_optional_forms() -> None:
    psu = EmulatedPowerSupply()
    psu.execute("SOURce:VOLTage:LEVel:IMMediate:AMPLitude 12.5")
    assert psu.execute("volt?") == "+1.250000E+01"
    psu.execute(":sour:volt 1500 mV")
    assert psu.execute("VOLTAGE?") == "+1.500000E+00"
    psu.execute("VOLT MAX")
    assert psu.execute("VOLT?") == "+6.000000E+01"
    assert psu.execute("SYST:ERR?") == '+0,"No error"'


def test_relative_paths_after_semicolon() -> None:
    psu = EmulatedPowerSupply()
    assert psu.execute("SOUR:VOLT 20;CURR 1.5;:OUTP ON;OUTP?") == "1"  # CURR is SOUR:CURR
    assert psu.execute("CURR?") == "+1.500000E+00"
    # MEAS:VOLT? then MEAS:CURR? without ':' means MEAS:MEAS:CURR?: an undefined header.
    assert psu.execute("MEAS:VOLT?;MEAS:CURR?") == "+2.000000E+01"
    assert psu.execute("SYST:ERR?") == '-113,"Undefined header"'


def test_error_codes_for_bad_parameters() -> None:
    psu = EmulatedPowerSupply()
    cases = {"VOLT": -109, "VOLT 1,2": -108, "VOLT abc": -104, "VOLT 5 A": -224, "OUTP MAYBE": -224,
             "VOLT 61": -222, "*IDN? 3": -108, 'VOLT "5': -102}
    for command, code in cases.items():
        psu.execute(command)
        error = parse_error_reply(psu.execute("SYST:ERR?") or "")
        assert error is not None and error.code == code, command


def test_error_queue_overflow_and_clear() -> None:
    psu = EmulatedPowerSupply()
    for _ in range(15):
        psu.execute("NOPE")
    assert psu.execute("SYST:ERR:COUN?") == "10"
    replies = [psu.execute("SYST:ERR?") for _ in range(10)]
    assert replies[:9] == ['-113,"Undefined header"'] * 9 and replies[9] == '-350,"Queue overflow"'
    psu.execute("NOPE")
    psu.execute("*CLS")
    assert psu.execute("SYST:ERR?") == '+0,"No error"'


def test_reset_switches_the_output_off() -> None:
    psu = EmulatedPowerSupply()
    psu.execute("VOLT 24;CURR 2;:OUTP ON")
    assert psu.powered
    psu.execute("*RST")
    assert psu.execute("OUTP?;VOLT?") == "0;+0.000000E+00" and not psu.powered
