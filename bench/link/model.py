"""The impairment model shared by every link backend: one `Impairment` per direction.

Semantics (both backends implement exactly these, netem's own; see docs/link-emulator.md):
- a packet is first subject to loss (outage, then Gilbert-Elliott or random loss), then to the
  queue limit (tail drop), then gets its departure time: arrival + delay + a jitter sample uniform
  in [-jitter, +jitter] (netem's default distribution). With a rate, the departure is
  max(departure of the packet ahead, that time) + frame length / rate: serialization behind the
  packets already held, so a shaped link never reorders. Without a rate, jitter reorders unless
  `jitter_keeps_order`.
- `limit_packets` counts every packet the link holds (queued for serialization or in flight),
  like netem's limit; None picks at least the bandwidth-delay product so a fast link is not starved.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.errors import BenchError
from bench.link.units import parse_fraction, parse_rate_bps, parse_time_ms

DEFAULT_LIMIT_FLOOR = 1000  # netem's own default limit
FULL_FRAME_BYTES = 1514  # Ethernet header + 1500-byte MTU: what the BDP is counted in
MAX_DELAY_MS = 60_000.0  # netem's 32-bit tick fields hold ~274 s; a minute is plenty for a link


class Impairment(BaseModel):
    """What one direction of a link does to packets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delay_ms: float = Field(0.0, ge=0.0, le=MAX_DELAY_MS, description="one-way delay")
    jitter_ms: float = Field(0.0, ge=0.0, le=MAX_DELAY_MS, description="uniform +/- around the delay")
    jitter_keeps_order: bool = Field(False, description="jitter never reorders packets")
    loss: float = Field(0.0, ge=0.0, le=1.0, description="random loss probability")
    ge_p: float | None = Field(None, ge=0.0, le=1.0, description="Gilbert-Elliott good->bad")
    ge_r: float | None = Field(None, ge=0.0, le=1.0, description="Gilbert-Elliott bad->good")
    ge_loss_bad: float = Field(1.0, ge=0.0, le=1.0, description="loss in the bad state (1-h)")
    ge_loss_good: float = Field(0.0, ge=0.0, le=1.0, description="loss in the good state (1-k)")
    rate_bps: int | None = Field(None, ge=1_000, le=100 * 10**9, description="bit/s, None = unlimited")
    limit_packets: int | None = Field(None, ge=1, le=10_000_000, description="packets held at most")
    outage: bool = Field(False, description="every packet dropped")

    @model_validator(mode="after")
    def _check_combinations(self) -> Impairment:
        if (self.ge_p is None) != (self.ge_r is None):
            raise ValueError("ge_p and ge_r: Gilbert-Elliott loss needs both (good->bad and bad->good)")
        if self.ge_p is not None and self.loss > 0:
            raise ValueError("loss and ge_p: use either random loss or Gilbert-Elliott loss, not both")
        if self.jitter_ms > self.delay_ms:
            raise ValueError(
                f"jitter_ms={self.jitter_ms:g} is larger than delay_ms={self.delay_ms:g}: "
                "a packet cannot leave before it arrived; allowed range is 0..delay_ms"
            )
        return self

    @property
    def gilbert_elliott(self) -> bool:
        return self.ge_p is not None

    @property
    def mean_loss(self) -> float:
        """Long-run share of packets lost (an outage loses all; Gilbert-Elliott at its stationary mix)."""
        if self.outage:
            return 1.0
        if self.gilbert_elliott:
            p, r = self.ge_p or 0.0, self.ge_r or 0.0
            bad_share = p / (p + r) if p + r > 0 else 0.0
            return bad_share * self.ge_loss_bad + (1 - bad_share) * self.ge_loss_good
        return self.loss

    def effective_limit(self) -> int:
        """The queue limit in packets: as set, or max(floor, 2 x bandwidth-delay product)."""
        if self.limit_packets is not None:
            return self.limit_packets
        if self.rate_bps is None:
            # Unshaped: only delay holds packets; size for 10 Gbit/s of full frames in flight.
            pps = 10 * 10**9 / (FULL_FRAME_BYTES * 8)
        else:
            pps = self.rate_bps / (FULL_FRAME_BYTES * 8)
        bdp = pps * (self.delay_ms + self.jitter_ms) / 1000.0
        return max(DEFAULT_LIMIT_FLOOR, int(math.ceil(2 * bdp)))

    def engine_params(self) -> dict[str, Any]:
        """Plain values for the userspace engine (which does not import pydantic)."""
        data = self.model_dump()
        data["limit_packets"] = self.effective_limit()
        return data

    def describe(self) -> str:
        parts = [f"delay {self.delay_ms:g}ms"]
        if self.jitter_ms:
            parts.append(f"jitter {self.jitter_ms:g}ms" + (" ordered" if self.jitter_keeps_order else ""))
        if self.loss:
            parts.append(f"loss {self.loss * 100:g}%")
        if self.gilbert_elliott:
            parts.append(
                f"gemodel p={self.ge_p:g} r={self.ge_r:g} "
                f"1-h={self.ge_loss_bad:g} 1-k={self.ge_loss_good:g}"
            )
        if self.rate_bps:
            parts.append(f"rate {self.rate_bps / 1e6:g}mbit")
        parts.append(f"limit {self.effective_limit()}")
        if self.outage:
            parts.append("OUTAGE")
        return ", ".join(parts)


class LinkSpec(BaseModel):
    """Both directions of one link. Uplink: onboard (term) -> ground (gnd); downlink the reverse."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uplink: Impairment = Field(default_factory=Impairment)
    downlink: Impairment = Field(default_factory=Impairment)

    def direction(self, name: str) -> Impairment:
        if name not in DIRECTIONS:
            raise BenchError(f"unknown link direction {name!r}", fix="use 'uplink' or 'downlink'")
        return getattr(self, name)


DIRECTIONS = ("uplink", "downlink")

# Keyword names an engineer may use (CLI flags, trace columns) and the parser for each.
_PARSERS = {
    "delay": ("delay_ms", parse_time_ms),
    "delay_ms": ("delay_ms", parse_time_ms),
    "jitter": ("jitter_ms", parse_time_ms),
    "jitter_ms": ("jitter_ms", parse_time_ms),
    "loss": ("loss", parse_fraction),
    "rate": ("rate_bps", parse_rate_bps),
    "rate_bps": ("rate_bps", parse_rate_bps),
    "ge_p": ("ge_p", parse_fraction),
    "ge_r": ("ge_r", parse_fraction),
    "ge_loss_bad": ("ge_loss_bad", parse_fraction),
    "ge_loss_good": ("ge_loss_good", parse_fraction),
}


def impairment_from_strings(base: Impairment | None = None, *, where: str | None = None, **values: Any) -> Impairment:
    """Build an Impairment from user strings ("30ms", "200mbit", "1%"), on top of `base`.

    Errors become a BenchError naming the field, the value and the allowed range.
    """
    fields: dict[str, Any] = base.model_dump() if base is not None else {}
    for key, raw in values.items():
        if raw is None:
            continue
        if key in ("rate", "rate_bps") and str(raw).lower() in ("unlimited", "none"):
            fields["rate_bps"] = None
        elif key in _PARSERS:
            field, parse = _PARSERS[key]
            try:
                fields[field] = parse(raw)
            except ValueError as exc:
                raise BenchError(f"{key}: {exc}", where=where, fix="see `skybench link set --help`") from None
        else:
            fields[key] = raw
    return validated_impairment(fields, where=where)


def validated_impairment(fields: dict[str, Any], *, where: str | None = None) -> Impairment:
    try:
        return Impairment.model_validate(fields)
    except ValidationError as exc:
        raise BenchError(_explain(exc), where=where, fix="give a value inside the allowed range") from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "impairment"
        ctx = err.get("ctx") or {}
        bounds = []
        for key, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if key in ctx:
                bounds.append(f"{word} {ctx[key]}")
        allowed = f" (allowed: {' and '.join(bounds)})" if bounds else ""
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = f"={value!r}" if not isinstance(value, dict) else ""
        lines.append(f"{field}{shown}: {msg}{allowed}")
    return "invalid link impairment: " + "; ".join(lines)
