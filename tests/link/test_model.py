"""The impairment model: values, units, limits, and the messages for impossible ones."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.link.model import DEFAULT_LIMIT_FLOOR, Impairment, LinkSpec, impairment_from_strings
from bench.link.units import format_rate, parse_fraction, parse_rate_bps, parse_time_ms


@pytest.mark.parametrize(
    ("text", "ms"), [("30ms", 30.0), ("500us", 0.5), ("1.5s", 1500.0), ("12", 12.0), (" 2.5 ms ", 2.5)]
)
def test_time_units(text: str, ms: float) -> None:
    assert parse_time_ms(text) == pytest.approx(ms)


@pytest.mark.parametrize(
    ("text", "bps"),
    [("200mbit", 200_000_000), ("1.5gbit", 1_500_000_000), ("512kbit", 512_000), ("10mbps", 80_000_000)],
)
def test_rate_units(text: str, bps: int) -> None:
    assert parse_rate_bps(text) == bps


def test_fraction_units() -> None:
    assert parse_fraction("1%") == pytest.approx(0.01)
    assert parse_fraction("0.25") == pytest.approx(0.25)


@pytest.mark.parametrize("bad", ["30 parsecs", "fast", "", "ms30"])
def test_bad_units_are_refused_with_the_accepted_forms(bad: str) -> None:
    with pytest.raises(ValueError, match="ms|unit|number"):
        parse_time_ms(bad)


def test_strings_build_an_impairment() -> None:
    imp = impairment_from_strings(delay="30ms", jitter="2ms", rate="200mbit", loss="1%")
    assert (imp.delay_ms, imp.jitter_ms, imp.rate_bps, imp.loss) == (30.0, 2.0, 200_000_000, 0.01)
    # Updating on top of a base keeps what is not given.
    imp2 = impairment_from_strings(imp, delay="40ms")
    assert (imp2.delay_ms, imp2.rate_bps) == (40.0, 200_000_000)
    assert impairment_from_strings(imp, rate="unlimited").rate_bps is None


@pytest.mark.parametrize(
    ("values", "field", "allowed"),
    [
        ({"delay": "-5ms"}, "delay_ms", ">= 0"),
        ({"loss": "150%"}, "loss", "<= 1"),
        ({"limit_packets": 0}, "limit_packets", ">= 1"),
        ({"rate": "10bit"}, "rate_bps", ">= 1000"),
        ({"ge_p": "5%", "ge_r": "200%"}, "ge_r", "<= 1"),
    ],
)
def test_impossible_values_name_field_and_range(values: dict[str, object], field: str, allowed: str) -> None:
    with pytest.raises(BenchError) as info:
        impairment_from_strings(where="link starlink", **values)
    text = str(info.value)
    assert field in text and allowed in text and "link starlink" in text
    assert "how to fix" in text


def test_inconsistent_combinations_are_refused() -> None:
    with pytest.raises(BenchError, match="jitter_ms=5 is larger than delay_ms=1"):
        impairment_from_strings(delay="1ms", jitter="5ms")
    with pytest.raises(BenchError, match="ge_p and ge_r"):
        impairment_from_strings(ge_p="1%")
    with pytest.raises(BenchError, match="either random loss or Gilbert-Elliott"):
        impairment_from_strings(loss="1%", ge_p="1%", ge_r="30%")
    with pytest.raises(BenchError, match="unknown unit"):
        impairment_from_strings(rate="200 furlongs")


def test_default_limit_covers_the_bandwidth_delay_product() -> None:
    assert Impairment().effective_limit() == DEFAULT_LIMIT_FLOOR
    # 1 Gbit/s x 300 ms of full frames is ~24.8k packets; the default holds twice that.
    fast = Impairment(rate_bps=10**9, delay_ms=300)
    assert fast.effective_limit() >= 2 * 10**9 * 0.3 / (1514 * 8)
    assert Impairment(rate_bps=10**9, delay_ms=300, limit_packets=50).effective_limit() == 50


def test_linkspec_directions_are_independent() -> None:
    spec = LinkSpec(uplink=Impairment(delay_ms=10), downlink=Impairment(delay_ms=2))
    assert spec.direction("uplink").delay_ms == 10 and spec.direction("downlink").delay_ms == 2
    with pytest.raises(BenchError, match="uplink"):
        spec.direction("sideways")


def test_format_rate() -> None:
    assert format_rate(200_000_000) == "200mbit" and format_rate(None) == "unlimited"


def test_mean_loss_is_the_long_run_share_for_every_loss_model() -> None:
    assert Impairment(loss=0.02).mean_loss == 0.02
    assert Impairment(outage=True).mean_loss == 1.0
    # Gilbert-Elliott: in the bad state 1/(1+9) of the time, losing 80 % there and 1 % in the good state
    assert Impairment(ge_p=0.01, ge_r=0.09, ge_loss_bad=0.8, ge_loss_good=0.01).mean_loss == pytest.approx(0.1 * 0.8 + 0.9 * 0.01)
