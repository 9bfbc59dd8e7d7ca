"""PWR-1 and PWR-2 as the bench observes them, through the DUT's supply (a PowerSupply) with
passengers online: what passengers lost (their session at the portal, their transfers), what the
DUT's WAN ports sent (each terminal's port facing the DUT is the bench's), and whether the DUT
rebooted (its uptime through the management face went back). Never from comparing an
interruption with a hold-up time the DUT is said to have.

    r = ride_through(lab, dut, supply, passenger)                  # PWR-1
    r = supply_loss(lab, dut, supply, passenger, package, ...)     # PWR-2
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.devices.protocols import OnboardRouter
from bench.errors import BenchError
from bench.instruments.profiles import ProfileRun, SupplyEvent, SupplyProfile, en50155_interruption, start_profile
from bench.instruments.supply import PowerSupply
from bench.lab import netns
from bench.procedures.portal import dut_session, session_evidence
from bench.steps import step
from bench.traffic.passenger import Passenger
from bench.traffic.quota import Sample, cut_point, slow_for

if TYPE_CHECKING:
    from bench.lab.lab import Lab

STALL_LOST_S = 2.0  # an open transfer that delivers nothing this long counts as lost (PWR-1)
MANAGEMENT_WAIT_S = 150.0  # past PWR-2's 120 s: how long the bench waits for the DUT to answer again
DUT_PORT = "lan0"  # each terminal's port facing the DUT (bench.lab.topology)
ETH_P_IP = 0x0800


def dut_uptime(dut: OnboardRouter, timeout_s: float = 0.0) -> float | None:
    """The DUT's uptime through its management face, asked until it answers or `timeout_s` passes
    (None: it did not answer)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return dut.uptime_s()
        except BenchError:
            if time.monotonic() >= deadline:
                return None
        time.sleep(0.5)


class WanPortWatch:
    """Per WAN, when the DUT last sent an IPv4 packet from its WAN address into the terminal's
    port (health probes, DNS, passengers' traffic: anything a running router sends; the kernel's
    own link-up chatter is not IPv4 from that address). AF_PACKET sockets in the terminals'
    namespaces, read by a thread each."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.heard: dict[str, list[float]] = {w.name: [] for w in lab.plan.wans}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> WanPortWatch:
        for wan in self.lab.plan.wans:
            def open_socket() -> socket.socket:
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
                s.bind((DUT_PORT, ETH_P_IP))
                s.settimeout(0.2)
                return s

            sock = netns.run_in(self.lab.ns(wan.terminal_role), open_socket)
            self._sockets.append(sock)
            t = threading.Thread(target=self._read, args=(sock, wan.name, wan.addresses.router.network), daemon=True,
                                 name=f"wan port watch {wan.name}")
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for s in self._sockets:
            s.close()

    def _read(self, sock: socket.socket, wan: str, network: ipaddress.IPv4Network) -> None:
        while not self._stop.is_set():
            try:
                frame, meta = sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            if meta[2] == socket.PACKET_OUTGOING or len(frame) < 34:
                continue
            if ipaddress.IPv4Address(frame[26:30]) in network:
                self.heard[wan].append(time.time())

    def heard_between(self, t0: float, t1: float) -> dict[str, int]:
        return {w: sum(1 for t in times if t0 <= t <= t1) for w, times in self.heard.items()}

    def first_after(self, wan: str, t: float) -> float | None:
        return next((x for x in self.heard[wan] if x >= t), None)


def dut_ports_up(lab: Lab) -> dict[str, bool]:
    """Per WAN, whether the terminal's port sees carrier from the DUT's WAN port."""
    states = {}
    for wan in lab.plan.wans:
        with netns.ipr(lab.ns(wan.terminal_role)) as ipr:
            link = ipr.get_links(ipr.link_lookup(ifname=DUT_PORT)[0])[0]
            states[wan.name] = link.get_attr("IFLA_OPERSTATE") == "UP"
    return states


def longest_stall_s(samples: list[Sample], end_s: float) -> float:
    """The longest time a download received nothing (samples: elapsed s, payload bytes, ...)."""
    progress = [0.0] + [b[0] for a, b in zip(samples, samples[1:]) if b[1] > a[1]] + [end_s]
    return max(b - a for a, b in zip(progress, progress[1:]))


# -- PWR-1 ------------------------------------------------------------------------------------------
@dataclass
class RideThrough:
    run: ProfileRun
    interruptions: int
    uptime_before: float | None
    uptime_after: float | None
    elapsed_s: float
    online_after: bool
    transfer_error: str | None
    transfer_mbps: float | None

    @property
    def rebooted(self) -> bool:
        """The uptime after is less than the uptime before plus the time between (1 s slack)."""
        if self.uptime_before is None or self.uptime_after is None:
            return self.uptime_after is None  # a DUT that never answered again is not "not rebooted"
        return self.uptime_after < self.uptime_before + self.elapsed_s - 1.0

    @property
    def sessions_lost(self) -> int:
        return int(not self.online_after) + int(self.transfer_error is not None)

    def context(self) -> dict[str, Any]:
        return {"requested_ms": [r.requested_ms for r in self.run.records], "achieved_ms": [r.achieved_ms for r in self.run.records],
                "uptime_before_s": self.uptime_before, "uptime_after_s": self.uptime_after, "elapsed_s": round(self.elapsed_s, 3),
                "online_after": self.online_after, "transfer_error": self.transfer_error}


def ride_through(dut: OnboardRouter, supply: PowerSupply, passenger: Passenger, *, supply_class: str = "S2",
                 repeat: int = 3, gap_s: float = 1.0, transfer_s: float = 5.0) -> RideThrough:
    """`repeat` EN 50155 interruptions of `supply_class` while the (online) passenger downloads."""
    uptime_before = dut_uptime(dut, timeout_s=10)
    t0 = time.monotonic()
    handle = start_profile(supply, en50155_interruption(supply_class, repeat=repeat, gap_s=gap_s), start_after_s=1.0)
    transfer_error: str | None = None
    mbps = None
    samples: list[Sample] = []
    try:
        transfer = passenger.download(seconds=transfer_s, samples=samples)
        mbps = transfer.bits_per_s / 1e6
        stall = longest_stall_s(samples, transfer.seconds)
        if stall >= STALL_LOST_S:
            transfer_error = f"no data for {stall:.1f} s"
    except OSError as exc:
        transfer_error = str(exc)
    run = handle.wait(timeout_s=60)
    run.attach()
    uptime_after = dut_uptime(dut, timeout_s=MANAGEMENT_WAIT_S)
    elapsed = time.monotonic() - t0
    online = _online_within(passenger, 30.0)
    return RideThrough(run, len(run.records), uptime_before, uptime_after, elapsed, online, transfer_error, mbps)


def _online_within(p: Passenger, timeout_s: float) -> bool:
    """The passenger's captive check says online (asked until `timeout_s`: a DUT still booting may
    not answer yet; one that answers "captive" has lost the session)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return p.online()
        except (OSError, BenchError):
            if time.monotonic() > deadline:
                return False
        time.sleep(0.5)


# -- PWR-2 ------------------------------------------------------------------------------------------
@dataclass
class SupplyLoss:
    run: ProfileRun
    off_ms: float
    power_back: float  # Unix time the supply came back
    while_off: dict[str, Any]
    recovered: bool
    recovery_s: float  # the wait when it never recovered
    recovery_parts: dict[str, float | None]  # what came back when, seconds after power return
    online_kept: bool  # the passenger's session held without a new login
    bundle_bytes: int
    used_before: int  # IP bytes the passenger used of its bundle before the cut
    used_after_until_cut: int | None  # IP bytes it got after the recovery until the bundle's cut
    dut_account: dict[str, Any] = field(default_factory=dict)

    @property
    def quota_error(self) -> float | None:
        """(used before + got after until the cut) / bundle - 1: 0 when the DUT kept its count."""
        if self.used_after_until_cut is None:
            return None
        return (self.used_before + self.used_after_until_cut - self.bundle_bytes) / self.bundle_bytes

    def state_kept(self, tolerance: float) -> bool:
        return self.online_kept and self.quota_error is not None and abs(self.quota_error) <= tolerance


def supply_loss(lab: Lab, dut: OnboardRouter, supply: PowerSupply, passenger: Passenger, *, package: str,
                bundle_bytes: int, cap_bps: float, persist_s: float, off_s: float = 2.0, use_fraction: float = 0.3,
                wait_s: float = MANAGEMENT_WAIT_S) -> SupplyLoss:
    """A passenger buys `package`, uses `use_fraction` of it; after the DUT's persist interval the
    supply is cut for `off_s`. Then: when the passenger is online again without a new login and
    every WAN port sends again (recovery), and what is left of the bundle (state kept)."""
    passenger.go_online(package)
    used: list[Sample] = []
    passenger.download(nbytes=int(bundle_bytes * use_fraction), samples=used, sample_s=0)
    used_before = used[-1][2] if used else 0
    with step("wait for the DUT to persist its state", persist_s=persist_s):
        time.sleep(persist_s * 1.2 + 1.0)
    profile = SupplyProfile(name=f"supply loss {off_s * 1000:.0f} ms",
                            events=[SupplyEvent(kind="interruption", duration_ms=off_s * 1000)])
    with WanPortWatch(lab) as ports:
        handle = start_profile(supply, profile)
        time.sleep(min(off_s / 2, 1.0))
        quiet_from = time.time()
        while_off: dict[str, Any] = {"ports_up": dut_ports_up(lab), "management_answers": dut_uptime(dut) is not None}
        time.sleep(min(off_s / 4, 0.5))
        while_off["ipv4_from_dut"] = ports.heard_between(quiet_from, time.time())
        run = handle.wait(timeout_s=off_s + 30)
        run.attach()
        record = run.records[0]
        power_back = record.started_at + record.achieved_ms / 1000
        parts: dict[str, float | None] = {f"wan {w}": None for w in ports.heard}
        parts["passenger online"] = None
        deadline = power_back + wait_s
        online_kept = False
        captive_answers: list[float] = []  # a DUT restoring its state may say "captive" for a moment
        while time.time() < deadline and any(v is None for v in parts.values()):
            for w in ports.heard:
                first = ports.first_after(w, power_back)
                if parts[f"wan {w}"] is None and first is not None:
                    parts[f"wan {w}"] = first - power_back
            if parts["passenger online"] is None:
                try:
                    if passenger.online(timeout_s=2.0):
                        parts["passenger online"] = time.time() - power_back
                        online_kept = True  # online again without a new login: the session held
                    else:
                        captive_answers.append(time.time() - power_back)
                except (OSError, BenchError):
                    pass
            time.sleep(0.2)
    recovered = all(v is not None for v in parts.values())
    recovery = max(v for v in parts.values() if v is not None) if recovered else wait_s
    account = {"passenger": {"mac": passenger.mac, "ip": passenger.lease.ip if passenger.lease else None},
               "captive_answers_s": [round(t, 2) for t in captive_answers[:20]],
               "dut_session": session_evidence(dut_session(dut, passenger.mac)), "dut_uptime_s": dut_uptime(dut)}
    used_after = None
    if online_kept:
        samples: list[Sample] = []
        stop = slow_for(2.0, cap_bps, (bundle_bytes - used_before) * 0.9)
        passenger.download(seconds=180, samples=samples, sample_s=0,
                           stop_when=lambda s: stop(s) or s[-1][2] > bundle_bytes * 1.3)
        cut = cut_point(samples, cap_bps) if stop(samples) else None
        used_after = cut[2] if cut else (samples[-1][2] if samples else 0)
    return SupplyLoss(run, record.achieved_ms, power_back, while_off, recovered, recovery, parts, online_kept,
                      bundle_bytes, used_before, used_after, account)
