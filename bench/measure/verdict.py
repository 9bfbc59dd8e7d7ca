"""Judging a value against a quantity's limit and marginal band (values already in its units).

pass: inside the limit and outside the marginal band; marginal: inside the limit but within the
band of a bound (it passes, and is flagged); fail: outside the limit. A value exactly on a bound
is inside the limit (limits are inclusive: '<= 5 s' passes 5 s). invalid: the value was taken
while a check that makes it meaningful did not hold (the witness was broken, the load was not
reached): it is kept, with why, but never judged against the limit and never passes.

One order of severity for every place that picks the worst of several verdicts (a requirement's
over its repeats, a repro run's, a report's sort): pass < marginal < invalid < fail. A
requirement or run that has no measurement at all is `not-measured`, between marginal and
invalid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bench.measure.model import Limit, Marginal

Verdict = Literal["pass", "marginal", "invalid", "fail"]
VERDICTS: tuple[Verdict, ...] = ("pass", "marginal", "invalid", "fail")  # least to most severe
NOT_MEASURED = "not-measured"
SEVERITY: dict[str, int] = {"pass": 0, "marginal": 1, NOT_MEASURED: 2, "invalid": 3, "fail": 4}
# How verdicts look: rich styles at the terminal, colours in charts and HTML.
VERDICT_STYLE: dict[str, str] = {"pass": "green", "marginal": "yellow", NOT_MEASURED: "yellow", "invalid": "bold magenta",
                                 "fail": "bold red", "error": "bold red"}
VERDICT_COLOUR: dict[str, str] = {"pass": "#2e7d32", "marginal": "#ff9f1c", NOT_MEASURED: "#9e9e9e", "invalid": "#8e24aa",
                                  "fail": "#c62828"}


def worst(verdicts: Iterable[str]) -> str:
    """The most severe of `verdicts` (SEVERITY's order); not-measured when there are none."""
    return max(verdicts, key=SEVERITY.__getitem__, default=NOT_MEASURED)


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
