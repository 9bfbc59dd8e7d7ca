"""Portal sessions: who accepted the terms, who bought what, and the data path that enforces it.

A session is keyed by the client's MAC and IP (the nftables `sessions` set holds both, so a
client that changes either meets the portal again). Tiers:
    free       the free-tier cap (an HTB class per client downstream, a policing meter upstream)
    bundle     uncapped until its quota object has counted the bundle's bytes, then free again
    unlimited  uncapped for the whole trip
The router daemon owns one SessionTable; everything here runs inside the router namespace.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from bench.devices.reference import nftables, shaping
from bench.devices.reference.config import Package
from bench.devices.reference.flash import FlashSession
from bench.devices.reference.plan import RouterPlan
from bench.devices.reference.nftables import TABLE


@dataclass
class Session:
    mac: str
    ip: str
    tier: str  # free | bundle | unlimited
    started: float
    package: str | None = None
    bundle_bytes: int | None = None
    purchases: int = 0

    def as_dict(self, used: int | None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "mac": self.mac, "ip": self.ip, "tier": self.tier, "package": self.package, "started": self.started,
        }
        if self.tier == "bundle":
            d["quota_bytes"] = self.bundle_bytes
            d["quota_used_bytes"] = used
            # The kernel reports a depleted quota as used == its size (it stops the figure there).
            d["quota_exhausted"] = used is not None and self.bundle_bytes is not None and used >= self.bundle_bytes
        return d


class SessionTable:
    def __init__(self, plan: RouterPlan, on_change: Callable[[], None] | None = None) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self.sessions: dict[str, Session] = {}  # by IP (one session per address at a time)
        # Called after every change of who has which session (the daemon writes its flash then).
        self.on_change = on_change or (lambda: None)

    def mac_of(self, ip: str) -> str | None:
        """The client's MAC from the router's neighbour table (it just talked to us)."""
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname=self.plan.passenger_if)[0]
            # One entry looked up by the kernel, not the whole table dumped (O(clients) a request).
            try:
                found = ipr.neigh("get", dst=ip, ifindex=index)
            except NetlinkError:
                return None
            for n in found:
                if n.get_attr("NDA_LLADDR"):
                    return str(n.get_attr("NDA_LLADDR"))
        return None

    def accept_terms(self, mac: str, ip: str) -> Session:
        session = self._accept_terms(mac, ip)
        self.on_change()
        return session

    def _accept_terms(self, mac: str, ip: str) -> Session:
        with self._lock:
            existing = self.sessions.get(ip)
            if existing is not None and existing.mac == mac:
                return existing
            if existing is not None:  # the address moved to another device: the old session ends
                self._drop(existing)
            self._free_tier_class(ip)
            nftables.apply_here(f"add element ip {TABLE} sessions {{ {mac} . {ip} }}\n")
            session = Session(mac=mac, ip=ip, tier="free", started=time.time())
            self.sessions[ip] = session
            return session

    def grant(self, mac: str, ip: str, package: Package) -> Session:
        """Apply a paid package to a client (accepting the terms is part of buying)."""
        session = self._accept_terms(mac, ip)
        with self._lock:
            commands = self._clear_premium(session)
            if package.kind == "unlimited":
                commands += f"add element ip {TABLE} unlimited {{ {ip} }}\n"
                session.tier, session.bundle_bytes = "unlimited", None
            else:
                name = nftables.quota_name(ip)
                commands += (
                    f"add quota ip {TABLE} {name} {{ over {package.bytes} bytes }}\n"
                    f'add element ip {TABLE} bundle_quota {{ {ip} : "{name}" }}\n'
                    f"add element ip {TABLE} bundle {{ {ip} }}\n"
                )
                session.tier, session.bundle_bytes = "bundle", package.bytes
            nftables.apply_here(commands)
            session.package = package.id
            session.purchases += 1
        self.on_change()
        return session

    def _clear_premium(self, session: Session) -> str:
        # A new purchase replaces the old one: a fresh bundle starts counting from zero.
        commands = ""
        if session.tier == "unlimited":
            commands += f"delete element ip {TABLE} unlimited {{ {session.ip} }}\n"
        if session.tier == "bundle":
            commands += (
                f"delete element ip {TABLE} bundle {{ {session.ip} }}\n"
                f"delete element ip {TABLE} bundle_quota {{ {session.ip} }}\n"
                f"delete quota ip {TABLE} {nftables.quota_name(session.ip)}\n"
            )
        return commands

    def _drop(self, session: Session) -> None:
        commands = self._clear_premium(session)
        commands += f"delete element ip {TABLE} sessions {{ {session.mac} . {session.ip} }}\n"
        nftables.apply_here(commands)
        del self.sessions[session.ip]

    def end_all(self) -> None:
        """Every session ends (a reboot): the sets and counters empty, bundles' quotas go."""
        with self._lock:
            commands = "".join(self._clear_premium(s) for s in self.sessions.values())
            commands += "".join(f"flush set ip {TABLE} {name}\n" for name in ("sessions", "client_up", "client_down"))
            commands += f"flush map ip {TABLE} client_class\n"
            nftables.apply_here(commands)
            self.sessions.clear()
        self.on_change()

    # -- flash ------------------------------------------------------------------------------------
    def to_flash(self) -> list[FlashSession]:
        """The sessions as the flash keeps them, bundles with what their quota counted so far."""
        with self._lock:
            sessions = list(self.sessions.values())
        return [
            FlashSession(mac=s.mac, ip=s.ip, tier=s.tier, started=s.started, package=s.package,
                         bundle_bytes=s.bundle_bytes, purchases=s.purchases,
                         quota_used_bytes=nftables.quota_used(nftables.quota_name(s.ip)) if s.tier == "bundle" else None)
            for s in sessions
        ]

    def restore(self, saved: list[FlashSession]) -> None:
        """Sessions read from flash at boot, back in the data path: each bundle's quota object
        starts at the bytes it had counted when the flash was last written."""
        with self._lock:
            commands = ""
            for s in saved:
                self._free_tier_class(s.ip)
                commands += f"add element ip {TABLE} sessions {{ {s.mac} . {s.ip} }}\n"
                if s.tier == "unlimited":
                    commands += f"add element ip {TABLE} unlimited {{ {s.ip} }}\n"
                elif s.tier == "bundle" and s.bundle_bytes is not None:
                    name = nftables.quota_name(s.ip)
                    commands += (
                        f"add quota ip {TABLE} {name} {{ over {s.bundle_bytes} bytes used {s.quota_used_bytes or 0} bytes }}\n"
                        f'add element ip {TABLE} bundle_quota {{ {s.ip} : "{name}" }}\n'
                        f"add element ip {TABLE} bundle {{ {s.ip} }}\n"
                    )
                self.sessions[s.ip] = Session(mac=s.mac, ip=s.ip, tier=s.tier, started=s.started, package=s.package,
                                              bundle_bytes=s.bundle_bytes, purchases=s.purchases)
            if commands:
                nftables.apply_here(commands)

    def _free_tier_class(self, ip: str) -> None:
        # The class is created before the map points at it; HTB falls back to the wide default
        # class for a priority that names no class, so there is no moment without a class.
        if self.plan.config.portal.free_tier.mechanism != "htb":
            return
        minor = nftables.client_classid(ip)
        with IPRoute() as ipr:
            shaping.add_client_class(ipr, self.plan.passenger_if, minor, self.plan.config.portal.free_tier.down_kbit)
        nftables.apply_here(f"add element ip {TABLE} client_class {{ {ip} : 1:{minor:x} }}\n")

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            sessions = list(self.sessions.values())
        return [s.as_dict(nftables.quota_used(nftables.quota_name(s.ip)) if s.tier == "bundle" else None) for s in sessions]
