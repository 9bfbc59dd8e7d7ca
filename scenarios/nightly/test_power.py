"""Nightly: supply interruptions and RF fades, driven through the lab's instruments over VISA.

The instruments are the `instrument_lab`'s (fixtures/instruments.py): the `--lab` file's when it
lists a power supply and an attenuator, otherwise emulated ones the fixture adds to the embedded
lab (a supply feeding the reference router, an attenuator in front of the first satellite WAN).
The DUT runs as configured (its boot time, hold-up and health probes are its own); the bench
knows it only through its ports, its management face and the DUT profile
(bench/procedures/power.py, bench/procedures/failover.py):

- PWR-1: three EN 50155 S2 interruptions (10 ms) while an online passenger downloads: reboots from
  the DUT's uptime (it went back, or not), sessions lost from what the passenger lost (its
  session at the portal, its transfer stalling);
- PWR-2: a passenger with the profile's bundle uses part of it; after the DUT's persist interval
  (profile `power.persist_s`) the supply is cut for 2 s; recovery is from power return to the
  passenger online again without a new login and every WAN port sending again; state kept is the
  session held and the rest of the bundle cut where the bundle's size says (POR-3's tolerance);
- the fade: the attenuator fades the first satellite WAN well past its lock: FO-1 and FO-2 as
  passengers see them.

Every supply event is recorded requested next to achieved (the profile records, attached to the
report); the fade's hold time likewise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import allure
import pytest

from bench.devices.profile import DutProfile
from bench.devices.protocols import OnboardRouter
from bench.instruments import PowerSupply, RfAttenuator
from bench.instruments.fade import FadeModel
from bench.lab import addressing
from bench.lab.lab import Lab
from bench.procedures.failover import hear_the_dut, note_dut_state, watch_failback, watch_failover
from bench.procedures.power import ride_through, supply_loss
from bench.procedures.steady import settle
from bench.traffic.passenger import Passenger
from bench.traffic.probes import PassengerProbe

pytestmark = [pytest.mark.nightly, pytest.mark.lab]

SUPPLY_LOSS_S = 2.0
FADE_HOLD_S = 6.0
BUNDLE_TOLERANCE = 0.02  # POR-3's: the rest of the bundle is cut within 2 % of where it should be
GROUND = str(addressing.GROUND_SERVER.ip)


@pytest.fixture
def steady(instrument_lab: Lab, instrument_dut: OnboardRouter) -> Iterator[None]:
    with Passenger(instrument_lab, "steady") as p:
        p.board()
        settle(instrument_lab, instrument_dut, p.ns)
    yield


# -- PWR-1 ------------------------------------------------------------------------------------------
@pytest.mark.requirement("PWR-1")
def test_s2_interruptions_during_traffic_are_ridden_through(instrument_lab: Lab, instrument_dut: OnboardRouter,
                                                            power_supply: PowerSupply, steady: None, measure: Any) -> None:
    with Passenger(instrument_lab, "pwr1") as p:
        p.go_online()
        r = ride_through(instrument_dut, power_supply, p)
    print(f"\nPWR-1: {r.run.summary()}; uptime {r.uptime_before} s before, {r.uptime_after} s after "
          f"{r.elapsed_s:.1f} s: {'REBOOTED' if r.rebooted else 'no reboot'}; passenger online after: {r.online_after}; "
          + (f"transfer lost: {r.transfer_error}" if r.transfer_error else f"transfer {r.transfer_mbps:.2f} Mbit/s"))
    applied = {f"the supply made all 3 interruptions (it made {r.interruptions})": r.interruptions == 3,
               "the DUT's management face gave its uptime before them (or a reboot cannot be seen)": r.uptime_before is not None}
    measure("PWR-1", int(r.rebooted), units="count", quantity="reboots", preconditions=applied, **r.context())
    measure("PWR-1", r.sessions_lost, units="count", quantity="sessions_lost", preconditions=applied, **r.context())


# -- PWR-2 ------------------------------------------------------------------------------------------
@pytest.mark.requirement("PWR-2")
def test_supply_loss_router_recovers_with_sessions_and_quotas(instrument_lab: Lab, instrument_dut: OnboardRouter,
                                                              profile: DutProfile, power_supply: PowerSupply,
                                                              steady: None, measure: Any) -> None:
    bundles = profile.portal.bundles()
    if not bundles or profile.portal.free_tier is None:
        pytest.skip(f"the DUT profile sells no bundle or declares no free tier ({profile.source})")
    package, spec = next(iter(bundles.items()))
    assert spec.bytes is not None
    with Passenger(instrument_lab, "pwr2") as p:
        r = supply_loss(instrument_lab, instrument_dut, power_supply, p, package=package, bundle_bytes=spec.bytes,
                        cap_bps=profile.portal.free_tier.down_kbit * 1000, persist_s=profile.power.persist_s,
                        off_s=SUPPLY_LOSS_S)
    evidence = {"off_ms": r.off_ms, "while_off": r.while_off, "recovery_parts_s": r.recovery_parts,
                "bundle_bytes": r.bundle_bytes, "used_before": r.used_before, "used_after_until_cut": r.used_after_until_cut,
                "dut_account": r.dut_account}
    allure.attach(json.dumps(evidence, indent=1, default=str), name="supply loss: while off, recovery, bundle",
                  attachment_type=allure.attachment_type.JSON)
    print(f"\nPWR-2: off {r.off_ms:.1f} ms; while off {r.while_off}; recovery {r.recovery_s:.2f} s {r.recovery_parts}; "
          f"online kept {r.online_kept}; bundle: {r.used_before} B before + {r.used_after_until_cut} B after until the cut "
          f"= {'-' if r.quota_error is None else f'{r.quota_error:+.3%}'} of {r.bundle_bytes} B; the DUT says {r.dut_account}")
    off = r.while_off
    dark = {f"the DUT went dark with its supply off (the supply feeds it): {off}":
            not any(off["ports_up"].values()) and not any(off["ipv4_from_dut"].values()) and not off["management_answers"]}
    measure("PWR-2", r.recovery_s, units="s", quantity="recovery", recovered=r.recovered, off_ms=r.off_ms, preconditions=dark,
            **{k.replace(" ", "_") + "_s": v for k, v in r.recovery_parts.items()})
    measure("PWR-2", r.state_kept(BUNDLE_TOLERANCE), units="bool", quantity="state_kept", online_kept=r.online_kept,
            quota_error_pct=None if r.quota_error is None else round(r.quota_error * 100, 3), preconditions=dark)


# -- fades ------------------------------------------------------------------------------------------
@pytest.mark.requirement("FO-1", "FO-2")
def test_fade_of_the_active_satellite_wan_fails_over_and_back(instrument_lab: Lab, instrument_dut: OnboardRouter,
                                                              profile: DutProfile, attenuator: RfAttenuator,
                                                              measure: Any) -> None:
    wan = attenuator.config.acts_on
    assert wan is not None
    fade_db = FadeModel().outage_threshold_db + 6  # well past the modem's lock: an outage
    with Passenger(instrument_lab, "fade") as p:
        p.board()
        settle(instrument_lab, instrument_dut, p.ns)
        with PassengerProbe(p.ns, GROUND, wan_of=instrument_lab.wan_at_ground) as probe:
            time.sleep(1.0)
            assert probe.current_wan() == wan, f"the passenger's new flows leave by {probe.current_wan()}, not the faded {wan}"
            faded_at = time.time()
            attenuator.set_attenuation(fade_db)
            seen = watch_failover(instrument_lab, probe, lost=[wan], t_cut=faded_at, active_before=wan)
            note_dut_state(seen, instrument_dut, profile, instrument_lab.wan_order())
            time.sleep(max(0.0, faded_at + FADE_HOLD_S - time.time()))
            cleared_at = time.time()
            attenuator.set_attenuation(0.0)
            back = watch_failback(probe, wan=wan, t_up=cleared_at)
    hear_the_dut(seen, instrument_dut, profile, instrument_lab.wan_order())
    timing = {"attenuation_db": fade_db, "outage_threshold_db": FadeModel().outage_threshold_db,
              "requested_fade_s": FADE_HOLD_S, "achieved_fade_s": round(cleared_at - faded_at, 3)}
    allure.attach(json.dumps({**timing, **seen.evidence()}, indent=1, default=str), name=f"{wan} fade: wire and the DUT's account",
                  attachment_type=allure.attachment_type.JSON)
    print(f"\nfade {wan} ({timing}): {seen.summary()}\n{back.summary()}")
    measure("FO-1", seen.detection_s, units="s", quantity="detection", wan=wan, attenuation_db=fade_db, **seen.context())
    measure("FO-1", seen.switch_s, units="s", quantity="switch", wan=wan, attenuation_db=fade_db, **seen.context())
    measure("FO-2", back.failback_s, units="s", quantity="failback", wan=wan, **back.context())
    measure("FO-2", back.switches, units="count", quantity="switches", wan=wan, **back.context())
