"""Readers for what OpenWrt's own tools print, as the SSH driver gets it.

Each function takes the text of one command and returns protocol models; anything that does not
look like that command's output raises `ValueError` saying what was expected (the driver turns it
into a DeviceError naming the device). The formats, with examples, are in docs/devices.md:

- `ubus call system board`            JSON: model, release.{distribution,version,description}
- `ubus call system info`             JSON: uptime (seconds since boot), localtime, memory, load
- `ubus call network.interface dump`  JSON: interface[].{interface,up,l3_device,ipv4-address[]}
- `ubus call network.device status`   JSON: {<device>: {statistics: {rx_bytes, tx_bytes}}}
- `ubus call mwan3 status`            JSON: interfaces.<name>.{status,up,track_ip[].{latency,packetloss,status}}
- `mwan3 policies`                    text: "Current ipv4 policies:", "<policy>:", " <wan> (<pct>%)"
- `cat /tmp/dhcp.leases`              dnsmasq leases: "<expiry> <mac> <ip> <hostname|*> <client-id|*>"
- `ndsctl json`                       openNDS clients: state, custom tier, quotas and usage in kB
- `logread`                           syslog: "Thu Jan 18 10:15:42 2024 daemon.info prog[pid]: text"
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime
from typing import Any

from bench.devices.protocols import Client, Firmware, LogEntry, PortalSession, WanState


def _json(text: str, command: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        shown = text.strip().splitlines()[0][:120] if text.strip() else "(nothing)"
        raise ValueError(f"`{command}` did not print JSON ({exc.msg}); it printed: {shown}") from None


def board(text: str) -> Firmware:
    data = _json(text, "ubus call system board")
    release = data.get("release") if isinstance(data, dict) else None
    if not isinstance(release, dict) or "version" not in release:
        raise ValueError("`ubus call system board` has no release.version")
    return Firmware(
        vendor=str(release.get("distribution") or "OpenWrt"),
        model=data.get("model"),
        version=str(release["version"]),
        description=release.get("description"),
    )


def system_uptime(text: str) -> float:
    data = _json(text, "ubus call system info")
    if not isinstance(data, dict) or not isinstance(data.get("uptime"), (int, float)):
        raise ValueError("`ubus call system info` has no numeric uptime")
    return float(data["uptime"])


def interface_dump(text: str) -> dict[str, dict[str, Any]]:
    """netifd's view: interface name -> its status object."""
    data = _json(text, "ubus call network.interface dump")
    if not isinstance(data, dict) or not isinstance(data.get("interface"), list):
        raise ValueError("`ubus call network.interface dump` has no interface list")
    return {str(i["interface"]): i for i in data["interface"] if isinstance(i, dict) and "interface" in i}


def device_statistics(text: str) -> dict[str, dict[str, int]]:
    data = _json(text, "ubus call network.device status")
    if not isinstance(data, dict):
        raise ValueError("`ubus call network.device status` is not a JSON object")
    return {name: dev.get("statistics", {}) for name, dev in data.items() if isinstance(dev, dict)}


def mwan3_interfaces(text: str) -> dict[str, dict[str, Any]]:
    data = _json(text, "ubus call mwan3 status")
    if not isinstance(data, dict) or not isinstance(data.get("interfaces"), dict):
        raise ValueError("`ubus call mwan3 status` has no interfaces object (is mwan3 installed?)")
    return data["interfaces"]


_POLICY_HEADER = re.compile(r"^Current (ipv4|ipv6) policies:\s*$")
_POLICY_NAME = re.compile(r"^(\S+):\s*$")
_POLICY_MEMBER = re.compile(r"^\s+(\S+) \((\d+)%\)\s*$")


def mwan3_policies(text: str, family: str = "ipv4") -> dict[str, list[tuple[str, int]]]:
    """policy -> [(wan, percent)] in the order mwan3 lists them; [] when no member is online."""
    policies: dict[str, list[tuple[str, int]]] = {}
    section: str | None = None
    current: str | None = None
    seen_header = False
    for line in text.splitlines():
        header = _POLICY_HEADER.match(line)
        if header:
            section, current, seen_header = header.group(1), None, True
            continue
        if section != family:
            continue
        member = _POLICY_MEMBER.match(line)
        if member and current is not None:
            policies[current].append((member.group(1), int(member.group(2))))
            continue
        name = _POLICY_NAME.match(line)
        if name:
            current = name.group(1)
            policies[current] = []
    if not seen_header:
        raise ValueError("`mwan3 policies` printed no 'Current ipv4 policies:' section")
    return policies


def wan_states(dump: dict[str, dict[str, Any]], mwan3: dict[str, dict[str, Any]],
               stats: dict[str, dict[str, int]], active: set[str]) -> list[WanState]:
    """One WanState per interface mwan3 manages, in mwan3's order."""
    wans = []
    for name, m in mwan3.items():
        iface = dump.get(name, {})
        device = iface.get("l3_device") or iface.get("device")
        addresses = iface.get("ipv4-address") or []
        up_tracks = [t for t in m.get("track_ip") or [] if isinstance(t, dict) and t.get("status") == "up"]
        latencies = [float(t["latency"]) for t in up_tracks if t.get("latency") is not None]
        tracks = [t for t in m.get("track_ip") or [] if isinstance(t, dict) and t.get("packetloss") is not None]
        counters = stats.get(device or "", {})
        wans.append(
            WanState(
                name=name,
                up=m.get("status") == "online",
                active=name in active,
                latency_ms=sum(latencies) / len(latencies) if latencies else None,
                loss=(sum(float(t["packetloss"]) for t in tracks) / len(tracks) / 100.0) if tracks else None,
                interface=device,
                address=addresses[0].get("address") if addresses and isinstance(addresses[0], dict) else None,
                rx_bytes=counters.get("rx_bytes"),
                tx_bytes=counters.get("tx_bytes"),
            )
        )
    return wans


def leases(text: str) -> list[Client]:
    clients = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 4 or not fields[0].isdigit():
            raise ValueError(f"/tmp/dhcp.leases line {number} is not '<expiry> <mac> <ip> <hostname> ...': {line[:80]}")
        expiry = int(fields[0])
        clients.append(
            Client(
                mac=fields[1].lower(),
                ip=fields[2],
                hostname=None if fields[3] == "*" else fields[3],
                lease_expires=datetime.fromtimestamp(expiry) if expiry else None,
            )
        )
    return clients


_KB = 1024


def _nds_int(value: Any) -> int | None:
    if value in (None, "null", "", "-"):
        return None
    return int(float(value))


def _tier(client: dict[str, Any]) -> str:
    if client.get("state") != "Authenticated":
        return "unauthenticated"
    # The portal puts the package bought into the client's custom string, e.g. "tier=premium-1gb".
    for part in re.split(r"[,;& ]", str(client.get("custom") or "")):
        key, _, value = part.partition("=")
        if key == "tier" and value in ("free", "premium-1gb", "unlimited"):
            return value
    return "free"


def ndsctl_sessions(text: str) -> list[PortalSession]:
    data = _json(text, "ndsctl json")
    clients = data.get("clients") if isinstance(data, dict) else None
    if not isinstance(clients, dict):
        raise ValueError("`ndsctl json` has no clients object (is openNDS running?)")
    sessions = []
    for mac, c in clients.items():
        down_quota, up_quota = _nds_int(c.get("download_quota")), _nds_int(c.get("upload_quota"))
        quota = None if down_quota is None and up_quota is None else ((down_quota or 0) + (up_quota or 0)) * _KB
        used = ((_nds_int(c.get("download_this_session")) or 0) + (_nds_int(c.get("upload_this_session")) or 0)) * _KB
        cap = _nds_int(c.get("download_rate_limit_threshold"))
        sessions.append(
            PortalSession(
                mac=str(c.get("mac") or mac).lower(),
                ip=str(c.get("ip")),
                tier=_tier(c),  # type: ignore[arg-type]
                quota_bytes=quota,
                used_bytes=used,
                speed_cap_bps=cap * 1000 if cap else None,
            )
        )
    return sessions


_LOG_LINE = re.compile(
    r"^(?P<time>\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d \d{4}) "
    r"(?P<facility>[a-z0-9]+)\.(?P<severity>[a-z]+) "
    r"(?P<source>[^:\[\s]+)(?:\[\d+\])?: (?P<message>.*)$"
)


def logread(text: str) -> list[LogEntry]:
    """Parse syslog lines; the router prints its local time, so the times are naive."""
    entries = []
    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if not match:
            if entries and line.strip():
                continue  # a continuation line of a multi-line message
            if line.strip():
                raise ValueError(f"`logread` printed a line that is not syslog: {line[:100]}")
            continue
        entries.append(
            LogEntry(
                time=datetime.strptime(" ".join(match["time"].split()), "%a %b %d %H:%M:%S %Y"),
                facility=match["facility"],
                severity=match["severity"],
                source=match["source"],
                message=match["message"],
            )
        )
    return entries


def uci_set_commands(config: dict[str, Any]) -> list[str]:
    """`uci set` (or delete + add_list for lists) per dotted key, then commit and reload."""
    commands = []
    for key, value in config.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_@\[\]-]+\.[A-Za-z0-9_-]+", key):
            raise ValueError(f"config key {key!r} is not a uci path package.section.option")
        if isinstance(value, (list, tuple)):
            commands.append(f"uci -q delete {shlex.quote(key)} || true")
            commands += [f"uci add_list {shlex.quote(f'{key}={item}')}" for item in value]
        else:
            text = ("1" if value else "0") if isinstance(value, bool) else str(value)
            commands.append(f"uci set {shlex.quote(f'{key}={text}')}")
    packages = sorted({key.split(".", 1)[0] for key in config})
    commands += [f"uci commit {shlex.quote(p)}" for p in packages]
    commands.append("reload_config")
    return commands
