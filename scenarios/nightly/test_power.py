"""Nightly: supply interruptions and RF fades, driven through the lab's instruments over VISA.

The instruments are the `instrument_lab`'s (fixtures/instruments.py): the `--lab` file's when it
lists a power supply and an attenuator, otherwise emulated ones the fixture adds to the embedded
lab (a supply feeding the reference router, an attenuator in front of the first satellite WAN).

The reference router runs `scenario_router_config(...)` of the run's configuration (router.yaml, or
`--router-config`): its boot time capped at **5 s** instead of router.yaml's 25 s (so PWR-2 stays
well under a minute; the recovery figure is boot time + bring-up and scales with `power.boot_s`),
a flash write at least every 2 s, and a 100 MB test bundle. The hold-up time and the health
probes are the run's (router.yaml: 15 ms; 1 s probes, down after 3, 20 s failback hold), so a
router configured without hold-up fails PWR-1 and one with slow failover thresholds fails the
fade's FO-1, as the failover tests do.

Every supply event is recorded requested next to achieved (the profile records, attached to the
report); the fade's hold time likewise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import allure
import pytest

from bench.devices.reference import ReferenceRouter, RouterConfig
from bench.devices.reference.passenger import Passenger
from bench.instruments import PowerSupply, RfAttenuator
from bench.instruments.fade import FadeModel
from bench.instruments.profiles import SupplyEvent, SupplyProfile, en50155_interruption, start_profile
from bench.lab import netns
from bench.lab.lab import Lab

pytestmark = [pytest.mark.nightly, pytest.mark.lab]



def scenario_router_config(base: RouterConfig) -> RouterConfig:
    """The run's router configuration (router.yaml, or --router-config) made quick to test: boot
    and flash period capped at 5 s and 2 s, and the 100 MB test bundle; everything else as run."""
    return base.override({
        "power": {"boot_s": min(base.power.boot_s, 5.0), "flash_save_s": min(base.power.flash_save_s, 2.0)},
        "portal": {"packages": [
            {"id": "bundle-test", "kind": "bundle", "bytes": 100_000_000, "price_kzt": 300, "title": "test bundle"},
            *[p.model_dump() for p in base.portal.packages if p.id != "bundle-test"],
        ]},
    })


SUPPLY_LOSS_MS = 2000.0
STALL_LOST_S = 2.0  # an open connection that delivers nothing this long counts as lost (PWR-1)
FADE_HOLD_S = 6.0


@pytest.fixture(scope="module")
def power_lab(instrument_lab: Lab) -> Iterator[Lab]:
    router: ReferenceRouter | None = instrument_lab.router
    if router is None:
        pytest.skip("these scenarios observe the embedded reference router (lab.router)")
    wanted = scenario_router_config(router.config)
    if router.config != wanted:
        router.restart(wanted)  # a fresh router: no sessions carried in
    yield instrument_lab


# -- passengers and what the router says about them ------------------------------------------------
def _accept(p: Passenger) -> None:
    status, _, body = p.http("POST", "http://portal.skybench.test/api/accept", body="")
    assert status == 200, body


def _buy(p: Passenger, package: str) -> dict[str, Any]:
    """Order at the portal, pay at the provider, come back to the portal (as a browser does)."""
    status, _, body = p.http("POST", "http://portal.skybench.test/api/buy", body=f"package={package}")
    assert status == 200, body
    q = {k: v[0] for k, v in parse_qs(urlparse(json.loads(body)["checkout_url"]).query).items()}
    form = f"order={q['order']}&amount={q['amount']}&return={q['return']}&card=4242424242424242"
    status, headers, body = p.http("POST", "http://pay.skybench.test/checkout/pay", body=form)
    assert status == 303, body
    status, _, body = p.http("GET", headers["location"])
    assert status == 200, body
    return json.loads(body)


def _sessions(router: ReferenceRouter) -> dict[tuple[str, str], dict[str, Any]]:
    return {(s["mac"], s["ip"]): s for s in router.status()["sessions"]}


def _starts_since(router: ReferenceRouter, t0: float) -> int:
    """routerd starts (boots) since t0, from its event log file (it survives the power loss)."""
    assert router.plan is not None
    lines = router.plan.state_log.read_text().splitlines()
    return sum(1 for line in lines if (e := json.loads(line))["event"] == "started" and e["time"] >= t0)


def _longest_stall_s(samples: list[tuple[float, int, int, int]], end_s: float) -> float:
    """The longest time a download received nothing (samples: elapsed s, payload bytes, ...)."""
    progress = [0.0] + [t for (t, total), (_, previous) in zip(((s[0], s[1]) for s in samples[1:]),
                                                               ((s[0], s[1]) for s in samples)) if total > previous]
    progress.append(end_s)
    return max(b - a for a, b in zip(progress, progress[1:]))


def _terminal_ports_up(lab: Lab) -> dict[str, bool]:
    """Per WAN, whether the terminal's LAN port sees the router's port (carrier)."""
    states = {}
    for wan in lab.plan.wans:
        with netns.ipr(lab.ns(wan.terminal_role)) as ipr:
            link = ipr.get_links(ipr.link_lookup(ifname="lan0")[0])[0]
            states[wan.name] = link.get_attr("IFLA_OPERSTATE") == "UP"
    return states


def _packets_from_router(lab: Lab) -> dict[str, int]:
    """Per WAN, packets each terminal has received from the router on its LAN port (probes,
    passengers' traffic): what a powered router sends, and a dead one cannot."""
    counts = {}
    for wan in lab.plan.wans:
        with netns.ipr(lab.ns(wan.terminal_role)) as ipr:
            link = ipr.get_links(ipr.link_lookup(ifname="lan0")[0])[0]
            counts[wan.name] = int(link.get_attr("IFLA_STATS64")["rx_packets"])
    return counts


def _portal_reachable(p: Passenger) -> bool:
    try:
        p.http("GET", "http://198.18.0.1/api/whoami", timeout_s=1.0)
        return True
    except OSError:
        return False


def _router_answers(router: ReferenceRouter) -> dict[str, Any] | None:
    try:  # short: with its loopback down a dead router's connect hangs until the timeout
        return router.api("/api/status", timeout_s=0.5)
    except OSError:
        return None


# -- PWR-1 ------------------------------------------------------------------------------------------
@pytest.mark.requirement("PWR-1")
def test_s2_interruptions_during_traffic_are_ridden_through(power_lab: Lab, power_supply: PowerSupply, measure: Any) -> None:
    router: ReferenceRouter = power_lab.router
    with Passenger(power_lab, "pwr1") as p:
        p.connect()
        _accept(p)
        before = _sessions(router)
        t0 = time.time()
        handle = start_profile(power_supply, en50155_interruption("S2", repeat=3, gap_s=1.0), start_after_s=1.0)
        transfer_error: str | None = None
        samples: list[tuple[float, int, int, int]] = []
        try:
            transfer = p.download(seconds=5.0, samples=samples)  # passenger traffic through all three
            stall_s = _longest_stall_s(samples, transfer.seconds)
            if stall_s >= STALL_LOST_S:
                transfer_error = f"no data for {stall_s:.1f} s"
        except OSError as exc:
            transfer_error = str(exc)
        run = handle.wait(timeout_s=60)
        run.attach()
        assert router.power.wait_running(router.config.power.boot_s + 60)
        reboots = _starts_since(router, t0)
        after = _sessions(router)
    achieved = [r.achieved_ms for r in run.records]
    lost = len(before.keys() - after.keys()) + (transfer_error is not None)
    print(f"\nPWR-1: {run.summary()}; reboots {reboots}; sessions lost {lost}"
          + (f" (transfer: {transfer_error})" if transfer_error else f"; transfer {transfer.bits_per_s / 1e6:.2f} Mbit/s"))
    context = {"requested_ms": 10.0, "achieved_ms": achieved, "hold_up_ms": router.config.power.hold_up_ms}
    measure("PWR-1", reboots, units="count", quantity="reboots", **context)
    measure("PWR-1", lost, units="count", quantity="sessions_lost", transfer_error=transfer_error, **context)
    assert len(run.records) == 3


# -- PWR-2 ------------------------------------------------------------------------------------------
@pytest.mark.requirement("PWR-2")
def test_supply_loss_router_recovers_with_sessions_and_quotas(power_lab: Lab, power_supply: PowerSupply, measure: Any) -> None:
    router: ReferenceRouter = power_lab.router
    power = router.config.power
    with Passenger(power_lab, "pwr2") as p:
        p.connect()
        assert _buy(p, "bundle-test")["tier"] == "bundle"
        p.download(nbytes=3_000_000)
        time.sleep(power.flash_save_s * 1.5 + 0.5)  # one periodic flash write after the traffic
        before = _sessions(router)
        used_before = {k: s.get("quota_used_bytes") for k, s in before.items()}
        assert any(u and u > 3_000_000 for u in used_before.values())

        profile = SupplyProfile(name=f"supply loss {SUPPLY_LOSS_MS:.0f} ms",
                                events=[SupplyEvent(kind="interruption", duration_ms=SUPPLY_LOSS_MS)])
        handle = start_profile(power_supply, profile)
        # The hold-up is milliseconds; the emulated power off (kill, links down) then takes a few
        # hundred ms on a loaded host. Poll only the cheap status API (namespace handles are slow
        # to open), then give the power off a second: the router stays off until power returns
        # (2 s) plus its boot time, so the window below is inside the off period.
        cut_at = time.monotonic()
        while _router_answers(router) is not None and time.monotonic() < cut_at + 3.0:
            time.sleep(0.1)
        time.sleep(1.0)
        down = {"router_answers": _router_answers(router) is not None, "portal_reachable": _portal_reachable(p),
                "wan_ports_up": any(_terminal_ports_up(power_lab).values()),
                "observed_off_after_s": round(time.monotonic() - cut_at, 3)}
        first = _packets_from_router(power_lab)
        time.sleep(1.0)  # two WAN probe rounds at 0.5 s: none may leave a dead router
        probes_sent_while_off = {wan: n - first[wan] for wan, n in _packets_from_router(power_lab).items()}
        run = handle.wait(timeout_s=30)
        run.attach()
        record = run.records[0]
        power_back = record.started_at + record.achieved_ms / 1000

        deadline = power_back + power.boot_s + 60
        while True:
            status = _router_answers(router)
            if status and all(w["state"] == "up" and w["probes_answered"] > 0 for w in status["wans"].values()):
                recovered_at = time.time()
                break
            assert time.time() < deadline, f"router not back with every WAN up {power.boot_s + 60:.0f} s after power returned"
            time.sleep(0.1)
        after = _sessions(router)
        portal_back = _portal_reachable(p)

    recovery_s = recovered_at - power_back
    kept = before.keys() == after.keys() and all(
        (after[k]["tier"], after[k]["package"]) == (s["tier"], s["package"])
        and (s.get("quota_used_bytes") is None
             or s["quota_used_bytes"] * 0.99 <= after[k]["quota_used_bytes"] <= s["quota_used_bytes"])
        for k, s in before.items()
    )
    evidence = {"requested_off_ms": record.requested_ms, "achieved_off_ms": record.achieved_ms,
                "boot_s": power.boot_s, "while_off": down, "probe_packets_while_off": probes_sent_while_off,
                "sessions_before": list(before.values()), "sessions_after": list(after.values())}
    allure.attach(json.dumps(evidence, indent=1, default=str), name="supply loss: before, while off, after",
                  attachment_type=allure.attachment_type.JSON)
    print(f"\nPWR-2: off {record.achieved_ms:.1f} ms (requested {record.requested_ms:.0f}); while off {down}, "
          f"packets from the router {probes_sent_while_off}; recovery {recovery_s:.2f} s (boot_s {power.boot_s}); kept {kept}")
    assert not (down["router_answers"] or down["portal_reachable"] or down["wan_ports_up"]), \
        f"the router was still alive without power: {down}"
    assert not any(probes_sent_while_off.values()), "WAN probes left a router without power"
    assert portal_back, "the portal did not come back"
    measure("PWR-2", recovery_s, units="s", quantity="recovery", boot_s=power.boot_s,
            requested_off_ms=record.requested_ms, achieved_off_ms=record.achieved_ms)
    measure("PWR-2", kept, units="bool", quantity="state_kept", sessions=len(before))


# -- fades ------------------------------------------------------------------------------------------
@pytest.mark.requirement("FO-1", "FO-2")
def test_fade_of_the_active_satellite_wan_fails_over_and_back(power_lab: Lab, attenuator: RfAttenuator, measure: Any) -> None:
    router: ReferenceRouter = power_lab.router
    wan = attenuator.config.acts_on
    assert wan is not None
    router.wait_for(f"passengers on {wan}", lambda s: s["active"]["passengers"] == wan, timeout_s=30)
    fade_db = FadeModel().outage_threshold_db + 6  # well past the modem's lock: an outage

    with Passenger(power_lab, "fade") as p:
        p.connect()
        _accept(p)
        faded_at = time.time()
        attenuator.set_attenuation(fade_db)
        other = router.wait_for("failover", lambda s: s["active"]["passengers"] if s["active"]["passengers"] != wan else None,
                                timeout_s=30)
        status, _, _ = p.http("GET", "http://origin.skybench.test/")  # passengers' traffic on the next WAN
        time.sleep(max(0.0, faded_at + FADE_HOLD_S - time.time()))
        cleared_at = time.time()
        attenuator.set_attenuation(0.0)
        router.wait_for("failback", lambda s: s["active"]["passengers"] == wan, timeout_s=60)
        back_at = time.time()
        time.sleep(2.0)  # a flapping router would switch again within this
    down = [e for e in router.events(since=faded_at, event="wan_down") if e.get("wan") == wan]
    switches_back = [e for e in router.events(since=cleared_at, event="switch")
                     if e.get("class") == "passengers" and e.get("to") == wan]
    detection_s = down[0]["time"] - faded_at if down else float("inf")
    timing = {"attenuation_db": fade_db, "outage_threshold_db": FadeModel().outage_threshold_db,
              "requested_fade_s": FADE_HOLD_S, "achieved_fade_s": round(cleared_at - faded_at, 3),
              "failed_over_to": other, "detection_s": round(detection_s, 3), "failback_s": round(back_at - cleared_at, 3),
              "configured_detection_s": router.config.health.detection_s, "failback_hold_s": router.config.health.failback_hold_s}
    allure.attach(json.dumps(timing, indent=1), name=f"{wan} fade: requested and achieved", attachment_type=allure.attachment_type.JSON)
    print(f"\nfade {wan}: {timing}")
    assert status == 200, "no passenger traffic through the next WAN during the fade"
    measure("FO-1", detection_s, units="s", quantity="detection", wan=wan, attenuation_db=fade_db)
    measure("FO-2", back_at - cleared_at, units="s", quantity="failback", wan=wan)
    measure("FO-2", len(switches_back), units="count", quantity="switches", wan=wan)
