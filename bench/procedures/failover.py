"""FO-1, FO-2 and FO-3 as passengers see them: cut-and-watch, shared by the nightly (links cut by
hand, an attenuator's fade), certification and repro (outages a trace replays).

A passenger's PassengerProbe (bench.traffic.probes) runs a long-lived "call" flow and a new flow
every 100 ms to the ground's whoami echo, which names the source address, so the bench sees at
the ground which WAN each flow left the train by. From that alone:

- FO-1 detection: from the cut to the first new flow that leaves by a surviving WAN (the moment
  the DUT acted on the loss);
- FO-1 switch: from the cut to the call (a flow that existed before the cut) being answered again
  through a surviving WAN: how long existing flows were black-holed;
- FO-2 failback: from the lost WAN's return to the first new flow through it again; switches:
  how many times new flows moved back to it in the recovery window (more than one is flapping);
- FO-3 restore: from the links' return after a dead zone to a passenger's first successful
  HTTP request to the ground.

The DUT's own account (its log and WAN table, bench.procedures.claims) is read beside it and any
disagreement reported; it never changes a figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.devices.profile import DutProfile
from bench.devices.protocols import OnboardRouter
from bench.procedures.claims import DutAccount, disagreements, evidence, read_account, wan_state
from bench.traffic.probes import PassengerProbe, RequestLoop

if TYPE_CHECKING:
    from bench.lab.lab import Lab

FAILOVER_WAIT_S = 25.0  # past FO-1's 10 s: a slow DUT is measured (and fails), not cut short
FAILBACK_WAIT_S = 45.0  # past FO-2's 30 s
RESTORE_WAIT_S = 30.0  # past FO-3's 10 s
RECOVERY_WINDOW_S = 10.0  # after failback: any further switch back and forth is flapping


@dataclass
class FailoverSeen:
    """What the wire showed after `lost` went out at `t_cut` (Unix time)."""

    lost: list[str]
    active_before: str | None  # the WAN new flows took just before the cut
    t_cut: float
    wait_s: float
    detection_s: float  # the wait when traffic never moved
    moved: bool
    to_wan: str | None
    switch_s: float  # the wait when the call never came back
    call_resumed: bool
    call_longest_gap_s: float
    account: DutAccount | None = None
    dut_state: dict[str, Any] | None = None
    disagreements: list[str] = field(default_factory=list)

    def context(self) -> dict[str, Any]:
        """For a measurement: where it was and what the DUT said beside it."""
        logged = self.account.logged_after_s(self.t_cut) if self.account is not None else None
        return {"cut": ",".join(self.lost), "from_wan": self.active_before, "to_wan": self.to_wan, "moved": self.moved,
                "call_resumed": self.call_resumed, "call_longest_gap_s": round(self.call_longest_gap_s, 3),
                "dut_logged_down_after_s": None if logged is None else round(logged, 3),
                "dut_disagrees": "; ".join(self.disagreements) or None}

    def summary(self) -> str:
        moved = f"new flows on {self.to_wan} after {self.detection_s:.2f} s" if self.moved else \
            f"new flows did NOT leave by a surviving WAN within {self.wait_s:.0f} s"
        call = f"the call was back after {self.switch_s:.2f} s" if self.call_resumed else \
            f"the call did NOT come back within {self.wait_s:.0f} s"
        said = ""
        if self.account is not None:
            logged = self.account.logged_after_s(self.t_cut)
            said = (f"; the DUT logged {self.active_before} down after {logged:.2f} s" if logged is not None else
                    f"; the DUT's log: {'no WAN-down entry' if self.account.readable else self.account.note}")
        return (f"{','.join(self.lost)} cut: {moved}; {call} (longest gap {self.call_longest_gap_s:.2f} s){said}"
                + "".join(f"\n  DISAGREEMENT: {d}" for d in self.disagreements))

    def evidence(self) -> dict[str, Any]:
        assert self.account is not None
        return {"wire": {k: v for k, v in self.__dict__.items() if k not in ("account", "dut_state", "disagreements")},
                "dut": evidence(self.account, self.dut_state, self.disagreements)}


def watch_failover(lab: Lab, probe: PassengerProbe, *, lost: list[str], t_cut: float, wait_s: float = FAILOVER_WAIT_S,
                   active_before: str | None = None) -> FailoverSeen:
    """Watch the wire after `lost` went out at `t_cut` (already applied) until traffic moved and
    the call came back, or `wait_s` passed."""
    survivors = [w for w in lab.wan_order() if w not in lost]
    if active_before is None:
        before = [a for a in probe.of("new") if a.sent < t_cut]
        active_before = max(before, key=lambda a: a.sent).wan if before else None
    deadline = t_cut + wait_s
    moved = resumed = None
    while time.time() < deadline and (moved is None or resumed is None):
        moved = moved or probe.first_on("new", survivors, after=t_cut)
        resumed = resumed or probe.first_on("call", survivors, after=t_cut)
        time.sleep(0.1)
    gap_end = resumed.received if resumed else min(time.time(), deadline)
    return FailoverSeen(
        lost=list(lost), active_before=active_before, t_cut=t_cut, wait_s=wait_s,
        detection_s=(moved.received - t_cut) if moved else wait_s, moved=moved is not None,
        to_wan=moved.wan if moved else None,
        switch_s=(resumed.received - t_cut) if resumed else wait_s, call_resumed=resumed is not None,
        call_longest_gap_s=probe.longest_gap(t_cut, gap_end))


def note_dut_state(seen: FailoverSeen, dut: OnboardRouter | None, profile: DutProfile, lab_wans: list[str]) -> None:
    """The DUT's WAN table while the outage still holds (what it says it is doing)."""
    seen.dut_state = wan_state(dut, profile, lab_wans)


def hear_the_dut(seen: FailoverSeen, dut: OnboardRouter | None, profile: DutProfile, lab_wans: list[str]) -> FailoverSeen:
    """Read the DUT's account of the failover (its log since the cut; its WAN table, if
    note_dut_state did not while the outage held) and set it beside the wire's; call it once the
    DUT has had the time it needs to log."""
    lost = seen.active_before or seen.lost[0]
    if seen.dut_state is None:
        seen.dut_state = wan_state(dut, profile, lab_wans)
    seen.account = read_account(dut, profile, lost, seen.t_cut)
    seen.disagreements = disagreements(seen.account, seen.dut_state, wire_moved_s=seen.detection_s if seen.moved else None,
                                       lost=lost, t_cut=seen.t_cut)
    return seen


@dataclass(frozen=True)
class FailbackSeen:
    wan: str  # the WAN that came back
    t_up: float
    failback_s: float  # the wait when no new flow went back
    returned: bool
    switches: int  # times new flows moved to `wan` in the recovery window
    window_s: float
    call_longest_gap_s: float

    def context(self) -> dict[str, Any]:
        return {"returned_wan": self.wan, "returned": self.returned, "recovery_window_s": round(self.window_s, 3),
                "call_longest_gap_s": round(self.call_longest_gap_s, 3)}

    def summary(self) -> str:
        back = f"new flows on {self.wan} after {self.failback_s:.2f} s" if self.returned else \
            f"new flows did NOT return to {self.wan} within {self.failback_s:.0f} s"
        return (f"{self.wan} back: {back}; {self.switches} switch(es) to it in {self.window_s:.1f} s; "
                f"call's longest gap {self.call_longest_gap_s:.2f} s")


def watch_failback(probe: PassengerProbe, *, wan: str, t_up: float, wait_s: float = FAILBACK_WAIT_S,
                   window_s: float = RECOVERY_WINDOW_S, window_ends_by: float | None = None) -> FailbackSeen:
    """Watch the wire after `wan` came back at `t_up`: until new flows leave by it again (or
    `wait_s`), then through the recovery window (cut short at `window_ends_by`, e.g. the trace's
    next outage), counting how often new flows moved to it."""
    limit = t_up + wait_s if window_ends_by is None else min(t_up + wait_s, window_ends_by)
    back = None
    while back is None and time.time() < limit:
        back = probe.first_on("new", {wan}, after=t_up)
        time.sleep(0.2)
    t_back = back.received if back else min(time.time(), limit)
    window_end = t_back + window_s if window_ends_by is None else min(t_back + window_s, window_ends_by)
    time.sleep(max(0.0, window_end - time.time()))
    return FailbackSeen(wan=wan, t_up=t_up, failback_s=(t_back - t_up) if back else wait_s, returned=back is not None,
                        switches=probe.switches_to(wan, t_up, window_end), window_s=max(0.0, window_end - t_up),
                        call_longest_gap_s=probe.longest_gap(t_up, window_end))


@dataclass(frozen=True)
class RestoreSeen:
    t_return: float
    restore_s: float  # the wait when no request succeeded
    restored: bool
    failed_during: int  # requests that failed while every link was out


def watch_restore(requests: RequestLoop, *, t_return: float, t_cut: float | None = None,
                  wait_s: float = RESTORE_WAIT_S, limit: float | None = None) -> RestoreSeen:
    """After a dead zone: from the links' return at `t_return` to the passenger's first successful
    request to the ground (until `wait_s`, or `limit`, a Unix time)."""
    end = t_return + wait_s if limit is None else min(t_return + wait_s, limit)
    restored = None
    while restored is None and time.time() < end:
        restored = requests.first_success(after=t_return)
        time.sleep(0.1)
    failed = 0 if t_cut is None else sum(1 for s, _, ok in requests.results if t_cut + 1.0 <= s <= t_return - 1.0 and not ok)
    return RestoreSeen(t_return=t_return, restore_s=(restored - t_return) if restored else max(0.0, end - t_return),
                       restored=restored is not None, failed_during=failed)
