"""A passenger's way online through the DUT's captive portal, as the DUT profile declares it
(bench.devices.profile): the phone's connectivity check, the free tier's steps, each package's
purchase. One procedure for every user of it: the bench's emulated passengers (Passenger), the
Locust passengers (loadgen), the nightly, certification and repro suites.

The journey never looks at what the portal says about the passenger beyond the answers the
profile tells it to expect: whether the passenger is online is the connectivity check's answer,
which comes from the bench's ground once the DUT lets the passenger out.

    journey = journey_for(lab_config.profile)
    journey.go_online(send, package="unlimited-trip", values={"mac": ..., "ip": ...})

`send(step, method, url, body, headers, ok) -> Reply` makes one HTTP request without following
redirects (each user brings its own: plain sockets in a namespace, Locust's client); `ok` are
the statuses the step expects, for a transport that records successes and failures.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import parse_qs, urlencode, urlparse

from bench.devices.profile import DutProfile, Expect, HttpStep, PortalProfile
from bench.errors import BenchError

ACCEPTED_CARD = "4242424242424242"  # the ground's payment provider pays with any card but this one:
DECLINED_CARD = "4000000000000002"  # (bench.ground.payment)
ONLINE_CHECK_S = 3.0  # after the last step, how long the check may take to say "online"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


Send = Callable[[str, str, str, "bytes | None", dict[str, str], Sequence[int]], Reply]


class JourneyError(BenchError):
    """A step of the journey got an answer the profile does not expect."""


@dataclass(frozen=True)
class Check:
    state: Literal["online", "captive"]
    status: int
    location: str  # where a captive check was sent ("" when online)


@dataclass
class Online:
    """What it took to get online."""

    package: str | None
    seconds: float
    steps: list[tuple[str, int, float]] = field(default_factory=list)  # (step, status, seconds)
    already: bool = False  # the first check said online: nothing to do


class Journey(Protocol):
    """What a journey plugin implements (`portal.journey: module:Class`, built with the profile)."""

    def check(self, send: Send) -> Check: ...

    def go_online(self, send: Send, *, package: str | None = None, card: str = ACCEPTED_CARD,
                  values: dict[str, str] | None = None) -> Online: ...


def _matches(expect: Expect, reply: Reply) -> str | None:
    """None when the reply is what `expect` says, else what differs."""
    if reply.status not in expect.status:
        return f"HTTP {reply.status}, expected {' or '.join(map(str, expect.status))}"
    if expect.location is not None and not re.search(expect.location, reply.headers.get("location", "")):
        return f"Location {reply.headers.get('location', '(none)')!r} does not match {expect.location!r}"
    if expect.body_contains is not None and expect.body_contains.encode() not in reply.body:
        return f"the body does not contain {expect.body_contains!r}"
    return None


Where = Callable[[tuple[str | int, ...]], str]  # a place in the profile -> "FILE:LINE: FIELD"


class DeclaredJourney:
    """The journey the profile's steps describe."""

    def __init__(self, portal: PortalProfile, source: str = "DUT profile", where: Where | None = None) -> None:
        self.portal = portal
        self.source = source
        self._where = where or (lambda loc: f"{source}: {'.'.join(str(p) for p in loc)}")

    # -- the check ------------------------------------------------------------------------------
    def check(self, send: Send) -> Check:
        d = self.portal.detect
        reply = send("captive check", "GET", d.url, None, {}, [*d.online.status, *d.captive.status])
        if _matches(d.online, reply) is None:
            return Check("online", reply.status, "")
        wrong = _matches(d.captive, reply)
        if wrong is None:
            return Check("captive", reply.status, reply.headers.get("location", ""))
        raise JourneyError(f"the captive check {d.url} got neither the online nor the captive answer: {wrong}; "
                           f"online: {_describe(d.online)}", where=self._where(("portal", "detect")),
                           fix="is the DUT's portal what the profile describes? (or the passenger not on its LAN)")

    # -- getting online -------------------------------------------------------------------------
    def go_online(self, send: Send, *, package: str | None = None, card: str = ACCEPTED_CARD,
                  values: dict[str, str] | None = None) -> Online:
        start = time.monotonic()
        first = self.check(send)
        if first.state == "online":
            return Online(package, time.monotonic() - start, already=True)
        if package is None:
            steps, where = self.portal.accept, ("portal", "accept")
            if not steps:
                raise JourneyError("the profile has no free-tier steps", where=self._where(where),
                                   fix="list the steps that accept the free tier, or buy a package")
        else:
            spec = self.portal.packages.get(package)
            if spec is None:
                raise JourneyError(f"the profile sells no package {package!r}", where=self._where(("portal", "packages")),
                                   fix=f"use one of: {', '.join(self.portal.packages) or 'none'}")
            steps, where = spec.steps, ("portal", "packages", package, "steps")
        known = {"portal": first.location, "card": card, "package": package or "", **(values or {})}
        done = self.run(send, steps, known, where)
        self.wait_online(send, where)
        return Online(package, time.monotonic() - start, done)

    def run(self, send: Send, steps: list[HttpStep], values: dict[str, str], where: tuple[str | int, ...]) -> list[tuple[str, int, float]]:
        """Run steps in order; each must get its expected answer. Returns (name, status, seconds)."""
        done = []
        for i, step in enumerate(steps):
            url = _fill(step.url, values)
            body = urlencode({k: _fill(v, values) for k, v in step.form.items()}).encode() if step.form is not None else None
            headers = {k: _fill(v, values) for k, v in step.headers.items()}
            if body is not None:
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            t0 = time.monotonic()
            reply = send(step.name, step.method, url, body, headers, step.expect.status)
            done.append((step.name, reply.status, time.monotonic() - t0))
            wrong = _matches(step.expect, reply)
            if wrong is not None:
                raise JourneyError(f"step {step.name!r} ({step.method} {url}): {wrong}: {reply.body[:200]!r}",
                                   where=self._where((*where, i)),
                                   fix="does the DUT's portal still work as the profile describes it?")
            for name, how in step.extract.items():
                values[name] = _extract(how, reply, values, self._where((*where, i, "extract", name)))
        return done

    def wait_online(self, send: Send, where: tuple[str | int, ...]) -> None:
        deadline = time.monotonic() + ONLINE_CHECK_S
        while True:
            check = self.check(send)
            if check.state == "online":
                return
            if time.monotonic() > deadline:
                raise JourneyError(f"every step got its expected answer, but the captive check still says captive "
                                   f"(HTTP {check.status} to {check.location!r})",
                                   where=self._where(where), fix="the DUT did not let the passenger out: see its portal log")
            time.sleep(0.2)


def _describe(expect: Expect) -> str:
    return f"HTTP {' or '.join(map(str, expect.status))}" + (f", Location ~ {expect.location!r}" if expect.location else "")


def _fill(text: str, values: dict[str, str]) -> str:
    try:
        return text.format_map(values)
    except KeyError as exc:  # the profile check makes this rare: a plugin's own values, say
        raise JourneyError(f"{text!r} uses {{{exc.args[0]}}}, which no earlier step extracted") from None


def _extract(how: object, reply: Reply, values: dict[str, str], where: str) -> str:
    import json

    from bench.devices.profile import Extract

    assert isinstance(how, Extract)
    try:
        if how.json_field is not None:
            value = json.loads(reply.body)[how.json_field]
        elif how.header is not None:
            value = reply.headers[how.header.lower()]
        elif how.body_regex is not None:
            match = re.search(how.body_regex, reply.body.decode(errors="replace"))
            if match is None:
                raise KeyError(how.body_regex)
            value = match.group(1) if match.groups() else match.group(0)
        else:
            assert how.query_of is not None and how.param is not None
            value = parse_qs(urlparse(values[how.query_of]).query)[how.param][0]
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise JourneyError(f"the answer has no value to extract ({type(exc).__name__}: {exc}): {reply.body[:200]!r}",
                           where=where, fix="does the DUT's portal still answer as the profile describes it?") from None
    return str(value)


def journey_for(profile: DutProfile) -> Journey:
    """The profile's journey: its plugin class when it names one, else its declared steps."""
    return journey_for_portal(profile.portal, profile.source, profile.where)


def journey_for_portal(portal: PortalProfile, source: str = "DUT profile", where: Where | None = None) -> Journey:
    if portal.journey:
        module, _, name = portal.journey.partition(":")
        cls = getattr(importlib.import_module(module), name)
        return cls(portal)  # type: ignore[no-any-return]
    return DeclaredJourney(portal, source, where)
