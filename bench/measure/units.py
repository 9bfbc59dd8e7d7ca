"""The units a requirement can be measured in: a small, explicit vocabulary.

A value is only ever compared with a limit after converting it to the limit's units, and only
within one dimension (time, rate, fraction, count, truth): 7400 ms against a limit in s is
converted, 7.4 Mbit/s against a limit in s is refused. Nothing is guessed from a bare number.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

from bench.errors import BenchError

Unit = Literal["%", "s", "ms", "Mbit/s", "bit/s", "count", "bool", "ratio"]
UNITS: tuple[str, ...] = get_args(Unit)

# unit -> (dimension, factor to the dimension's base unit)
_SCALE: dict[str, tuple[str, float]] = {
    "s": ("time", 1.0),
    "ms": ("time", 1e-3),
    "bit/s": ("rate", 1.0),
    "Mbit/s": ("rate", 1e6),
    "ratio": ("fraction", 1.0),
    "%": ("fraction", 1e-2),
    "count": ("count", 1.0),
    "bool": ("truth", 1.0),
}


class UnitsError(BenchError):
    """A value cannot be compared with a limit: unknown units, or another dimension."""


def dimension(unit: str) -> str:
    if unit not in _SCALE:
        raise UnitsError(f"unknown units {unit!r}", fix=f"use one of: {', '.join(UNITS)}")
    return _SCALE[unit][0]


def convert(value: float, from_unit: str, to_unit: str, *, what: str = "value") -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit``; refuses a change of dimension."""
    from_dim, to_dim = dimension(from_unit), dimension(to_unit)
    if from_dim != to_dim:
        same = [u for u in UNITS if _SCALE[u][0] == to_dim]
        raise UnitsError(
            f"{what} is in {from_unit} ({from_dim}) but its limit is in {to_unit} ({to_dim}): they cannot be compared",
            fix=f"record the value in {' or '.join(same)}",
        )
    if from_unit == to_unit:
        return value
    return value * _SCALE[from_unit][1] / _SCALE[to_unit][1]


def as_number(value: object, unit: str, *, what: str = "value") -> float:
    """A recorded value as a float: booleans only in 'bool', counts whole, all finite."""
    if unit == "bool":
        if not isinstance(value, bool):
            raise UnitsError(f"{what} in bool must be true or false, got {value!r}", fix="pass a Python bool (True/False)")
        return 1.0 if value else 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnitsError(f"{what} must be a number, got {value!r}", fix=f"pass a number in {unit}")
    number = float(value)
    if not math.isfinite(number):
        raise UnitsError(f"{what} is {number}, not a finite number", fix="record what was measured; a missing measurement is a failed test, not NaN")
    if unit == "count" and not number.is_integer():
        raise UnitsError(f"{what} in count must be a whole number, got {value!r}", fix="count whole events")
    return number


def format_value(value: float, unit: str) -> str:
    """A value as a person reads it: '7.4 s', '95 %', '3 (count)' -> '3', 'true'."""
    if unit == "bool":
        return "true" if value else "false"
    if unit == "count":
        return f"{value:.0f}"
    return f"{_number(value)} {unit}"


def _number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    if magnitude >= 0.01:
        return f"{value:.3g}" if magnitude < 1 else f"{value:.4g}"
    return f"{value:.3g}"
