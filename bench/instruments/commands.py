"""The command each driver sends, per instrument dialect: the one place to adapt to a model.

Most bench supplies and step attenuators speak these SCPI forms; a model that differs gets its
own table here and an entry in `_DIALECTS` (matched against the `*IDN?` model, case-insensitive),
and the drivers need no change. The pyvisa-sim definitions (sim/instruments.yaml) match these
strings exactly, number formats included.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommonCommands:
    identify: str = "*IDN?"
    clear_status: str = "*CLS"
    reset: str = "*RST"
    next_error: str = "SYST:ERR?"


@dataclass(frozen=True)
class SupplyCommands(CommonCommands):
    set_voltage: str = "VOLT {:.3f}"
    get_voltage: str = "VOLT?"
    set_current: str = "CURR {:.4f}"
    get_current: str = "CURR?"
    output_on: str = "OUTP ON"
    output_off: str = "OUTP OFF"
    get_output: str = "OUTP?"
    measure_voltage: str = "MEAS:VOLT?"
    measure_current: str = "MEAS:CURR?"


@dataclass(frozen=True)
class AttenuatorCommands(CommonCommands):
    set_attenuation: str = "ATT {:.2f}"
    get_attenuation: str = "ATT?"


SCPI_SUPPLY = SupplyCommands()
SCPI_ATTENUATOR = AttenuatorCommands()

# (substring of the *IDN? model, table); the first match wins, the generic SCPI table otherwise.
_DIALECTS: dict[str, list[tuple[str, SupplyCommands | AttenuatorCommands]]] = {
    "power_supply": [],
    "rf_attenuator": [],
}


def supply_commands(idn_model: str) -> SupplyCommands:
    for needle, table in _DIALECTS["power_supply"]:
        if needle.lower() in idn_model.lower() and isinstance(table, SupplyCommands):
            return table
    return SCPI_SUPPLY


def attenuator_commands(idn_model: str) -> AttenuatorCommands:
    for needle, table in _DIALECTS["rf_attenuator"]:
        if needle.lower() in idn_model.lower() and isinstance(table, AttenuatorCommands):
            return table
    return SCPI_ATTENUATOR
