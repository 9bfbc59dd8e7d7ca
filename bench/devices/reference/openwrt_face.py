"""The reference router's OpenWrt face: its real state printed the way OpenWrt's tools print it.

The SSH face (bench.devices.reference.sshface) hands every command a client runs to `OpenWrtShell`,
which answers the commands the generic SSH driver uses (bench/devices/drivers/openwrt.py) from what
the router is doing now, never from canned text:

    ubus call system board              the router's version (router.yaml) and this kernel
    ubus call network.interface dump    WAN and LAN ports: link state, addresses, routes (kernel)
    ubus call network.device status     the ports' kernel counters
    ubus call mwan3 status              routerd's health probes per WAN (status API)
    mwan3 policies                      the active WAN of each traffic class (status API)
    cat /tmp/dhcp.leases                dnsmasq's lease file (the same format: it is dnsmasq's)
    ndsctl json                         portal sessions, tiers, caps, quotas and the kernel's
                                        per-client byte counters (status API)
    logread                             routerd's event log and dnsmasq's log, as syslog lines
    uci get/set/commit, reload_config   package `skyrouter`, section `health`: the probe
                                        thresholds, applied through the management API
    reboot                              the router's soft reboot (sessions end, health restarts)

A command line may chain commands with `&&`, `||` and `;` as the driver does; anything else
answers like a shell that lacks the program (exit 127).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from bench.devices.reference import management
from bench.devices.reference.plan import RouterPlan

UCI_PACKAGE = management.UCI_PACKAGE
HOSTNAME = "reference-router"
LOG_LINES = 2000  # logread prints a bounded ring buffer on a real router too
TIER_CUSTOM = {"free": "tier=free", "premium-1gb": "tier=premium-1gb", "unlimited": "tier=unlimited"}
_DNSMASQ_LINE = re.compile(r"^(?P<time>\w{3} +\d{1,2} \d\d:\d\d:\d\d) (?P<source>[^:\[\s]+)(?:\[(?P<pid>\d+)\])?: (?P<message>.*)$")


@dataclass
class Result:
    out: str = ""
    err: str = ""
    status: int = 0


class RouterView:
    """What routerd knows, read through its status API from inside the router namespace. It has
    the attributes the management API's model builders use (`plan`, `status()`, `events.since`),
    so the SSH face and the REST face describe the same state the same way."""

    def __init__(self, plan: RouterPlan, timeout_s: float = 5.0) -> None:
        self.plan = plan
        self.timeout_s = timeout_s
        self.events = self  # management.logs_since reads daemon.events.since(t)
        self._status: dict[str, Any] | None = None

    def _get(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.plan.portal_port}{path}"
        with urllib.request.urlopen(url, timeout=self.timeout_s) as reply:
            return json.loads(reply.read())

    def status(self) -> dict[str, Any]:
        if self._status is None:  # one snapshot per command: every part of an answer agrees
            self._status = self._get("/api/status")
        return self._status

    def since(self, t: float = 0.0, event: str | None = None) -> list[dict[str, Any]]:
        return self._get(f"/api/logs?since={t}" + (f"&event={event}" if event else ""))

    def manage(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        """A call to the management API (ops address, port 8080): the one way state changes."""
        url = f"http://{self.plan.ops_address}:{management.PORT}{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


# -- renderers: one per command ---------------------------------------------------------------


def _interfaces(plan: RouterPlan) -> list[tuple[str, str]]:
    """(uci interface name, Linux device): the WANs by their lab names, then the two LANs."""
    return [(w.name, w.ifname) for w in plan.wans] + [("lan", plan.passenger_if), ("ops", plan.ops_if)]


def system_board(view: RouterView) -> str:
    cfg = view.plan.config
    uname = os.uname()
    firmware = management.firmware(view)  # type: ignore[arg-type]
    return json.dumps({
        "kernel": uname.release,
        "hostname": HOSTNAME,
        "system": uname.machine,
        "model": firmware.model,
        "board_name": f"{firmware.vendor},{firmware.model}",
        "rootfs_type": "tmpfs",
        "release": {"distribution": firmware.vendor, "version": cfg.version, "revision": cfg.version.split()[-1],
                    "target": f"{uname.sysname.lower()}/{uname.machine}", "description": firmware.description},
    }, indent="\t")


def system_info(view: RouterView) -> str:
    status = view.status()
    return json.dumps({"localtime": int(time.time()), "uptime": int(time.time() - status["started"]),
                       "load": [0, 0, 0], "memory": {}}, indent="\t")


def interface_dump(view: RouterView) -> str:
    plan = view.plan
    tables = {w.name: w.table for w in plan.wans}
    entries = []
    with IPRoute() as ipr:
        for name, ifname in _interfaces(plan):
            found = ipr.link_lookup(ifname=ifname)
            if not found:
                continue
            index = found[0]
            link = ipr.get_links(index)[0]
            up = link.get_attr("IFLA_OPERSTATE") in ("UP", "UNKNOWN")
            addresses = [{"address": a.get_attr("IFA_ADDRESS"), "mask": a["prefixlen"]}
                         for a in ipr.get_addr(index=index, family=2)]
            routes = []
            if name in tables:
                for r in ipr.get_routes(family=2, table=tables[name]):
                    if r.get_attr("RTA_OIF") == index:
                        routes.append({"target": r.get_attr("RTA_DST") or "0.0.0.0", "mask": r["dst_len"],
                                       "nexthop": r.get_attr("RTA_GATEWAY") or "0.0.0.0", "table": tables[name]})
            entries.append({
                "interface": name, "up": up, "pending": False, "available": True, "autostart": True,
                "dynamic": False, "l3_device": ifname, "proto": "static", "device": ifname,
                "metric": 0, "ipv4-address": addresses, "ipv6-address": [], "route": routes,
                "dns-server": [], "dns-search": [], "data": {},
            })
    return json.dumps({"interface": entries}, indent="\t")


def device_status(view: RouterView) -> str:
    devices = {}
    with IPRoute() as ipr:
        for _, ifname in _interfaces(view.plan):
            found = ipr.link_lookup(ifname=ifname)
            if not found:
                continue
            link = ipr.get_links(found[0])[0]
            stats = link.get_attr("IFLA_STATS64") or {}
            devices[ifname] = {
                "external": False, "present": True, "type": "Network device",
                "up": bool(link["flags"] & 1), "carrier": link.get_attr("IFLA_CARRIER") == 1,
                "mtu": link.get_attr("IFLA_MTU"), "macaddr": link.get_attr("IFLA_ADDRESS"),
                "statistics": {k: int(stats.get(k, 0)) for k in
                               ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors",
                                "rx_dropped", "tx_dropped")},
            }
    return json.dumps(devices, indent="\t")


def mwan3_status(view: RouterView) -> str:
    status = view.status()
    now = status["time"]
    interfaces = {}
    for w in view.plan.wans:
        s = status["wans"][w.name]
        online = s["state"] == "up"
        loss = s["recent_loss"]
        interfaces[w.name] = {
            "age": int(now - status["started"]),
            "online": int(now - s["since"]) if online else 0,
            "offline": 0 if online else int(now - s["since"]),
            "uptime": int(now - status["started"]),
            "score": s["consecutive_successes"] if online else 0,
            "lost": s["probes_sent"] - s["probes_answered"],
            "turn": 0, "status": "online" if online else "offline", "enabled": True, "running": True,
            "tracking": "active", "up": online,
            "track_ip": [{
                "ip": w.probe_target, "status": "up" if s["consecutive_failures"] == 0 else "down",
                # mwan3 prints whole milliseconds and percent
                "latency": round(s["last_rtt_ms"]) if online and s["last_rtt_ms"] is not None else None,
                "packetloss": round(loss * 100) if loss is not None else None,
            }],
        }
    return json.dumps({"interfaces": interfaces}, indent="\t")


def mwan3_policies(view: RouterView) -> str:
    """mwan3's listing: a failover policy shows its one online member at 100 %, none when down."""
    status = view.status()
    lines = ["Current ipv4 policies:"]
    for traffic_class, router_class in management.CLASS_NAMES.items():
        active = status["active"].get(router_class)
        lines.append(f"{traffic_class}:")
        if active and status["wans"].get(active, {}).get("state") == "up":
            lines.append(f" {active} (100%)")
        else:
            lines.append(" unreachable")
    lines += ["", "Current ipv6 policies:", ""]
    return "\n".join(lines) + "\n"


def dhcp_leases(view: RouterView) -> str:
    leases = view.plan.file("dnsmasq.leases")
    return leases.read_text() if leases.exists() else ""


def ndsctl_json(view: RouterView) -> str:
    status = view.status()
    counted = {c["ip"]: c for c in status["clients"]}
    started = {s["ip"]: s for s in status["sessions"]}
    free_kbit = view.plan.config.portal.free_tier.down_kbit
    clients = {}
    for number, session in enumerate(management.portal_sessions(view), 1):  # type: ignore[arg-type]
        client = counted.get(session.ip, {})
        authenticated = session.tier != "unauthenticated"
        # openNDS counts kB per direction; a bundle's quota is one figure for both directions.
        clients[session.mac] = {
            "gatewayname": HOSTNAME, "id": number, "ip": session.ip, "mac": session.mac,
            "added": int(started.get(session.ip, {}).get("since", status["started"])),
            "active": int(status["time"]), "token": f"{number:08x}",
            "state": "Authenticated" if authenticated else "Preauthenticated",
            "custom": TIER_CUSTOM.get(session.tier, ""),
            "download_rate_limit_threshold": free_kbit if session.speed_cap_bps else "null",
            "upload_rate_limit_threshold": view.plan.config.portal.free_tier.up_kbit if session.speed_cap_bps else "null",
            "download_quota": session.quota_bytes // 1024 if session.quota_bytes is not None else "null",
            "upload_quota": 0 if session.quota_bytes is not None else "null",
            "download_this_session": client.get("bytes_down", 0) // 1024,
            "upload_this_session": client.get("bytes_up", 0) // 1024,
        }
    return json.dumps({"client_list_length": str(len(clients)), "clients": clients}, indent="\t")


def _syslog(t: float, facility: str, severity: str, source: str, pid: int | None, message: str) -> str:
    stamp = datetime.fromtimestamp(t).strftime("%a %b %e %H:%M:%S %Y")
    return f"{stamp} {facility}.{severity} {source}{f'[{pid}]' if pid else ''}: {message}"


def logread(view: RouterView) -> str:
    lines: list[tuple[float, str]] = []
    for entry in management.logs_since(view, None):  # type: ignore[arg-type]
        lines.append((entry.time.timestamp(), _syslog(entry.time.timestamp(), entry.facility or "daemon",
                                                      entry.severity or "info", entry.source or "routerd",
                                                      None, entry.message)))
    lines += _dnsmasq_lines(view.plan.file("dnsmasq.log"))
    lines.sort(key=lambda item: item[0])
    return "".join(line + "\n" for _, line in lines[-LOG_LINES:])


def _dnsmasq_lines(path: Path) -> list[tuple[float, str]]:
    """dnsmasq's log file lines ("Jan 18 10:15:42 dnsmasq-dhcp[12]: ...", no year) as syslog."""
    if not path.exists():
        return []
    year = datetime.now().year
    out = []
    for line in path.read_text(errors="replace").splitlines()[-LOG_LINES:]:
        match = _DNSMASQ_LINE.match(line)
        if not match:
            continue
        t = datetime.strptime(f"{year} {' '.join(match['time'].split())}", "%Y %b %d %H:%M:%S").timestamp()
        pid = int(match["pid"]) if match["pid"] else None
        out.append((t, _syslog(t, "daemon", "info", match["source"], pid, match["message"])))
    return out


# -- the shell ----------------------------------------------------------------------------------


@dataclass
class UciStore:
    """uci's staged and committed changes of package `skyrouter` (shared by every SSH session,
    as /tmp/.uci is on a real router)."""

    staged: dict[str, str] = field(default_factory=dict)
    committed: dict[str, str] = field(default_factory=dict)


class OpenWrtShell:
    def __init__(self, plan: RouterPlan) -> None:
        self.plan = plan
        self.uci = UciStore()

    def run(self, command_line: str) -> Result:
        """Run a command line: commands joined by `&&`, `||` and `;`, as sh would."""
        try:
            tokens = shlex.split(command_line, posix=True)
        except ValueError as exc:
            return Result(err=f"sh: syntax error: {exc}\n", status=2)
        commands: list[tuple[str, list[str]]] = []  # (operator before it, argv)
        current: list[str] = []
        operator = ";"
        for token in tokens:
            if token in ("&&", "||", ";"):
                commands.append((operator, current))
                operator, current = token, []
            else:
                current.append(token)
        commands.append((operator, current))
        view = RouterView(self.plan)
        result = Result()
        for op, argv in commands:
            if not argv or (op == "&&" and result.status != 0) or (op == "||" and result.status == 0):
                continue
            one = self._one(view, argv)
            result = Result(result.out + one.out, result.err + one.err, one.status)
        return result

    def _one(self, view: RouterView, argv: list[str]) -> Result:
        program, args = argv[0], argv[1:]
        try:
            if program == "ubus" and args[:1] == ["call"] and len(args) >= 3:
                return self._ubus(view, args[1], args[2])
            if program == "mwan3" and args == ["policies"]:
                return Result(mwan3_policies(view))
            if program == "mwan3" and args == ["status"]:
                return Result(mwan3_status(view))
            if program == "cat" and args == ["/tmp/dhcp.leases"]:
                return Result(dhcp_leases(view))
            if program == "ndsctl" and args == ["json"]:
                return Result(ndsctl_json(view))
            if program == "logread" and not args:
                return Result(logread(view))
            if program == "uci":
                return self._uci(view, args)
            if program == "reload_config":
                return self._reload(view)
            if program == "reboot":
                code, body = view.manage("POST", "/api/v1/reboot")
                return Result() if code == 202 else Result(err=f"reboot: {body}\n", status=1)
            if program == "true":
                return Result()
        except (OSError, ValueError) as exc:
            return Result(err=f"{program}: {exc}\n", status=1)
        return Result(err=f"sh: {program}: not found\n", status=127)

    def _ubus(self, view: RouterView, path: str, method: str) -> Result:
        calls = {
            ("system", "board"): system_board,
            ("system", "info"): system_info,
            ("network.interface", "dump"): interface_dump,
            ("network.device", "status"): device_status,
            ("mwan3", "status"): mwan3_status,
        }
        render = calls.get((path, method))
        if render is None:
            return Result(err="Command failed: Not found\n", status=4)
        return Result(render(view) + "\n")

    def _uci(self, view: RouterView, args: list[str]) -> Result:
        quiet = "-q" in args
        args = [a for a in args if a != "-q"]
        if len(args) == 2 and args[0] == "set" and "=" in args[1]:
            key, value = args[1].split("=", 1)
            if not key.startswith(UCI_PACKAGE + "."):
                return Result(err="" if quiet else "uci: Entry not found\n", status=1)
            self.uci.staged[key] = value
            return Result()
        if len(args) == 2 and args[0] == "commit":
            if args[1] == UCI_PACKAGE:
                self.uci.committed.update(self.uci.staged)
                self.uci.staged.clear()
            return Result()
        if len(args) == 2 and args[0] == "get":
            key = args[1]
            if key in self.uci.staged:
                return Result(self.uci.staged[key] + "\n")
            section, _, option = key.removeprefix(UCI_PACKAGE + ".").partition(".")
            health = view.status()["health"]
            if key.startswith(UCI_PACKAGE + ".") and section == "health" and option in health:
                return Result(f"{health[option]}\n")
            return Result(err="" if quiet else "uci: Entry not found\n", status=1)
        if args and args[0] == "delete":
            return Result(err="" if quiet else "uci: Entry not found\n", status=1)
        return Result(err="uci: Invalid argument\n", status=1)

    def _reload(self, view: RouterView) -> Result:
        """Apply what was committed, as procd's reload_config does, through the management API."""
        changes, self.uci.committed = dict(self.uci.committed), {}
        if not changes:
            return Result()
        code, body = view.manage("PUT", "/api/v1/config", {k: _uci_value(v) for k, v in changes.items()})
        if code != 200:
            try:
                reason = json.loads(body).get("error", body)
            except ValueError:
                reason = body
            return Result(err=f"reload_config: {UCI_PACKAGE} refused the change: {reason}\n", status=1)
        return Result()


def _uci_value(text: str) -> Any:
    """uci stores strings; the router's configuration wants numbers where they are numbers."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
