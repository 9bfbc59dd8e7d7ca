"""Judging a value against a quantity's limit and marginal band (values already in its units).

pass: inside the limit and outside the marginal band; marginal: inside the limit but within the
band of a bound (it passes, and is flagged); fail: outside the limit. A value exactly on a bound
is inside the limit (limits are inclusive: '<= 5 s' passes 5 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.measure.model import Limit, Marginal

Verdict = Literal["pass", "marginal", "fail"]
VERDICTS: tuple[Verdict, ...] = ("pass", "marginal", "fail")


@dataclass(frozen=True)
class Judgement:
    """A verdict and the bound it was decided against, with the signed distance to it."""

    verdict: Verdict
    bound: float | None  # the bound violated (fail) or approached (marginal); None for a plain pass
    side: Literal["low", "high", "equals"] | None
    deviation: float | None  # value - bound (fail: beyond the bound; marginal: margin left, signed)


def judge(value: float, limit: Limit, marginal: Marginal | None) -> Judgement:
    if limit.kind == "equals":
        target = float(limit.equals)  # type: ignore[arg-type]
        if value == target:  # counts and truths: exact by construction
            return Judgement("pass", None, None, None)
        return Judgement("fail", target, "equals", value - target)
    low, high = limit.low, limit.high
    if low is not None and value < low:
        return Judgement("fail", low, "low", value - low)
    if high is not None and value > high:
        return Judgement("fail", high, "high", value - high)
    if marginal is not None:
        # Nearest bound first, so a value in both bands (a narrow range) names the closer one.
        near: list[tuple[float, Judgement]] = []
        if low is not None and value < low + marginal.width(low):
            near.append((value - low, Judgement("marginal", low, "low", value - low)))
        if high is not None and value > high - marginal.width(high):
            near.append((high - value, Judgement("marginal", high, "high", value - high)))
        if near:
            return min(near, key=lambda pair: pair[0])[1]
    return Judgement("pass", None, None, None)
