"""The captive portal and status API: one HTTP server in the router namespace (port 80).

Unauthenticated passengers' web traffic is DNATed here (nftables), whatever host it was for;
requests for another host get a redirect to the portal. Endpoints:

    GET  /                      the portal page (terms, packages)
    POST /api/accept            accept the terms: the free tier          (form or JSON)
    POST /api/buy               {"package": id} -> an order and the provider's checkout URL
    GET  /payment/return        where the provider sends the passenger back; the portal checks
                                the payment with the provider (server to server) and grants it
    GET  /api/whoami            the asking client's address, MAC and session
    GET  /api/status            WANs and their state, active WAN per class, switches, clients,
                                sessions and quotas, version (router loopback and ops LAN only)
    GET  /api/logs?since=T      events since T (unix seconds; same audience)
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlparse

if TYPE_CHECKING:
    from bench.devices.reference.daemon import RouterDaemon


class Orders:
    """Purchases the portal has started, until the provider confirms them (each is used once)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, dict[str, Any]] = {}

    def create(self, mac: str, ip: str, package: str, amount: int) -> dict[str, Any]:
        order = {"order": "ord_" + secrets.token_hex(8), "mac": mac, "ip": ip, "package": package, "amount": amount, "time": time.time()}
        with self.lock:
            self.pending[order["order"]] = order
        return order

    def take(self, order_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.pending.pop(order_id, None)


def portal_handler(daemon: RouterDaemon) -> type[BaseHTTPRequestHandler]:
    plan = daemon.plan
    portal_host = f"portal.{plan.config.portal.domain}"
    local_hosts = {portal_host, plan.passenger_address, plan.ops_address, "127.0.0.1", "localhost"}

    class Handler(BaseHTTPRequestHandler):
        server_version = "skybench-reference-router/0.1"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        # -- plumbing -------------------------------------------------------------------------
        def _send(self, code: int, payload: Any = None, *, html: str | None = None, headers: dict[str, str] | None = None) -> None:
            body = html.encode() if html is not None else json.dumps(payload, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html" if html is not None else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> dict[str, Any]:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                return json.loads(raw or "{}")
            return {k: v[0] for k, v in parse_qs(raw).items()}

        def _client(self) -> tuple[str, str | None]:
            ip = self.client_address[0]
            return ip, daemon.sessions.mac_of(ip)

        def _management(self) -> bool:
            # Every passenger's MAC and purchases are in the status: only the router's own
            # loopback and the operations LAN may read it.
            ip = ipaddress.IPv4Address(self.client_address[0])
            return ip.is_loopback or ip in ipaddress.IPv4Network(plan.ops_lan)

        def _host(self) -> str:
            return (self.headers.get("Host") or "").split(":")[0]

        # -- routes ---------------------------------------------------------------------------
        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if self._host() not in local_hosts:
                # A DNATed request for some other site: send the browser to the portal.
                original = f"http://{self._host()}{self.path}"
                self._send(302, {"portal": f"http://{portal_host}/"}, headers={"Location": f"http://{portal_host}/?" + urlencode({"from": original})})
                return
            if url.path in ("/api/status", "/api/logs") and not self._management():
                self._send(403, {"error": "the status API answers the router itself and the ops LAN, not passengers"})
            elif url.path == "/api/status":
                self._send(200, daemon.status())
            elif url.path == "/api/logs":
                self._send(200, daemon.events.since(float(q.get("since", 0)), q.get("event")))
            elif url.path == "/api/whoami":
                ip, mac = self._client()
                session = daemon.sessions.sessions.get(ip)
                self._send(200, {"ip": ip, "mac": mac, "session": session.as_dict(None) if session else None})
            elif url.path == "/payment/return":
                self._payment_return(q)
            elif url.path in ("/", "/portal"):
                self._send(200, html=_portal_page(daemon))
            else:
                self._send(404, {"error": f"no page {url.path}"})

        def do_POST(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            ip, mac = self._client()
            if mac is None:
                self._send(403, {"error": f"{ip} is not a client on the passenger LAN"})
                return
            if url.path == "/api/accept":
                session = daemon.sessions.accept_terms(mac, ip)
                daemon.events.write("terms_accepted", mac=mac, ip=ip)
                self._send(200, session.as_dict(None))
            elif url.path == "/api/buy":
                package = plan.config.portal.package(str(self._body().get("package", "")))
                if package is None:
                    self._send(400, {"error": "unknown package", "packages": [p.id for p in plan.config.portal.packages]})
                    return
                order = daemon.orders.create(mac, ip, package.id, package.price_kzt)
                checkout = f"http://pay.{plan.config.portal.domain}/checkout?" + urlencode(
                    {"order": order["order"], "amount": package.price_kzt, "merchant": "skybench-train",
                     "return": f"http://{portal_host}/payment/return"}
                )
                daemon.events.write("order_created", mac=mac, ip=ip, order=order["order"], package=package.id)
                self._send(200, {**order, "checkout_url": checkout}, headers={"Location": checkout})
            else:
                self._send(404, {"error": f"no action {url.path}"})

        def _payment_return(self, q: dict[str, str]) -> None:
            order = daemon.orders.take(q.get("order", ""))
            if order is None:
                self._send(400, {"error": "unknown or already used order"})
                return
            try:
                # Ask the provider, never trust the redirect's query string.
                url = f"http://{plan.payment_address}/api/payments/{q.get('payment', '')}"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    payment = json.loads(resp.read())
            except OSError as exc:
                self._send(502, {"error": f"payment provider unreachable: {exc}"})
                return
            if payment.get("status") != "paid" or payment.get("order") != order["order"] or payment.get("amount") != order["amount"]:
                daemon.events.write("payment_refused", order=order["order"], payment=payment)
                self._send(402, {"error": "payment not confirmed", "payment": payment})
                return
            package = plan.config.portal.package(order["package"])
            assert package is not None
            session = daemon.sessions.grant(order["mac"], order["ip"], package)
            daemon.events.write("package_granted", mac=order["mac"], ip=order["ip"], package=package.id, payment=payment["payment"])
            self._send(200, session.as_dict(None))

    return Handler


def _portal_page(daemon: RouterDaemon) -> str:
    items = "".join(
        f"<li><form method=post action=/api/buy><input type=hidden name=package value={p.id}>"
        f"{p.title} ({p.price_kzt} KZT) <button>Buy</button></form></li>"
        for p in daemon.plan.config.portal.packages
    )
    cap = daemon.plan.config.portal.free_tier.down_kbit
    return (
        "<html><head><title>Train Wi-Fi</title></head><body><h1>Welcome aboard</h1>"
        f"<form method=post action=/api/accept><button>Accept the terms (free, {cap} kbit/s)</button></form>"
        f"<ul>{items}</ul></body></html>"
    )
