"""Bench instruments over VISA: a DC power supply and an RF attenuator, real or emulated.

    supply = open_instrument(lab.instruments[0])      # PowerSupply or RfAttenuator by kind
    supply.set_voltage(24.0); supply.interrupt(0.010)

Drivers: supply.py, attenuator.py (over visa.py); emulated SCPI instruments: emulated/;
interruption and dip profiles: profiles.py; what emulated outputs act on: targets.py, fade.py.
"""

from __future__ import annotations

from bench.instruments.attenuator import RfAttenuator
from bench.instruments.supply import PowerSupply, SupplyEventTiming
from bench.instruments.visa import DEFAULT_TIMEOUT_MS, PY_BACKEND, InstrumentError, VisaSession
from bench.lab.model import InstrumentConfig


def open_instrument(config: InstrumentConfig, *, backend: str = PY_BACKEND,
                    timeout_ms: int = DEFAULT_TIMEOUT_MS) -> PowerSupply | RfAttenuator:
    """Connect to the lab file's instrument (its *IDN? checked); close it (or use `with`) after."""
    driver = PowerSupply if config.kind == "power_supply" else RfAttenuator
    instrument = driver(config, backend=backend, timeout_ms=timeout_ms)
    instrument.open()
    return instrument


__all__ = [
    "InstrumentConfig", "InstrumentError", "PowerSupply", "RfAttenuator", "SupplyEventTiming",
    "VisaSession", "open_instrument",
]
