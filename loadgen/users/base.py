"""The base of every user class: one LAN client per user, its sockets bound to that client,
the captive portal passed on the way in, and helpers that record figures."""

from __future__ import annotations

import json
import random
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import gevent
import gevent.ssl
from locust import FastHttpUser
from locust.exception import StopUser

from loadgen.lan import LanClient
from loadgen.net import ClientPool, Resolver
from loadgen.users import USER_CLASSES
from loadgen.users import runtime as rt

TEST_CARD = "4242424242424242"
PORTAL_ATTEMPTS = 4


def _ca_context(**_: Any) -> gevent.ssl.SSLContext:
    assert rt.runtime is not None
    return gevent.ssl.create_default_context(cafile=rt.runtime.plan.ca_file)


class LanUser(FastHttpUser):
    abstract = True
    class_name = ""  # the name profiles use (loadgen.users.USER_CLASSES)
    host = "http://www.skybench.test"
    insecure = False
    ssl_context_factory = staticmethod(_ca_context)
    concurrency = 8
    max_retries = 0
    options: dict[str, Any] = {}

    def __init__(self, environment: Any) -> None:
        assert rt.runtime is not None
        self.network_timeout = self.connection_timeout = rt.runtime.plan.request_timeout_s
        super().__init__(environment)
        self.lan: LanClient | None = None
        self.domain = rt.runtime.plan.domain

    # -- identity -------------------------------------------------------------------------------
    @property
    def who(self) -> str:
        return f"{self.lan.name} ({self.lan.ip}, {self.lan.mac})" if self.lan else f"a {self.class_name} user without a client"

    def context(self) -> dict[str, Any]:
        return {"cls": self.class_name, "client": self.lan.name if self.lan else ""}

    def url(self, service: str, path: str, scheme: str = "http") -> str:
        return f"{scheme}://{service}.{self.domain}{path}"

    # -- life -----------------------------------------------------------------------------------
    def on_start(self) -> None:
        assert rt.runtime is not None
        kind = USER_CLASSES[self.class_name].kind
        self.lan = rt.runtime.take_client(kind)
        if self.lan is None:
            self.fail_user(f"no free {kind} client for a {self.class_name} user: the run leased fewer {kind} clients than it started users")
        self.resolver = Resolver(self.lan, rt.runtime.plan.hosts)
        old = self.client.client.clientpool
        self.client.client.clientpool = ClientPool(self.lan, self.resolver, **old.client_args)
        self.join()

    def join(self) -> None:
        """What the device does when it joins the LAN (passengers: the portal)."""

    def fail_user(self, what: str) -> None:
        """Record an error naming this user's client and stop the user (not the run)."""
        assert rt.runtime is not None
        rt.runtime.error(self.class_name, self.lan.name if self.lan else "", f"{self.who}: {what}")
        self.fire("error", 0.0, 0, RuntimeError(f"{self.who}: {what}"))
        raise StopUser()

    # -- recording ------------------------------------------------------------------------------
    def fire(self, name: str, ms: float, length: int, exception: Exception | None = None, kind: str = "UDP") -> None:
        self.environment.events.request.fire(request_type=kind, name=f"{self.class_name}: {name}", response_time=ms,
                                             response_length=length, exception=exception, context=self.context(), response=None)

    def quality(self, metric: str, value: float) -> None:
        assert rt.runtime is not None
        rt.runtime.recorder.quality(self.class_name, self.lan.name if self.lan else "", metric, value)


class PassengerUser(LanUser):
    abstract = True

    def join(self) -> None:
        self.portal_login(self.options.get("package"))

    def _retrying(self, method: str, url: str, step: str, expect: int, **kw: Any) -> tuple[int, str, str]:
        """One portal request, retried when a busy portal does not answer in time (a phone
        does the same); bounded by PORTAL_ATTEMPTS x the request timeout. Returns (status,
        Location, error); each attempt is recorded (a timed-out attempt as a failure)."""
        status, location, error = 0, "", ""
        for attempt in range(PORTAL_ATTEMPTS):
            with self.client.request(method, url, name=f"{self.class_name}: {step}", catch_response=True, **kw) as r:
                status, error = r.status_code, str(getattr(r, 'error', None) or "")
                location = (r.headers.get("Location", "") if r.headers else "") or ""
                if status == expect or (step == "portal detect" and status == 200):
                    r.success()
                else:
                    r.failure(f"{self.who}: {step}: {status or error}, expected {expect}")
            if status != 0 or attempt + 1 == PORTAL_ATTEMPTS:
                break
            gevent.sleep(random.uniform(1, 3))
        return status, location, error

    def portal_login(self, package: str | None) -> None:
        """Detect the captive portal, accept the terms, buy `package` (None: the free tier)."""
        start = time.monotonic()
        probe = self.url("www", "/")
        status, location, error = self._retrying("GET", probe, "portal detect", 302, allow_redirects=False)
        if status == 200:
            return  # already online (the router remembers this MAC and address)
        if status != 302 or f"portal.{self.domain}" not in location:
            self.fail_user(f"the captive portal is unreachable: {probe} gave {status or error}, expected a 302 to http://portal.{self.domain}/")
        portal = f"http://portal.{self.domain}"
        self.client.get(portal + "/", name=f"{self.class_name}: portal page")
        status, _, error = self._retrying("POST", portal + "/api/accept", "portal accept", 200)
        if status != 200:
            self.fail_user(f"the portal did not accept the terms: {status or error}, expected 200")
        self.quality("portal_login_s", time.monotonic() - start)
        # The detection's keep-alive connection to www is NATed to the portal for as long as it
        # lives: drop every connection so the next requests reach the real servers (browsers
        # reconnect after a captive portal the same way).
        self.client.client.clientpool.close()
        if package:
            self.buy(package)

    def buy(self, package: str) -> None:
        start = time.monotonic()
        portal = f"http://portal.{self.domain}"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        with self.client.post(portal + "/api/buy", data=f"package={package}", headers=form, name=f"{self.class_name}: portal buy",
                              catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{self.who}: buying {package}: {r.status_code or getattr(r, 'error', None)}")
                self.fail_user(f"the portal refused the purchase of {package!r}: {r.status_code} {r.text[:200] if r.text else getattr(r, 'error', None)}")
            checkout = urlparse(json.loads(r.text)["checkout_url"])
        q = {k: v[0] for k, v in parse_qs(checkout.query).items()}
        body = f"order={q['order']}&amount={q['amount']}&return={q['return']}&card={TEST_CARD}"
        with self.client.post(f"http://{checkout.hostname}/checkout/pay", data=body, headers=form, allow_redirects=False,
                              name=f"{self.class_name}: pay", catch_response=True) as r:
            back = r.headers.get("Location", "") if r.headers else ""
            if r.status_code != 303 or not back:
                r.failure(f"{self.who}: payment: {r.status_code or getattr(r, 'error', None)}")
                self.fail_user(f"the payment provider did not send the passenger back: {r.status_code or getattr(r, 'error', None)}")
            r.success()
        with self.client.get(back, name=f"{self.class_name}: payment return", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{self.who}: package {package} not granted: {r.status_code}")
                self.fail_user(f"the portal did not grant {package!r} after payment: {r.status_code}")
        self.quality("purchase_s", time.monotonic() - start)
