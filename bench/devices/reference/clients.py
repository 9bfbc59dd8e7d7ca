"""What a passenger does at the reference router's portal, and the arithmetic the tests and suites
share: accept the free tier, buy a package through the payment provider, make sure the router runs
a given configuration, and rates from transfer samples.

Moved here from tests/devices/router_helpers.py so the nightly suites (scenarios/) and the
router's own tests use the same purchase flow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from bench.devices.reference.config import RouterConfig
from bench.devices.reference.passenger import Passenger
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.devices.reference.router import ReferenceRouter
    from bench.lab.lab import Lab

PORTAL = "http://portal.skybench.test"
PAY = "pay.skybench.test"
GOOD_CARD = "4242424242424242"


def accept_terms(p: Passenger) -> dict[str, Any]:
    """The free tier: accept the portal's terms; returns the session the portal reports."""
    status, _, body = p.http("POST", f"{PORTAL}/api/accept", body="")
    if status != 200:
        raise BenchError(f"the portal refused the terms: HTTP {status} {body[:200]!r}", where=p.name)
    return json.loads(body)


def buy(p: Passenger, package: str, card: str = GOOD_CARD) -> tuple[int, dict[str, Any]]:
    """The whole purchase: order at the portal, pay at the provider, come back to the portal.
    Returns the portal's final status and JSON body (200 and the session when granted)."""
    status, _, body = p.http("POST", f"{PORTAL}/api/buy", body=f"package={package}")
    if status != 200:
        raise BenchError(f"the portal refused to sell {package!r}: HTTP {status} {body[:200]!r}", where=p.name)
    checkout = urlparse(json.loads(body)["checkout_url"])
    if checkout.hostname != PAY:
        raise BenchError(f"checkout sent to {checkout.hostname!r}, expected {PAY}", where=p.name)
    q = {k: v[0] for k, v in parse_qs(checkout.query).items()}
    form = f"order={q['order']}&amount={q['amount']}&return={q['return']}&card={card}"
    status, headers, body = p.http("POST", f"http://{PAY}/checkout/pay", body=form)
    if status != 303:
        raise BenchError(f"the payment provider answered HTTP {status}, expected a 303 back to the portal: {body[:200]!r}", where=p.name)
    status, _, body = p.http("GET", headers["location"])
    return status, json.loads(body)


def whole_trip(p: Passenger, package: str = "unlimited-trip") -> dict[str, Any]:
    """Connect (DHCP) and buy the whole-trip package: a passenger no portal cap applies to."""
    if p.lease is None:
        p.connect()
    status, session = buy(p, package)
    if status != 200 or session.get("tier") != "unlimited":
        raise BenchError(f"buying {package!r} did not give an unlimited session: HTTP {status} {session}", where=p.name)
    return session


def running(lab: Lab, config: RouterConfig) -> ReferenceRouter:
    """The lab's reference router running `config` (restarted only when it runs another one)."""
    router: ReferenceRouter | None = lab.router
    if router is None:
        raise BenchError("the lab's DUT is not the embedded reference router", fix="use the embedded lab (dut.driver: embedded)")
    if router.config != config or router.plan is None:
        router.restart(config)
    return router


def rate_bps(samples: list[tuple[float, int, int, int]], t0: float, t1: float, column: int = 1) -> float:
    """Bits/s of a sample column between two elapsed times (1 payload, 2 IP, 3 Ethernet)."""
    window = [s for s in samples if t0 <= s[0] <= t1]
    if len(window) < 2:
        raise BenchError(f"fewer than two samples between {t0} s and {t1} s")
    first, last = window[0], window[-1]
    return (last[column] - first[column]) * 8 / (last[0] - first[0])


def free_tier_rates(lab: Lab, seconds: float, name: str = "free") -> tuple[float, float, dict[str, Any]]:
    """A new passenger on the free tier downloads for `seconds`: its rate on the wire (Ethernet
    bytes: what the cap is configured in and HTB counts) and as payload, from second 1 on (after
    the HTB bucket's burst and TCP's start), in bit/s, and the session the portal gave it."""
    with Passenger(lab, name) as p:
        p.connect()
        session = accept_terms(p)
        samples: list[tuple[float, int, int, int]] = []
        p.download(seconds=seconds, samples=samples)
    return rate_bps(samples, 1.0, seconds, column=3), rate_bps(samples, 1.0, seconds, column=1), session
