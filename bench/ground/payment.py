"""The emulated payment provider on the ground side: a checkout page the passenger pays on, and a
server-to-server API the portal asks whether a payment really happened.

    GET  /checkout?order=&amount=&merchant=&return=   the payment page
    POST /checkout/pay   (form: order, amount, return, card) -> 303 to return?order=&payment=
    GET  /api/payments/<id>                           {"payment","order","amount","status"}

Card 4000 0000 0000 0002 is declined (as with real test cards), anything else is paid.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

DECLINED_CARD = "4000000000000002"


class PaymentLedger:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.payments: dict[str, dict[str, Any]] = {}

    def pay(self, order: str, amount: int, card: str) -> dict[str, Any]:
        status = "declined" if card.replace(" ", "") == DECLINED_CARD else "paid"
        payment = {"payment": "pay_" + secrets.token_hex(8), "order": order, "amount": amount, "status": status, "time": time.time()}
        with self.lock:
            self.payments[payment["payment"]] = payment
        return payment


def payment_handler(ledger: PaymentLedger) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "skybench-payments/0.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def _send(self, code: int, body: bytes, ctype: str = "application/json", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/checkout":
                page = (
                    "<html><body><h1>Pay {amount} KZT to {merchant}</h1>"
                    "<form method=post action=/checkout/pay>"
                    "<input type=hidden name=order value='{order}'><input type=hidden name=amount value='{amount}'>"
                    "<input type=hidden name=return value='{ret}'>Card <input name=card>"
                    "<button>Pay</button></form></body></html>"
                ).format(**{k: html.escape(q.get(k, ""), quote=True) for k in ("amount", "merchant", "order")}, ret=html.escape(q.get("return", ""), quote=True))
                self._send(200, page.encode(), "text/html")
            elif url.path.startswith("/api/payments/"):
                with ledger.lock:
                    payment = ledger.payments.get(url.path.rsplit("/", 1)[1])
                if payment is None:
                    self._send(404, b'{"error": "no such payment"}')
                else:
                    self._send(200, json.dumps(payment).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:  # noqa: N802
            if urlparse(self.path).path != "/checkout/pay":
                self._send(404, b'{"error": "not found"}')
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            try:
                amount = int(form["amount"])
                order, ret = form["order"], form["return"]
            except (KeyError, ValueError):
                self._send(400, b'{"error": "order, amount and return are required"}')
                return
            payment = ledger.pay(order, amount, form.get("card", ""))
            location = ret + ("&" if "?" in ret else "?") + urlencode({"order": order, "payment": payment["payment"]})
            self._send(303, json.dumps(payment).encode(), headers={"Location": location})

    return Handler
