"""The base of every user class: one LAN client per user, its sockets bound to that client,
the captive portal passed on the way in, and helpers that record figures."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import gevent
import gevent.ssl
from locust import FastHttpUser
from locust.exception import StopUser

from bench.traffic.journey import ACCEPTED_CARD, Journey, JourneyError, Reply, journey_for_portal

from loadgen.lan import LanClient
from loadgen.net import ClientPool, Resolver
from loadgen.users import USER_CLASSES
from loadgen.users import runtime as rt

TEST_CARD = ACCEPTED_CARD
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

    def _journey_send(self, step: str, method: str, url: str, body: bytes | None, headers: dict[str, str],
                      ok: Sequence[int]) -> Reply:
        """One step of the portal journey as a Locust request "<class>: <step>", retried when a
        busy portal does not answer in time (a phone does the same), PORTAL_ATTEMPTS times at
        most. Every connection is dropped afterwards: a captive check's keep-alive connection
        stays redirected to the portal for as long as it lives (phones check on a new one)."""
        status, reply_headers, content, error = 0, {}, b"", ""
        for attempt in range(PORTAL_ATTEMPTS):
            with self.client.request(method, url, data=body, headers=headers, allow_redirects=False,
                                     name=f"{self.class_name}: {step}", catch_response=True) as r:
                status, error = r.status_code, str(getattr(r, "error", None) or "")
                reply_headers = {k.lower(): v for k, v in (r.headers or {}).items()}
                content = r.content or b""
                if status in ok:
                    r.success()
                else:
                    r.failure(f"{self.who}: {step}: {status or error}, expected {' or '.join(map(str, ok))}")
            self.client.client.clientpool.close()
            if status != 0 or attempt + 1 == PORTAL_ATTEMPTS:
                break
            gevent.sleep(random.uniform(1, 3))
        if status == 0:
            raise OSError(f"{step}: {method} {url}: {error or 'no answer'}")
        return Reply(status, reply_headers, content)

    def journey(self) -> Journey | None:
        """The DUT's portal journey (None: no DUT, the load benchmark's loopback baseline)."""
        assert rt.runtime is not None
        portal = rt.runtime.plan.portal
        return None if portal is None else journey_for_portal(portal, rt.runtime.plan.portal_source)

    def portal_login(self, package: str | None) -> None:
        """Through the DUT's captive portal as its profile describes: the captive check, then the
        free tier's steps or `package`'s purchase. Records portal_login_s (check to online)."""
        assert self.lan is not None
        journey = self.journey()
        if journey is None:
            return
        try:
            online = journey.go_online(self._journey_send, package=package, card=TEST_CARD,
                                              values={"mac": self.lan.mac, "ip": self.lan.ip})
        except (JourneyError, OSError) as exc:
            self.fail_user(f"could not get online through the portal: {exc}")
            return
        if not online.already:
            self.quality("portal_login_s", online.seconds)
            if package:
                self.quality("purchase_s", online.seconds)

    def captive_check(self) -> str:
        """The phone's periodic connectivity check: "online" or "captive"."""
        journey = self.journey()
        return "online" if journey is None else journey.check(self._journey_send).state
