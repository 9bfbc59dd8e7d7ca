"""The userspace backend's per-packet decisions, checked without any network."""

from __future__ import annotations

import statistics

import pytest

from bench.link.model import Impairment
from bench.link.userspace.shaper import Shaper


def shaper(**kw: object) -> Shaper:
    return Shaper(Impairment(**kw).engine_params(), seed=1)  # type: ignore[arg-type]


def test_rate_serializes_behind_held_packets() -> None:
    s = shaper(rate_bps=8_000_000, delay_ms=10)  # 1 byte per microsecond
    times = [s.admit(0.0, 1000) for _ in range(3)]
    assert times == pytest.approx([0.011, 0.012, 0.013])
    # An idle link starts from the arrival time again.
    s.held = 0
    assert s.admit(1.0, 1000) == pytest.approx(1.011)


def test_queue_limit_tail_drops_and_counts() -> None:
    s = shaper(delay_ms=100, limit_packets=5)
    admitted = [s.admit(0.0, 100) for _ in range(8)]
    assert sum(t is not None for t in admitted) == 5
    assert s.snapshot()["dropped_queue_full"] == 3 and s.snapshot()["queue_depth"] == 5


def test_gilbert_elliott_burst_length_is_one_over_r() -> None:
    s = shaper(ge_p=0.02, ge_r=0.2)
    bursts, run = [], 0
    for _ in range(200_000):
        s.held = 0
        if s.admit(0.0, 100) is None:
            run += 1
        elif run:
            bursts.append(run)
            run = 0
    assert statistics.mean(bursts) == pytest.approx(1 / 0.2, rel=0.1)
    assert s.counters["dropped_loss"] / 200_000 == pytest.approx(0.02 / (0.02 + 0.2), rel=0.1)


def test_jitter_order_option() -> None:
    s = shaper(delay_ms=20, jitter_ms=5, jitter_keeps_order=True)
    times = [s.admit(i * 0.001, 100) for i in range(500)]
    assert times == sorted(times)
    s = shaper(delay_ms=20, jitter_ms=5)
    times = [s.admit(i * 0.001, 100) for i in range(500)]
    assert times != sorted(times)
    delays = [t - i * 0.001 for i, t in enumerate(times)]  # type: ignore[operator]
    assert 0.015 <= min(delays) and max(delays) <= 0.025


def test_update_keeps_state_and_applies_to_next_packet() -> None:
    s = shaper(delay_ms=10)
    assert s.admit(0.0, 100) == pytest.approx(0.010)
    s.set(Impairment(delay_ms=30).engine_params())
    assert s.admit(0.001, 100) == pytest.approx(0.031)
    assert s.held == 2


def test_outage_drops_before_loss() -> None:
    s = shaper(outage=True, loss=0.5)
    assert all(s.admit(0.0, 100) is None for _ in range(100))
    assert s.counters["dropped_outage"] == 100 and s.counters["dropped_loss"] == 0
