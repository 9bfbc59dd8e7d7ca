"""The router's management API: the REST contract of bench.devices.drivers.rest (docs/devices.md),
served on the operations-LAN address, port 8080, so the generic REST driver drives the reference
router exactly as it drives a vendor's. Bodies are the protocol models of bench.devices.protocols,
validated before they are sent.

    GET  /api/v1/wans                  [WanState]
    GET  /api/v1/wans/active?class=C   {"traffic_class": C, "wan": name | null}
    GET  /api/v1/clients               [Client]          (DHCP leases)
    GET  /api/v1/portal/sessions       [PortalSession]   (every leased client, by its tier)
    GET  /api/v1/firmware              Firmware
    GET  /api/v1/logs?since=ISO-8601   [LogEntry]        (the event log)
    POST /api/v1/reboot                202: sessions end, WAN health starts afresh
    PUT  /api/v1/config {key: value}   200: dotted router.yaml keys; health.* apply at once,
                                       anything else answers 409 (it needs the bench to restart
                                       the router: lab.router.restart(config))
"""

from __future__ import annotations

import ipaddress
import json
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from pydantic import TypeAdapter, ValidationError

from bench.devices.protocols import Client, Firmware, LogEntry, PortalSession, WanState

if TYPE_CHECKING:
    from bench.devices.reference.daemon import RouterDaemon

PORT = 8080
# The router's uci package: `skyrouter.health.down_after` (the SSH face's uci path) and
# `health.down_after` name the same setting here.
UCI_PACKAGE = "skyrouter"
# The protocol's traffic classes and the router's names for them.
CLASS_NAMES = {"passenger": "passengers", "operational": "ops"}
TIER_NAMES = {"free": "free", "bundle": "premium-1gb", "unlimited": "unlimited"}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat()


def wans(daemon: RouterDaemon) -> list[WanState]:
    status = daemon.status()
    counters = _interface_counters()
    out = []
    for name, w in status["wans"].items():
        rx, tx = counters.get(w["ifname"], (None, None))
        out.append(WanState(
            name=name, up=w["state"] == "up", active=name in status["active"].values(),
            latency_ms=w["last_rtt_ms"] if w["state"] == "up" else None, loss=w["recent_loss"],
            interface=w["ifname"], address=w["address"], rx_bytes=rx, tx_bytes=tx,
        ))
    return out


def clients(daemon: RouterDaemon) -> list[Client]:
    return [Client(mac=c["mac"], ip=c["ip"], hostname=c["hostname"], lease_expires=_iso(c["expires"]))
            for c in daemon.status()["clients"]]


def portal_sessions(daemon: RouterDaemon) -> list[PortalSession]:
    status = daemon.status()
    cap = daemon.plan.config.portal.free_tier.down_kbit * 1000
    by_ip = {s["ip"]: s for s in status["sessions"]}
    passenger_lan = ipaddress.IPv4Network(daemon.plan.passenger_lan)
    out = []
    for c in status["clients"]:
        if ipaddress.IPv4Address(c["ip"]) not in passenger_lan:
            continue  # an ops device: the portal does not apply
        s = by_ip.get(c["ip"])
        counted = c["bytes_up"] + c["bytes_down"]
        if s is None or s["mac"] != c["mac"]:
            out.append(PortalSession(mac=c["mac"], ip=c["ip"], tier="unauthenticated", used_bytes=counted))
            continue
        bundle = s["tier"] == "bundle"
        capped = s["tier"] == "free" or (bundle and s["quota_exhausted"])
        out.append(PortalSession(
            mac=s["mac"], ip=s["ip"], tier=TIER_NAMES[s["tier"]],  # type: ignore[arg-type]
            quota_bytes=s["quota_bytes"] if bundle else None,
            used_bytes=(s["quota_used_bytes"] or 0) if bundle else counted,
            speed_cap_bps=cap if capped else None,
        ))
    return out


def firmware(daemon: RouterDaemon) -> Firmware:
    return Firmware(vendor="skybench", model="reference-router", version=daemon.plan.config.version,
                    description="the embedded lab's reference onboard router (Linux nftables, HTB, dnsmasq)")


def logs_since(daemon: RouterDaemon, since: str | None) -> list[LogEntry]:
    t = datetime.fromisoformat(since).timestamp() if since else 0.0
    out = []
    for e in daemon.events.since(t):
        details = {k: v for k, v in e.items() if k not in ("time", "event")}
        severity = "warning" if e["event"] in ("wan_down", "payment_refused") else "info"
        out.append(LogEntry(time=_iso(e["time"]), facility="daemon", severity=severity, source="routerd",
                            message=e["event"] + (" " + json.dumps(details, default=str) if details else "")))
    return out


def _interface_counters() -> dict[str, tuple[int, int]]:
    # routerd lives in the router namespace, so its /proc/net/dev is the router's.
    out = {}
    with open("/proc/net/dev") as f:
        for line in f:
            name, sep, rest = line.partition(":")
            if sep:
                v = rest.split()
                out[name.strip()] = (int(v[0]), int(v[8]))
    return out


def management_handler(daemon: RouterDaemon) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "skybench-reference-router/0.1"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def _send(self, code: int, payload: Any) -> None:
            body = json.dumps(payload, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _models(self, items: Any) -> Any:
            if isinstance(items, list):
                return [m.model_dump(mode="json") for m in items]
            return items.model_dump(mode="json")

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                if url.path == "/api/v1/wans":
                    self._send(200, self._models(wans(daemon)))
                elif url.path == "/api/v1/wans/active":
                    tc = q.get("class", "passenger")
                    if tc not in CLASS_NAMES:
                        self._send(400, {"error": f"unknown traffic class {tc!r}", "classes": list(CLASS_NAMES)})
                        return
                    active = daemon.status()["active"][CLASS_NAMES[tc]]
                    up = daemon.status()["wans"].get(active or "", {}).get("state") == "up"
                    self._send(200, {"traffic_class": tc, "wan": active if up else None})
                elif url.path == "/api/v1/clients":
                    self._send(200, self._models(clients(daemon)))
                elif url.path == "/api/v1/portal/sessions":
                    self._send(200, self._models(portal_sessions(daemon)))
                elif url.path == "/api/v1/firmware":
                    self._send(200, self._models(firmware(daemon)))
                elif url.path == "/api/v1/logs":
                    self._send(200, self._models(logs_since(daemon, q.get("since"))))
                elif url.path == "/api/v1/system":
                    self._send(200, {"uptime_s": round(time.time() - daemon.started, 3)})
                else:
                    self._send(404, {"error": f"no resource {url.path}"})
            except ValueError as exc:
                self._send(400, {"error": str(exc)})

        def do_POST(self) -> None:  # noqa: N802
            if urlparse(self.path).path != "/api/v1/reboot":
                self._send(404, {"error": "not found"})
                return
            self._send(202, {"rebooting": True})
            daemon.soft_reboot()

        def do_PUT(self) -> None:  # noqa: N802
            if urlparse(self.path).path != "/api/v1/config":
                self._send(404, {"error": "not found"})
                return
            try:
                changes = TypeAdapter(dict[str, Any]).validate_json(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                changes = {k.removeprefix(UCI_PACKAGE + "."): v for k, v in changes.items()}
            except ValidationError as exc:
                self._send(400, {"error": f"the body must be a JSON object of dotted keys: {exc.errors()[0]['msg']}"})
                return
            later = [k for k in changes if not k.startswith("health.")]
            if later:
                self._send(409, {"error": f"{', '.join(later)}: only health.* changes apply to a running router; "
                                          "the bench restarts it for the rest (lab.router.restart(config))"})
                return
            try:
                daemon.apply_health({k.split(".", 1)[1]: v for k, v in changes.items()})
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, {"applied": changes})

    return Handler
