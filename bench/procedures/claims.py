"""The DUT's own account of an event, read through its management face and set beside what the
wire showed: evidence for the report, never the measurement.

    account = read_account(dut, profile, lab_wan="oneweb", since=t_cut)   # its log since the cut
    state = wan_state(dut, profile, lab.wan_order())                      # its WAN table now
    problems = disagreements(account, state, wire_detection_s=1.2, lost="oneweb", t_cut=t_cut)

A disagreement is reported (printed, in the measurement's context, attached), whatever the
verdict: a router that logs a failover late, never, or while still counting the lost WAN up
misleads whoever reads its logs in the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bench.devices.profile import DutProfile
from bench.devices.protocols import OnboardRouter, WanState
from bench.errors import BenchError

LOG_TOLERANCE_S = 1.0  # a log entry within this of the wire's moment agrees with it


@dataclass
class DutAccount:
    """What the DUT says about one WAN going down, from its log."""

    lab_wan: str
    readable: bool  # the profile tells how to read WAN-down entries, and the log could be read
    logged_down_at: float | None  # Unix time of its first WAN-down entry for that WAN, if any
    entries: list[str] = field(default_factory=list)  # its log lines since the event, as evidence
    note: str = ""  # why it could not be read

    def logged_after_s(self, t0: float) -> float | None:
        return None if self.logged_down_at is None else self.logged_down_at - t0


def _unix(t: datetime) -> float:
    # Aware times are exact; a naive one is read as this host's local time (the router's, as
    # syslog writes it, when both keep the same zone).
    return t.timestamp()


def read_account(dut: OnboardRouter | None, profile: DutProfile, lab_wan: str, since: float) -> DutAccount:
    """The DUT's log since `since` and its first WAN-down entry for `lab_wan` (profile.claims)."""
    if dut is None:
        return DutAccount(lab_wan, False, None, note="no management face")
    try:
        entries = dut.logs_since(datetime.fromtimestamp(since - 1.0, tz=timezone.utc))
    except BenchError as exc:
        return DutAccount(lab_wan, False, None, note=f"its log could not be read: {exc.what}")
    lines = [f"{e.time.isoformat()} {e.source or ''}: {e.message}" for e in entries]
    pattern = profile.claims.wan_down_log
    if pattern is None:
        return DutAccount(lab_wan, False, None, lines, note="the DUT profile gives no claims.wan_down_log to read it with")
    dut_name = profile.dut_wan(lab_wan)
    regex = re.compile(pattern)
    down = [_unix(e.time) for e in entries if (m := regex.search(e.message)) and m.group("wan") == dut_name]
    down = [t for t in down if t >= since - LOG_TOLERANCE_S]
    return DutAccount(lab_wan, True, min(down) if down else None, lines)


def wan_state(dut: OnboardRouter | None, profile: DutProfile, lab_wans: list[str]) -> dict[str, WanState] | None:
    """The DUT's WAN table now, keyed by lab WAN name (None: it cannot say). WANs of the DUT's
    that no lab WAN maps to are left out."""
    if dut is None:
        return None
    try:
        states = dut.wans()
    except BenchError:
        return None
    by_dut_name = {profile.dut_wan(wan): wan for wan in lab_wans}
    return {by_dut_name[s.name]: s for s in states if s.name in by_dut_name}


def disagreements(account: DutAccount, state: dict[str, WanState] | None, *, wire_moved_s: float | None,
                  lost: str, t_cut: float) -> list[str]:
    """Where the DUT's account of losing `lost` differs from the wire's (wire_moved_s: cut to the
    first new passenger flow through another WAN; None: traffic never moved)."""
    problems = []
    logged = account.logged_after_s(t_cut)
    if account.readable:
        if wire_moved_s is not None and logged is None:
            problems.append(f"the DUT never logged {lost} down, while passengers' traffic left it after {wire_moved_s:.2f} s")
        elif wire_moved_s is not None and logged is not None and logged > wire_moved_s + LOG_TOLERANCE_S:
            problems.append(f"the DUT logged {lost} down {logged:.2f} s after the cut, {logged - wire_moved_s:.2f} s after "
                            f"passengers' traffic had already left it ({wire_moved_s:.2f} s)")
        elif wire_moved_s is None and logged is not None:
            problems.append(f"the DUT logged {lost} down after {logged:.2f} s, but passengers' traffic never left it")
    if state is not None and lost in state and wire_moved_s is not None and state[lost].up:
        problems.append(f"after passengers' traffic left {lost}, the DUT still counts {lost} up")
    return problems


def evidence(account: DutAccount, state: dict[str, WanState] | None, problems: list[str]) -> dict[str, Any]:
    """The DUT's account as an attachment."""
    return {
        "wan": account.lab_wan,
        "log_readable": account.readable,
        "log_note": account.note,
        "logged_down_at": account.logged_down_at,
        "wan_state": {k: v.model_dump(mode="json") for k, v in (state or {}).items()},
        "disagreements": problems,
        "log": account.entries[-200:],
    }
