"""POR-2, POR-3 and POR-4 as the bench observes them: the rate a free-tier passenger gets on the
wire, the volume a bundle passenger received when its speed fell back to the free tier's, and
which bypass attempts of an unpaid passenger reached the ground witness. What the DUT says of
its sessions (`portal_sessions()`) is read beside them as evidence, never as the figure.

The caps and sizes judged against are the operator's, from the DUT profile (`portal.free_tier`,
`portal.packages`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.devices.protocols import OnboardRouter, PortalSession
from bench.errors import BenchError
from bench.lab import netns
from bench.steps import step
from bench.traffic import attempts
from bench.traffic.bypass import GroundWitness, new_token
from bench.traffic.passenger import Passenger
from bench.traffic.quota import Sample, cut_point, rate_bps, slow_for

if TYPE_CHECKING:
    from bench.lab.lab import Lab


def dut_session(dut: OnboardRouter | None, mac: str) -> PortalSession | None:
    """The DUT's own account of a passenger's session (None: it cannot say)."""
    if dut is None:
        return None
    try:
        return next((s for s in dut.portal_sessions() if s.mac.lower() == mac.lower()), None)
    except BenchError:
        return None


@dataclass(frozen=True)
class FreeTierRate:
    wire_bps: float  # Ethernet bytes the passenger received, from second 1 on
    payload_bps: float
    dut_session: PortalSession | None


def free_tier_rates(lab: Lab, dut: OnboardRouter | None, seconds: float, name: str = "free") -> FreeTierRate:
    """A new passenger on the free tier downloads for `seconds`: the rate it received on the wire
    (Ethernet bytes: what a cap is configured in and shapers count) and as payload, from second 1
    on (after the shaper's burst and TCP's start)."""
    with Passenger(lab, name) as p:
        p.go_online()
        samples: list[Sample] = []
        p.download(seconds=seconds, samples=samples)
        session = dut_session(dut, p.mac)
    return FreeTierRate(rate_bps(samples, 1.0, seconds, column=3), rate_bps(samples, 1.0, seconds, column=1), session)


@dataclass(frozen=True)
class BundleCut:
    bundle_bytes: int
    delivered_bytes: int  # IP bytes in and out when the transfer ended
    cut_at_bytes: int | None  # IP bytes at the last moment at full speed (None: never slowed down)
    dut_session: PortalSession | None

    @property
    def cut(self) -> bool:
        return self.cut_at_bytes is not None

    @property
    def error(self) -> float:
        """(volume at the cut, or everything delivered when never cut) / bundle - 1."""
        return ((self.cut_at_bytes if self.cut_at_bytes is not None else self.delivered_bytes) - self.bundle_bytes) / self.bundle_bytes


def bundle_cut(lab: Lab, dut: OnboardRouter | None, package: str, bundle_bytes: int, cap_bps: float, *,
               name: str = "bundle", max_s: float = 180.0) -> BundleCut:
    """A passenger buys `package` and downloads until its speed has been at the free tier's for
    2 s (or, never cut, 30 % past the bundle); where the full speed ended is the cut."""
    with Passenger(lab, name) as p:
        p.go_online(package)
        samples: list[Sample] = []
        stop = slow_for(2.0, cap_bps, bundle_bytes * 0.9)
        p.download(seconds=max_s, samples=samples, sample_s=0,
                   stop_when=lambda s: stop(s) or s[-1][2] > bundle_bytes * 1.3)
        session = dut_session(dut, p.mac)
    cut = cut_point(samples, cap_bps) if stop(samples) else None
    return BundleCut(bundle_bytes, samples[-1][2] if samples else 0, cut[2] if cut else None, session)


def gateway_mac(p: Passenger) -> str:
    """The MAC the passenger's default gateway (the DUT's LAN port) answers ARP with."""
    assert p.lease is not None
    gateway = p.lease.router

    def find() -> str | None:
        with netns.ipr(p.ns) as ipr:
            for n in ipr.get_neighbours(dst=gateway):
                if n.get_attr("NDA_LLADDR"):
                    return str(n.get_attr("NDA_LLADDR"))
        return None

    mac = find()
    if mac is None:
        p.http("GET", f"http://{gateway}/", timeout_s=2.0)  # any packet to the gateway resolves it
        mac = find()
    if mac is None:
        raise BenchError(f"the DUT's LAN address {gateway} did not answer ARP", where=p.name)
    return mac


@dataclass
class BypassAttempts:
    results: dict[str, tuple[bool, str]] = field(default_factory=dict)  # attempt -> (reached the ground, what the attacker saw)
    witness_works: bool = False  # the paying passenger's own datagram reached the witness
    spoofing_works: bool = False  # hand-built frames with the payer's own MAC and IP got through

    @property
    def through(self) -> list[str]:
        return [name for name, (got, _) in self.results.items() if got]


def bypass_attempts(witness: GroundWitness, payer: Passenger, sneak: Passenger) -> BypassAttempts:
    """An unpaid passenger (`sneak`: a lease, nothing accepted or paid) tries every bypass while a
    paying one (`payer`, online) is on the train; each attempt's token either reaches the ground
    witness or not. Then the controls: the payer's own traffic and hand-built frames with the
    payer's own addresses must reach the witness, or the attempts prove nothing."""
    assert sneak.lease is not None and payer.lease is not None
    out = BypassAttempts()
    router_mac = gateway_mac(sneak)

    def attempt(name: str, run: Callable[[str], str]) -> None:
        token = new_token()
        with step(f"bypass attempt: {name}", token=token) as rec:
            said = run(token)
            time.sleep(0.3)
            got = witness.saw(token)
            rec["result"] = f"{'GOT THROUGH' if got else 'blocked'}: {said}"
        out.results[name] = (got, said)

    attempt("TCP to a ground host by IP address", lambda t: attempts.direct_tcp(sneak.ns, t))
    attempt("UDP to a ground host by IP address", lambda t: attempts.direct_udp(sneak.ns, t))
    attempt("HTTP to a ground host by IP address", lambda t: attempts.direct_http(sneak.ns, t))
    attempt("DNS to an outside resolver", lambda t: attempts.dns_to_outside(sneak.ns, t))
    attempt("DNS tunnel (TXT) through the DUT's resolver", lambda t: attempts.dns_tunnel(sneak.ns, t, sneak.lease.dns))
    attempt("ICMP tunnel (echo payloads)", lambda t: attempts.icmp_tunnel(sneak.ns, t))
    attempt("paying passenger's MAC, own IP (while online)", lambda t: attempts.spoofed_udp(
        sneak.ns, sneak.IFNAME, t, src_mac=payer.mac, src_ip=sneak.lease.ip, dst_mac=router_mac))
    attempt("paying passenger's IP, own MAC (while online)", lambda t: attempts.spoofed_udp(
        sneak.ns, sneak.IFNAME, t, src_mac=sneak.mac, src_ip=payer.lease.ip, dst_mac=router_mac))
    control = new_token()
    attempts.spoofed_udp(sneak.ns, sneak.IFNAME, control, src_mac=payer.mac, src_ip=payer.lease.ip, dst_mac=router_mac)
    payer_token = new_token()
    attempts.direct_udp(payer.ns, payer_token)
    time.sleep(0.3)
    out.witness_works = witness.saw(payer_token)
    out.spoofing_works = witness.saw(control)
    return out


def session_evidence(session: PortalSession | None) -> dict[str, Any]:
    return {} if session is None else {"dut_tier": session.tier, "dut_used_bytes": session.used_bytes,
                                       "dut_quota_bytes": session.quota_bytes, "dut_cap_bps": session.speed_cap_bps}
