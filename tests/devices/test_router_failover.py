"""Failover and failback of the reference router, timed against the configured detection time."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from bench.devices.reference import ReferenceRouter
from bench.traffic.passenger import Passenger
from bench.lab import netns
from bench.lab.lab import Lab
from tests.devices.router_helpers import router  # noqa: F401 - fixture

pytestmark = pytest.mark.lab
# Slack on top of the configured times: two cores shared with the link engines and other tests.
SCHEDULING_SLACK_S = 1.0


class PathWatcher:
    """A new UDP flow from the passengers' probe client every 50 ms to the ground's whoami echo:
    which WAN address did the ground see, when."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.seen: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2)
                try:
                    s.sendto(b"where", ("198.19.0.1", 7070))
                    self.seen.append((time.time(), s.recv(256).decode().rsplit(" ", 1)[1]))
                except OSError:
                    self.seen.append((time.time(), None))
            self._stop.wait(0.05)

    def first(self, address: str, after: float) -> float | None:
        return next((t for t, a in self.seen if t >= after and a == address), None)

    def __enter__(self) -> PathWatcher:
        self._thread = netns.start_in(self.lab.ns("passengers"), self._run)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def test_outage_moves_traffic_to_the_next_wan_and_back(lab: Lab, router: ReferenceRouter) -> None:
    health = router.config.health
    status = router.wait_for("oneweb active and every WAN up",
                             lambda s: s["active"]["passengers"] == "oneweb" and all(w["state"] == "up" for w in s["wans"].values()) and s, 15)
    oneweb, starlink = status["wans"]["oneweb"]["address"], status["wans"]["starlink"]["address"]
    link = lab.link("oneweb")
    with Passenger(lab, "failover") as p, PathWatcher(lab) as watch:
        p.connect()
        assert p.http("POST", "http://portal.skybench.test/api/accept", body="")[0] == 200
        time.sleep(0.5)
        try:
            t_down = time.time()
            link.outage(True)
            switched = router.wait_for("failover to starlink", lambda s: next(
                (e for e in s["switches"] if e["time"] >= t_down and e["class"] == "passengers"), None), health.detection_s + 10)
            time.sleep(1.0)
            # The passenger's session lives on: still out through the portal, on the new WAN.
            t = p.download(seconds=1.0)
            session = [s for s in router.status()["sessions"] if s["mac"] == p.mac]
        finally:
            t_up = time.time()
            link.outage(False)
        back = router.wait_for("failback to oneweb", lambda s: next(
            (e for e in s["switches"] if e["time"] >= t_up and e["class"] == "passengers"), None),
            health.up_after * health.interval_s + health.failback_hold_s + 10)
        time.sleep(0.5)
    detection = switched["time"] - t_down
    moved = watch.first(starlink, t_down)
    returned = watch.first(oneweb, t_up)
    failback = back["time"] - t_up
    switches = [e for e in router.status()["switches"] if e["time"] >= t_down]
    print(f"failover: declared after {detection:.2f} s (configured detection {health.detection_s:.2f} s), "
          f"new flows on starlink after {moved - t_down:.2f} s; failback after {failback:.2f} s "
          f"(up_after {health.up_after} x {health.interval_s} s + hold {health.failback_hold_s} s), "
          f"new flows on oneweb after {returned - t_up:.2f} s")
    assert switched["to"] == "starlink" and switched["reason"] == "failover"
    assert detection <= health.detection_s + SCHEDULING_SLACK_S
    assert moved is not None and moved - t_down <= health.detection_s + SCHEDULING_SLACK_S + 0.5
    assert back["to"] == "oneweb" and back["reason"] == "failback"
    assert health.failback_hold_s <= failback <= health.failback_hold_s + health.up_after * health.interval_s + health.timeout_s + SCHEDULING_SLACK_S
    assert returned is not None
    # One switch each way per class, no flapping.
    for tc in ("passengers", "ops"):
        assert [(e["from"], e["to"]) for e in switches if e["class"] == tc] == [("oneweb", "starlink"), ("starlink", "oneweb")]
    assert session and session[0]["tier"] == "free" and t.bytes > 0


def test_every_change_is_in_the_event_log(lab: Lab, router: ReferenceRouter) -> None:
    assert router.plan is not None
    lines = [json.loads(line) for line in router.plan.state_log.read_text().splitlines()]
    # The log opens with the daemon's start (after a note on the flash it found, if any).
    assert "started" in [e["event"] for e in lines[:2]]
    assert all(isinstance(e["time"], float) for e in lines)
    since = router.events(since=lines[-1]["time"])
    assert since and since[-1] == lines[-1]


def test_a_slow_configuration_detects_later(lab: Lab) -> None:
    """The thresholds in router.yaml are what the router does: 8 misses at 0.3 s take longer."""
    from tests.devices.router_helpers import TEST_CONFIG, router_with

    slow = TEST_CONFIG.override({"health": {"down_after": 8}})
    router = router_with(lab, slow)
    try:
        router.wait_for("all up", lambda s: all(w["state"] == "up" for w in s["wans"].values()) and s["active"]["passengers"] == "oneweb", 15)
        link = lab.link("oneweb")
        t_down = time.time()
        link.outage(True)
        try:
            switched = router.wait_for("failover", lambda s: next((e for e in s["switches"] if e["time"] >= t_down), None), slow.health.detection_s + 10)
        finally:
            link.outage(False)
        detection = switched["time"] - t_down
        print(f"down_after 8: declared after {detection:.2f} s (configured {slow.health.detection_s:.2f} s)")
        assert (slow.health.down_after - 1) * slow.health.interval_s <= detection <= slow.health.detection_s + SCHEDULING_SLACK_S
    finally:
        router_with(lab, TEST_CONFIG)
