"""The lab file's safety limits, checked before anything is sent to an instrument."""

from __future__ import annotations

import math

from bench.instruments.visa import InstrumentError, where
from bench.lab.model import InstrumentConfig


def check_in_range(config: InstrumentConfig, field: str, value: float, unit: str) -> float:
    """`value` if it lies in the lab file's `field` range; otherwise refuse it, sending nothing."""
    allowed = getattr(config, field)
    if allowed is None:
        raise InstrumentError(
            f"has no {field} in the lab file, so no {unit} value can be sent",
            where=where(config), fix=f"add {field}: [min, max] to instrument {config.name!r} in the lab file",
        )
    low, high = allowed
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
        raise InstrumentError(
            f"refused {value!r} {unit}: outside the lab file's {field} [{low:g}, {high:g}] {unit}; "
            "nothing was sent to the instrument",
            where=where(config),
            fix=f"use a value within [{low:g}, {high:g}] {unit}, or widen {field} of {config.name!r} in the "
            "lab file if the device on it allows more",
        )
    return float(value)
