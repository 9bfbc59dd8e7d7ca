"""The replay on a real embedded lab: it changes the links (seen by probes), refuses bad input
before touching them, the fixture's clock waits for a km, and closed-loop verify on a window of a
real recording gives back the recording (generous bounds here; the strict goals are printed by
`skybench trace verify` and their figures are in docs/traces.md)."""

from __future__ import annotations

import statistics
import time

import pandas as pd
import pytest

from bench.errors import BenchError
from bench.lab.prober import UdpProber, start_echo_process
from bench.traces import build_trace
from bench.traces.importers import import_trace
from bench.traces.replay import Replay, lab_target, plan_replay
from bench.traces.verify import fidelity_table, verify_trace
from tests.traces.conftest import FJORD_2025

pytestmark = pytest.mark.lab
META = {"source": "synthetic", "start_time": "2025-01-01T00:00:00+00:00", "licence": "CC0-1.0"}
PORT = 7021


def step_trace(link: str = "oneweb") -> object:
    """5 ms each way for 3 s, then 25 ms each way for 3 s, km 10 -> 16."""
    rows = [{"t_s": float(t), "link": link, "direction": d, "delay_ms": 5.0 if t < 3 else 25.0, "loss": 0.0,
             "rate_bps": 100_000_000, "outage": False, "km": 10.0 + t} for t in range(7) for d in ("down", "up")]
    return build_trace(pd.DataFrame(rows), META)


def test_replay_changes_the_link_probes_see_it(lab) -> None:
    wan = next(w for w in lab.plan.wans if w.name == "oneweb")
    echo = start_echo_process(lab, "ground", [(str(wan.addresses.probe_target), PORT)])
    plan = plan_replay(step_trace(), speed=1)
    try:
        with UdpProber(lab.ns("router"), str(wan.addresses.probe_target), PORT, source=str(wan.addresses.router.ip),
                       rate_hz=50) as prober:
            with Replay(plan, lab_target(lab, plan)) as replay:
                assert replay.wait(timeout=20)
        samples = prober.samples()
        t = [replay.trace_time(s.sent_mono) for s in samples]
        early = [s.rtt_s * 1000 for s, tt in zip(samples, t) if 0.5 < tt < 2.5 and s.rtt_s is not None]
        late = [s.rtt_s * 1000 for s, tt in zip(samples, t) if 3.5 < tt < 5.5 and s.rtt_s is not None]
        assert len(early) > 50 and len(late) > 50
        assert 10.0 <= statistics.median(early) < 13.0, statistics.median(early)
        assert 50.0 <= statistics.median(late) < 53.0, statistics.median(late)
        assert lab.link("oneweb").spec.uplink.delay_ms == 25.0
    finally:
        echo.terminate()
        echo.wait()
        lab.link("oneweb").set(type(lab.link("oneweb").spec)())


def test_bad_trace_touches_no_link(lab) -> None:
    table = step_trace().table.copy()
    table.loc[table.index[-1], "rate_bps"] = 10  # 10 bit/s: valid trace, impossible for the emulator
    bad = build_trace(table, META)
    before = lab.link("oneweb").spec
    with pytest.raises(BenchError, match="rate_bps"):
        plan = plan_replay(bad, speed=1, name="bad")
        Replay(plan, lab_target(lab, plan)).start()
    assert lab.link("oneweb").spec == before
    with pytest.raises(BenchError, match="has no WAN in the lab"):
        plan = plan_replay(step_trace(link="iridium"))
        lab_target(lab, plan)
    assert lab.link("oneweb").spec == before


def test_fixture_waits_for_km(replay, lab) -> None:
    replay.play(step_trace(), speed=2, name="steps")
    t = replay.wait_for_km(14, timeout=10)
    assert t >= 4.0 and replay.km() >= 14
    assert "trace steps at" in replay.where() and "km 1" in replay.where()
    time.sleep(0.1)
    assert lab.link("oneweb").spec.downlink.delay_ms == 25.0  # the row for t=4 s has been applied
    replay.stop()
    with pytest.raises(BenchError, match="no trace is being replayed"):
        replay.trace_time()
    lab.link("oneweb").set(type(lab.link("oneweb").spec)())


def test_verify_window_of_a_real_recording(lab, capsys) -> None:
    trace = import_trace("starlink-dish", FJORD_2025)
    # 50 s holding the recording's outage (00:02:45.6, 0.999 s long) and its lossy seconds
    result = verify_trace(trace, lab=lab, name="fjordlink-2025-01-30", from_=150, to=200, min_outage_s=0.9,
                          check_rate=False)  # its rates are a calibrated default: test_verify_judges_loss_and_rate judges rates
    from rich.console import Console

    Console(width=180).print(fidelity_table(result))  # the figures, with the strict goals, in the log
    link = result.links["starlink"]
    assert link.probes > 2000
    assert abs(link.median_error_ms) < 2.0
    assert link.ks_distance < 0.15
    outage = link.checked_outages(0.9)
    assert len(outage) == 1 and outage[0].seen
    assert abs(outage[0].start_error_s) < 0.2 and abs(outage[0].end_error_s) < 0.2
    assert abs(link.measured_loss - link.trace_loss) < 0.03
    assert not link.extra_outages


def rated_trace() -> object:
    """40 s on oneweb: 20/5 Mbit/s for 20 s, then 10/3 Mbit/s with 1 % loss each way, a 2 s outage
    at 26 s; 15 ms each way throughout."""
    rows = []
    for t in range(41):
        first = t < 20
        for d in ("down", "up"):
            rows.append({"t_s": float(t), "link": "oneweb", "direction": d, "delay_ms": 15.0, "loss": 0.0 if first else 0.01,
                         "rate_bps": (20_000_000 if d == "down" else 5_000_000) if first else (10_000_000 if d == "down" else 3_000_000),
                         "outage": 26 <= t < 28, "km": 100.0 + t})
    return build_trace(pd.DataFrame(rows), META)


def test_verify_judges_loss_and_rate(lab, capsys) -> None:
    result = verify_trace(rated_trace(), lab=lab, name="rated", links={"oneweb": "oneweb"})
    from rich.console import Console

    Console(width=200).print(fidelity_table(result))
    link = result.links["oneweb"]
    goals = result.goals(link)
    # loss: the lossy half and the outage, counted against the trace's expectation and its spread
    assert link.expected_lost > 40 and goals["loss"], (link.lost, link.expected_lost, link.loss_tolerance)
    # rate: only the lossless first half is judged, in both directions
    assert {w.direction for w in link.rates} == {"down", "up"} and all(w.end_t <= 20.5 for w in link.rates)
    assert goals["rate_down"] and goals["rate_up"], [(w.direction, round(w.ratio, 3)) for w in link.rates]
    data = result.to_json()["links"]["oneweb"]
    assert set(data["rate_ratio"]) == {"down", "up"} and data["goals"]["loss"]


def test_loss_and_rate_goals_can_be_missed() -> None:
    """The goals are judged, not printed: a link that lost nothing of a lossy trace, or gave more
    than the trace's rate, misses them."""
    from bench.traces.verify import FidelityResult, LinkFidelity, RateWindow

    link = LinkFidelity(link="oneweb", wan="oneweb", base_rtt_ms=0.3, probes=2000, trace_median_ms=30, measured_median_ms=30,
                        trace_p95_ms=31, measured_p95_ms=31, ks_distance=0.01, trace_loss=0.05, measured_loss=0.0,
                        expected_lost=100.0, lost_sd=9.7, lost=0, outages=[], extra_outages=[],
                        rates=[RateWindow("down", 5, 10, 10e6, 12e6), RateWindow("down", 10, 15, 10e6, 12e6)])
    result = FidelityResult(trace="t", t0=0, t1=20, rate_hz=50, min_outage_s=1, links={"oneweb": link}, replay_p99_error_ms=1)
    goals = result.goals(link)
    assert not goals["loss"] and not goals["rate_down"] and "rate_up" not in goals and not result.passed
    link.lost, link.rates = 95, [RateWindow("down", 5, 10, 10e6, 9.3e6)]
    assert result.goals(link)["loss"] and result.goals(link)["rate_down"] and result.passed
