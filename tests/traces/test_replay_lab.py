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
    result = verify_trace(trace, lab=lab, name="fjordlink-2025-01-30", from_=150, to=200, min_outage_s=0.9)
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
