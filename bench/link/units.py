"""Parsing of the unit strings engineers type: "30ms", "200mbit", "1%", "1.5gbit".

Each parser returns the value in the model's base unit (milliseconds, bit/s, fraction 0..1) and
raises ValueError with a message that names the accepted forms, so a CLI can show it as is.
"""

from __future__ import annotations

import re

_NUMBER_UNIT = re.compile(r"^\s*(-?[0-9]+(?:\.[0-9]*)?|-?\.[0-9]+)\s*([a-zA-Z%/]*)\s*$")

_TIME_TO_MS = {"": 1.0, "ms": 1.0, "msec": 1.0, "us": 0.001, "usec": 0.001, "s": 1000.0, "sec": 1000.0}

# Decimal prefixes as tc(8) uses them; "bps" (bytes/s) variants as well since tc accepts them.
_RATE_TO_BPS = {
    "": 1, "bit": 1, "bps": 8, "bit/s": 1,
    "kbit": 10**3, "kbps": 8 * 10**3, "k": 10**3,
    "mbit": 10**6, "mbps": 8 * 10**6, "m": 10**6,
    "gbit": 10**9, "gbps": 8 * 10**9, "g": 10**9,
}


def _split(text: str, what: str, example: str) -> tuple[float, str]:
    if isinstance(text, (int, float)):
        return float(text), ""
    match = _NUMBER_UNIT.match(str(text))
    if not match:
        raise ValueError(f"{what} {text!r} is not a number with a unit (example: {example})")
    return float(match.group(1)), match.group(2).lower()


def parse_time_ms(text: str | float) -> float:
    """"30ms" -> 30.0, "500us" -> 0.5, "1.5s" -> 1500.0; a bare number means milliseconds."""
    value, unit = _split(text, "time", "30ms, 500us, 1.5s")
    if unit not in _TIME_TO_MS:
        raise ValueError(f"time {text!r} has unknown unit {unit!r}: use ms, us or s (example: 30ms)")
    return value * _TIME_TO_MS[unit]


def parse_rate_bps(text: str | float) -> int:
    """"200mbit" -> 200_000_000 bit/s; "1.5gbit", "512kbit", "10mbps" (bytes) also accepted."""
    value, unit = _split(text, "rate", "200mbit, 1.5gbit, 512kbit")
    if unit not in _RATE_TO_BPS:
        raise ValueError(
            f"rate {text!r} has unknown unit {unit!r}: use bit, kbit, mbit or gbit (example: 200mbit)"
        )
    return int(round(value * _RATE_TO_BPS[unit]))


def parse_fraction(text: str | float) -> float:
    """"1%" -> 0.01; a bare number is a fraction already ("0.01")."""
    value, unit = _split(text, "probability", "1%, 0.5%, 0.01")
    if unit == "%":
        return value / 100.0
    if unit == "":
        return value
    raise ValueError(f"probability {text!r} has unknown unit {unit!r}: use % (example: 1%) or a fraction")


def format_rate(bps: int | None) -> str:
    if bps is None:
        return "unlimited"
    for unit, scale in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bps >= scale:
            return f"{bps / scale:g}{unit}"
    return f"{bps}bit"
