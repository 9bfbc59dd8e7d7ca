"""TEST DOUBLE of an onboard router's state, rendered the way each management face shows it.

`RouterDouble` holds what a router knows (WANs, leases, portal clients, logs, config). The test
servers render it as a real OpenWrt prints it (`OpenWrtShellDouble`, behind a real SSH server) or
as the REST status API's JSON (`rest_server.py`). Tests change the state and check that each driver
reads the change: the drivers' parsing and transport are what is under test, never this file.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class WanDouble:
    name: str
    device: str
    address: str
    online: bool = True
    latency_ms: float = 40.0
    loss_pct: float = 0.0
    rx_bytes: int = 0
    tx_bytes: int = 0


@dataclass
class PortalClientDouble:
    mac: str
    ip: str
    state: str = "Preauthenticated"  # openNDS state names
    tier: str | None = None
    quota_kb: int | None = None
    down_kb: int = 0
    up_kb: int = 0
    cap_kbit: int | None = None


@dataclass
class RouterDouble:
    model: str = "Teltonika RUTX50"
    version: str = "23.05.2"
    revision: str = "r23630-842932a63d"
    wans: list[WanDouble] = field(default_factory=lambda: [
        WanDouble("oneweb", "eth1", "198.18.16.1", latency_ms=70.0, rx_bytes=1_000, tx_bytes=2_000),
        WanDouble("starlink", "eth2", "198.18.16.9", latency_ms=35.0),
        WanDouble("lte", "wwan0", "198.18.16.17", latency_ms=60.0),
    ])
    # WAN names per traffic class in preference order (mwan3 failover policies).
    policy_order: dict[str, list[str]] = field(default_factory=lambda: {
        "passenger": ["oneweb", "starlink", "lte"],
        "operational": ["starlink", "oneweb", "lte"],
    })
    leases: list[tuple[int, str, str, str]] = field(default_factory=list)
    portal: list[PortalClientDouble] = field(default_factory=list)
    logs: list[tuple[datetime, str, str, str]] = field(default_factory=list)
    uci: dict[str, str] = field(default_factory=dict)
    reboots: int = 0
    uptime_s: int = 86_400
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wan(self, name: str) -> WanDouble:
        return next(w for w in self.wans if w.name == name)

    def active(self, traffic_class: str) -> str | None:
        for name in self.policy_order[traffic_class]:
            if self.wan(name).online:
                return name
        return None

    def log(self, when: datetime, level: str, source: str, message: str) -> None:
        self.logs.append((when, level, source, message))


class OpenWrtShellDouble:
    """TEST DOUBLE: answers the commands the SSH driver runs with OpenWrt's real output formats."""

    def __init__(self, router: RouterDouble) -> None:
        self.router = router
        self.commands: list[str] = []

    def run(self, command: str) -> tuple[str, str, int]:
        self.commands.append(command)
        with self.router.lock:
            if " && " in command:
                out, err, status = "", "", 0
                for part in command.split(" && "):
                    o, e, status = self._one(part)
                    out, err = out + o, err + e
                    if status:
                        break
                return out, err, status
            return self._one(command)

    def _one(self, command: str) -> tuple[str, str, int]:
        r = self.router
        if command == "ubus call system board":
            return json.dumps({
                "kernel": "5.15.137", "hostname": "train-router", "system": "ARMv8 Processor rev 4",
                "model": r.model, "board_name": "teltonika,rutx50", "rootfs_type": "squashfs",
                "release": {"distribution": "OpenWrt", "version": r.version, "revision": r.revision,
                            "target": "ipq40xx/generic",
                            "description": f"OpenWrt {r.version} {r.revision}"},
            }, indent="\t") + "\n", "", 0
        if command == "ubus call system info":
            return json.dumps({"localtime": 1_700_000_000, "uptime": r.uptime_s, "load": [0, 0, 0],
                               "memory": {"total": 1 << 28}}, indent="\t") + "\n", "", 0
        if command == "ubus call network.interface dump":
            return json.dumps({"interface": [
                {"interface": w.name, "up": w.online, "pending": False, "available": True,
                 "autostart": True, "uptime": 3600, "l3_device": w.device, "proto": "static",
                 "device": w.device, "metric": 10 + i, "dns_metric": 0, "delegation": True,
                 "ipv4-address": [{"address": w.address, "mask": 29}], "ipv6-address": [],
                 "route": [{"target": "0.0.0.0", "mask": 0, "nexthop": w.address, "source": "0.0.0.0/0"}],
                 "dns-server": [], "dns-search": [], "inactive": {}, "data": {}}
                for i, w in enumerate(r.wans)]}, indent="\t") + "\n", "", 0
        if command == "ubus call network.device status":
            return json.dumps({w.device: {
                "external": False, "present": True, "type": "Network device", "up": True, "carrier": True,
                "mtu": 1500, "macaddr": "02:00:00:00:00:0%d" % i,
                "statistics": {"collisions": 0, "rx_frame_errors": 0, "tx_compressed": 0, "multicast": 0,
                               "rx_bytes": w.rx_bytes, "tx_bytes": w.tx_bytes, "rx_packets": w.rx_bytes // 1000,
                               "tx_packets": w.tx_bytes // 1000, "rx_errors": 0, "tx_errors": 0,
                               "rx_dropped": 0, "tx_dropped": 0}}
                for i, w in enumerate(r.wans)}, indent="\t") + "\n", "", 0
        if command == "ubus call mwan3 status":
            return json.dumps({"interfaces": {w.name: {
                "age": 2, "online": 3600 if w.online else 0, "offline": 0 if w.online else 120,
                "uptime": 3600, "score": 10 if w.online else 0, "lost": 0 if w.online else 5,
                "turn": 0, "status": "online" if w.online else "offline", "enabled": True,
                "running": True, "tracking": "active", "up": w.online,
                "track_ip": [{"ip": "198.19.255.1", "status": "up" if w.online else "down",
                              "latency": int(w.latency_ms) if w.online else None,
                              "packetloss": int(w.loss_pct) if w.online else 100}]}
                for w in r.wans}}, indent="\t") + "\n", "", 0
        if command == "mwan3 policies":
            lines = ["Current ipv4 policies:"]
            for policy in r.policy_order:
                lines.append(f"{policy}:")
                active = r.active(policy)
                lines.append(f" {active} (100%)" if active else " unreachable")
            lines += ["", "Current ipv6 policies:"]
            for policy in r.policy_order:
                lines += [f"{policy}:", " unreachable"]
            return "\n".join(lines) + "\n", "", 0
        if command == "cat /tmp/dhcp.leases":
            return "".join(f"{exp} {mac} {ip} {host} 01:{mac}\n" for exp, mac, ip, host in r.leases), "", 0
        if command == "ndsctl json":
            return json.dumps({"client_list_length": str(len(r.portal)), "clients": {c.mac: {
                "gatewayname": "train-wifi", "version": "10.2.0", "mac": c.mac, "ip": c.ip,
                "clientif": "br-lan", "session_start": str(int(time.time())), "session_end": "null",
                "state": c.state, "custom": f"tier={c.tier}" if c.tier else "none",
                "download_rate_limit_threshold": str(c.cap_kbit) if c.cap_kbit else "null",
                "upload_rate_limit_threshold": "null",
                "download_quota": str(c.quota_kb) if c.quota_kb is not None else "null",
                "upload_quota": "null",
                "download_this_session": str(c.down_kb), "upload_this_session": str(c.up_kb)}
                for c in r.portal}}, indent=1) + "\n", "", 0
        if command == "logread":
            return "".join(f"{t.strftime('%a %b %e %H:%M:%S %Y')} {lvl} {src}: {msg}\n"
                           for t, lvl, src, msg in r.logs), "", 0
        if command == "reboot":
            r.reboots += 1
            return "", "", 0
        if command.startswith("uci set "):
            key, _, value = shlex.split(command)[2].partition("=")
            r.uci[key] = value
            return "", "", 0
        if command.startswith("uci commit") or command == "reload_config":
            return "", "", 0
        name = command.split()[0] if command.split() else command
        return "", f"/bin/ash: {name}: not found\n", 127


def rest_payload(router: RouterDouble, path: str, query: dict[str, str]) -> Any:
    """TEST DOUBLE: the REST status API's JSON for a GET path (None: no such resource)."""
    r = router
    with r.lock:
        active = {c: r.active(c) for c in r.policy_order}
        if path == "/api/v1/wans":
            return [{"name": w.name, "up": w.online, "active": w.name in active.values(),
                     "latency_ms": w.latency_ms if w.online else None, "loss": w.loss_pct / 100,
                     "interface": w.device, "address": w.address, "rx_bytes": w.rx_bytes,
                     "tx_bytes": w.tx_bytes} for w in r.wans]
        if path == "/api/v1/wans/active":
            return {"traffic_class": query.get("class", "passenger"), "wan": active.get(query.get("class", "passenger"))}
        if path == "/api/v1/clients":
            return [{"mac": mac, "ip": ip, "hostname": host, "lease_expires": datetime.fromtimestamp(exp).isoformat()}
                    for exp, mac, ip, host in r.leases]
        if path == "/api/v1/portal/sessions":
            return [{"mac": c.mac, "ip": c.ip,
                     "tier": c.tier if c.state == "Authenticated" and c.tier else
                     ("free" if c.state == "Authenticated" else "unauthenticated"),
                     "quota_bytes": c.quota_kb * 1024 if c.quota_kb is not None else None,
                     "used_bytes": (c.down_kb + c.up_kb) * 1024,
                     "speed_cap_bps": c.cap_kbit * 1000 if c.cap_kbit else None} for c in r.portal]
        if path == "/api/v1/system":
            return {"uptime_s": r.uptime_s}
        if path == "/api/v1/firmware":
            return {"vendor": "OpenWrt", "model": r.model, "version": r.version,
                    "description": f"OpenWrt {r.version} {r.revision}"}
        if path == "/api/v1/logs":
            since = datetime.fromisoformat(query["since"]) if "since" in query else datetime.min
            return [{"time": t.isoformat(), "facility": lvl.split(".")[0], "severity": lvl.split(".")[1],
                     "source": src, "message": msg} for t, lvl, src, msg in r.logs if t >= since]
    return None
