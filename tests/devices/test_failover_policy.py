"""The failover decision on its own: thresholds, preference order, failback hold, no flapping."""

from __future__ import annotations

from bench.devices.reference.config import HealthConfig
from bench.devices.reference.failover import FailoverPolicy

HEALTH = HealthConfig(interval_s=1.0, timeout_s=0.5, down_after=3, up_after=2, failback_hold_s=10.0)
ORDER = {"passengers": ["oneweb", "starlink", "lte"], "ops": ["starlink", "oneweb", "lte"]}


def _round(p: FailoverPolicy, now: float, **answered: bool) -> list:
    return p.observe_round({wan: (answered.get(wan, True), 0.01) for wan in ("oneweb", "starlink", "lte")}, now)


def test_starts_on_each_class_first_choice() -> None:
    p = FailoverPolicy(HEALTH, ORDER, now=0.0)
    assert p.active == {"passengers": "oneweb", "ops": "starlink"}


def test_down_needs_consecutive_failures_and_a_success_resets_the_count() -> None:
    p = FailoverPolicy(HEALTH, ORDER, now=0.0)
    _round(p, 1, oneweb=False)
    _round(p, 2, oneweb=False)
    _round(p, 3, oneweb=True)  # breaks the streak
    _round(p, 4, oneweb=False)
    _round(p, 5, oneweb=False)
    assert p.wans["oneweb"].state == "up"
    events = _round(p, 6, oneweb=False)
    assert p.wans["oneweb"].state == "down"
    assert [(e.event, e.data.get("to")) for e in events] == [("wan_down", None), ("switch", "starlink")]
    assert p.active["passengers"] == "starlink"
    assert p.active["ops"] == "starlink"  # ops never used oneweb


def test_failback_waits_for_the_hold_and_switches_once() -> None:
    p = FailoverPolicy(HEALTH, ORDER, now=0.0)
    t = 0.0
    for _ in range(3):
        t += 1
        _round(p, t, oneweb=False)
    assert p.active["passengers"] == "starlink"
    for _ in range(2):
        t += 1
        _round(p, t)
    assert p.wans["oneweb"].state == "up"
    up_at = t
    while t < up_at + HEALTH.failback_hold_s - 1:
        t += 1
        _round(p, t)
        assert p.active["passengers"] == "starlink", f"failed back after {t - up_at} s, hold is 10 s"
    t += 1
    _round(p, t)
    assert p.active["passengers"] == "oneweb"
    reasons = [(e.data["class"], e.data["reason"]) for e in p.switches]
    assert reasons == [("passengers", "failover"), ("passengers", "failback")]


def test_a_flapping_preferred_wan_never_gets_traffic_back() -> None:
    p = FailoverPolicy(HEALTH, ORDER, now=0.0)
    t = 0.0
    for cycle in range(5):
        for ok in [False] * 3 + [True] * 4:  # down for 3 s, up for 4 s (< 10 s hold)
            t += 1
            _round(p, t, oneweb=ok)
    assert p.active["passengers"] == "starlink"
    assert len(p.switches) == 1


def test_wans_failing_together_cause_no_hop_and_the_first_back_gets_the_traffic() -> None:
    p = FailoverPolicy(HEALTH, ORDER, now=0.0)
    for t in range(1, 4):
        _round(p, t, oneweb=False, starlink=False, lte=False)
    assert all(h.state == "down" for h in p.wans.values())
    # All three went down in the same round: nothing to switch to, so nothing switched.
    assert p.switches == [] and p.active == {"passengers": "oneweb", "ops": "starlink"}
    for t in range(4, 6):
        _round(p, t, oneweb=False, starlink=False, lte=True)
    assert p.active == {"passengers": "lte", "ops": "lte"}
    assert [(e.data["class"], e.data["to"], e.data["reason"]) for e in p.switches] == [
        ("passengers", "lte", "failover"), ("ops", "lte", "failover")]


def test_a_single_result_is_a_round_of_one() -> None:
    p = FailoverPolicy(HEALTH, ORDER, now=0.0)
    for t in range(1, 4):
        p.observe("oneweb", False, float(t))
    assert p.active["passengers"] == "starlink"
