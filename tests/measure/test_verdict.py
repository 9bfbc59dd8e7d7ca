"""Verdicts: limits, marginal bands, unit conversion and refusal, and the message a person reads."""

from __future__ import annotations

import math

import pytest

from bench.measure.catalogue import default_catalogue
from bench.measure.errors import MeasurementError, UnknownRequirement
from bench.measure.measurement import RunInfo, clock_text, evaluate
from bench.measure.model import Limit, Marginal
from bench.measure.units import UnitsError, convert
from bench.measure.verdict import judge

RUN = RunInfo(run_id="r1", suite="nightly", dut="reference-router", firmware="fw-1.2", link_backend="userspace")


def verdict(value: float, limit: dict, marginal: dict | None = None) -> str:
    return judge(value, Limit(**limit), Marginal(**marginal) if marginal else None).verdict


# --- limits and bands --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3.0, "pass"), (4.5, "pass"), (4.51, "marginal"), (5.0, "marginal"), (5.0001, "fail"), (-1.0, "pass")],
)
def test_max_limit_with_a_percent_band(value: float, expected: str) -> None:
    # max 5 with a band of 10 % of the limit: (4.5, 5] is marginal, 5 itself still passes.
    assert verdict(value, {"max": 5}, {"within_percent": 10}) == expected


@pytest.mark.parametrize(("value", "expected"), [(94.99, "fail"), (95.0, "marginal"), (96.9, "marginal"), (97.0, "pass"), (100.0, "pass")])
def test_min_limit_with_an_absolute_band(value: float, expected: str) -> None:
    assert verdict(value, {"min": 95}, {"within": 2}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(-10.5, "fail"), (-10.0, "marginal"), (-8.5, "marginal"), (-7.9, "pass"), (0.0, "pass"), (7.9, "pass"), (8.1, "marginal"), (9.0, "marginal"), (10.01, "fail")],
)
def test_range_limit_is_marginal_near_either_end(value: float, expected: str) -> None:
    assert verdict(value, {"range": [-10, 10]}, {"within": 2}) == expected


def test_without_a_band_nothing_is_marginal() -> None:
    assert verdict(5.0, {"max": 5}) == "pass"
    assert verdict(5.01, {"max": 5}) == "fail"


def test_equals_for_counts_and_truths() -> None:
    assert verdict(0, {"equals": 0}) == "pass"
    assert verdict(1, {"equals": 0}) == "fail"
    assert verdict(1.0, {"equals": True}) == "pass"
    assert verdict(0.0, {"equals": True}) == "fail"


def test_a_narrow_range_names_the_nearer_bound() -> None:
    judgement = judge(0.9, Limit(range=(0, 1)), Marginal(within=0.6))
    assert judgement.verdict == "marginal" and judgement.bound == 1 and judgement.side == "high"


# --- units -------------------------------------------------------------------------------------


def test_units_convert_within_a_dimension() -> None:
    assert convert(7400, "ms", "s") == pytest.approx(7.4)
    assert convert(150, "Mbit/s", "bit/s") == 150e6
    assert convert(0.95, "ratio", "%") == pytest.approx(95)
    assert convert(3, "count", "count") == 3


@pytest.mark.parametrize(("units", "limit_units"), [("Mbit/s", "s"), ("s", "%"), ("count", "bool"), ("%", "count")])
def test_units_of_another_dimension_are_refused(units: str, limit_units: str) -> None:
    with pytest.raises(UnitsError, match="cannot be compared"):
        convert(1.0, units, limit_units)


def test_a_value_in_ms_is_judged_against_a_limit_in_s() -> None:
    catalogue = default_catalogue()
    in_ms = evaluate(catalogue, "FO-1", 7400, units="ms", quantity="detection", run=RUN)
    in_s = evaluate(catalogue, "FO-1", 7.4, units="s", quantity="detection", run=RUN)
    assert in_ms.value == in_s.value == 7.4 and in_ms.units == "s"
    assert (in_ms.recorded_value, in_ms.recorded_units) == (7400, "ms")
    assert in_ms.verdict == in_s.verdict == "fail"
    # 4999 ms is under 5 s but inside the 10 % band
    assert evaluate(catalogue, "FO-1", 4999, units="ms", quantity="detection", run=RUN).verdict == "marginal"
    assert evaluate(catalogue, "THR-1", 0.99, units="ratio", run=RUN).verdict == "pass"
    assert evaluate(catalogue, "THR-1", 0.9, units="ratio", run=RUN).verdict == "fail"


@pytest.mark.parametrize(
    ("requirement", "value", "units", "quantity", "match"),
    [
        ("FO-1", 7.4, "Mbit/s", "detection", r"in Mbit/s \(rate\) but its limit is in s \(time\)"),
        ("FO-1", 7.4, "seconds", "detection", "unknown units 'seconds'"),
        ("PWR-2", 1, "bool", "state_kept", "must be true or false"),
        ("POR-4", 1.5, "count", None, "whole number"),
        ("FO-3", math.nan, "s", None, "not a finite number"),
        ("FO-3", True, "s", None, "must be a number"),
    ],
)
def test_uncomparable_values_are_refused_not_judged(requirement: str, value: object, units: str, quantity: str | None, match: str) -> None:
    with pytest.raises(UnitsError, match=match):
        evaluate(default_catalogue(), requirement, value, units=units, quantity=quantity, run=RUN)  # type: ignore[arg-type]


def test_unknown_requirement_and_quantity_say_what_exists() -> None:
    catalogue = default_catalogue()
    with pytest.raises(UnknownRequirement, match=r"'FO-9' is not in the catalogue \(did you mean FO-[0-9]\?\)"):
        evaluate(catalogue, "FO-9", 1.0, units="s", run=RUN)
    with pytest.raises(MeasurementError, match=r"measures several quantities \(detection, switch\)"):
        evaluate(catalogue, "FO-1", 1.0, units="s", run=RUN)
    with pytest.raises(MeasurementError, match="(?s)no quantity 'detect'.*detection, switch"):
        evaluate(catalogue, "FO-1", 1.0, units="s", quantity="detect", run=RUN)


# --- what the record and its message say --------------------------------------------------------


def test_failed_measurement_says_which_requirement_by_how_much_and_where() -> None:
    m = evaluate(default_catalogue(), "FO-1", 7.4, units="s", quantity="detection", run=RUN, test="t::x",
                 trace="astana-almaty", trace_hash="ab12", trace_time_s=2 * 3600 + 13 * 60 + 5, km=431.2)
    assert m.message == "FO-1 failover detection time: 7.4 s > limit 5 s (+2.4 s, +48 %) at trace astana-almaty 02:13:05, km 431.2"
    assert (m.requirement, m.quantity, m.verdict, m.limit, m.limit_kind, m.limit_high) == ("FO-1", "detection", "fail", "<= 5 s", "max", 5.0)
    assert (m.dut, m.firmware, m.link_backend, m.suite, m.test) == ("reference-router", "fw-1.2", "userspace", "nightly", "t::x")
    assert (m.trace, m.trace_hash, m.km, m.catalogue_version) == ("astana-almaty", "ab12", 431.2, "1.1")


def test_messages_for_min_range_equals_marginal_and_pass() -> None:
    c = default_catalogue()
    assert evaluate(c, "THR-1", 91.2, units="%", run=RUN).message == (
        "THR-1 downlink goodput vs best possible over the emulated link: 91.2 % < limit 95 % (-3.8 percentage points, -4 %)"
    )
    assert evaluate(c, "POR-2", 12.5, units="%", run=RUN, km=10).message == (
        "POR-2 free-tier rate error vs configured cap: 12.5 % > limit 10 % of range [-10 %, 10 %] "
        "(+2.5 percentage points, +25 %) at km 10.0"
    )
    assert evaluate(c, "POR-4", 2, units="count", run=RUN).message == "POR-4 bypass attempts that got through: 2, required 0"
    assert evaluate(c, "PWR-2", False, units="bool", quantity="state_kept", run=RUN).message == (
        "PWR-2 sessions and quotas kept: false, required true"
    )
    marginal = evaluate(c, "FO-1", 4.8, units="s", quantity="detection", run=RUN, trace_time_s=59.6)
    assert marginal.verdict == "marginal"
    assert marginal.message == "FO-1 failover detection time: 4.8 s, marginal: 0.2 s from limit 5 s (band: within 10 % of the limit) at trace 00:01:00"
    assert evaluate(c, "OPS-1", 0.4, units="s", run=RUN).message == "OPS-1 POS transaction latency p95: 0.4 s, pass (limit <= 1.5 s)"


def test_trace_clock_text() -> None:
    assert clock_text(0) == "00:00:00"
    assert clock_text(7985) == "02:13:05"
    assert clock_text(26 * 3600 + 1) == "26:00:01"
