"""The embedded lab's emulated terminals: the unmodified starlink-grpc-core client reads the emulated
dish from the router's namespace, and what the terminals report agrees with what the router meets
on the wire through the same sky link."""

from __future__ import annotations

import json
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from bench.devices.drivers.factory import terminal_driver
from bench.devices.protocols import TerminalState
from bench.devices.terminals import TerminalServices, start_terminal_services
from bench.devices.terminals.derive import PROCESSING_RTT_MS
from bench.lab import netns
from bench.lab.lab import Lab
from bench.lab.reach import EchoServer, udp_echo_rtts

pytestmark = pytest.mark.lab
T = TypeVar("T")

STARLINK_PROBE = "198.19.255.2"  # the ground target reachable only through the starlink WAN

# The unmodified client, in a process inside the router's namespace (so every socket gRPC opens
# is there): it gets the dish's descriptors by reflection and reads get_status.
CLIENT = """
import json, sys, starlink_grpc
context = starlink_grpc.ChannelContext(target=sys.argv[1])
status, obstruction, alerts = starlink_grpc.status_data(context)
print(json.dumps({"status": status, "obstruction": obstruction, "alerts": alerts}))
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if __import__("os").geteuid() != 0:
        pytest.skip("needs root to build the embedded lab")
    with Lab() as built:
        yield built


@pytest.fixture(scope="module")
def terminals(lab: Lab) -> Iterator[TerminalServices]:
    with start_terminal_services(lab, period_s=0.2, boot_s=1.5) as services:
        yield services


@pytest.fixture(autouse=True)
def clean_links(lab: Lab) -> Iterator[None]:
    yield
    for name in lab.links:
        lab.link(name).set_direction("uplink", delay="0ms", loss="0%")
        lab.link(name).set_direction("downlink", delay="0ms", loss="0%")
        lab.link(name).outage(False)


def read_dish(lab: Lab, terminals: TerminalServices) -> dict[str, Any]:
    address, port, _ = terminals.endpoint("starlink")
    proc = netns.run(lab.ns("router"), [sys.executable, "-c", CLIENT, f"{address}:{port}"], timeout=60)
    return json.loads(proc.stdout)


def eventually(read: Callable[[], T], ok: Callable[[T], bool], timeout_s: float = 10.0) -> T:
    """Read until ok(value) (the feed updates every 0.2 s); the last value is returned either way."""
    deadline = time.monotonic() + timeout_s
    value = read()
    while not ok(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def test_unmodified_starlink_client_reads_the_emulated_dish(lab: Lab, terminals: TerminalServices) -> None:
    first = read_dish(lab, terminals)["status"]
    assert first["state"] == "CONNECTED"
    assert first["pop_ping_latency_ms"] == pytest.approx(PROCESSING_RTT_MS["starlink"])
    assert first["pop_ping_drop_rate"] == 0.0 and first["currently_obstructed"] is False
    assert first["id"] == f"ut-{lab.prefix}-starlink"

    link = lab.link("starlink")
    link.set_direction("uplink", delay="20ms", loss="10%")
    link.set_direction("downlink", delay="25ms")
    status = eventually(lambda: read_dish(lab, terminals)["status"],
                        lambda s: s["pop_ping_latency_ms"] > 40)
    assert status["pop_ping_latency_ms"] == pytest.approx(20 + 25 + PROCESSING_RTT_MS["starlink"], abs=0.01)
    assert status["pop_ping_drop_rate"] == pytest.approx(0.10, abs=1e-6)

    link.outage(True)
    status = eventually(lambda: read_dish(lab, terminals)["status"], lambda s: s["state"] != "CONNECTED")
    assert status["state"] == "OBSTRUCTED" and status["currently_obstructed"] is True
    assert status["pop_ping_drop_rate"] == 1.0
    link.outage(False)
    status = eventually(lambda: read_dish(lab, terminals)["status"], lambda s: s["state"] == "CONNECTED")
    assert status["state"] == "CONNECTED" and status["fraction_obstructed"] > 0


def test_terminal_and_wire_agree_on_latency_and_loss(lab: Lab, terminals: TerminalServices) -> None:
    """The router's own probes through the starlink WAN meet what the dish reports."""
    link = lab.link("starlink")
    link.set_direction("uplink", delay="30ms", loss="20%")
    link.set_direction("downlink", delay="30ms")
    with terminal_driver(lab.config, "starlink", embedded=lab) as dish:
        reported = eventually(dish.status, lambda s: (s.latency_ms or 0) > 50)
        with EchoServer(lab.ns("ground"), STARLINK_PROBE):
            rtts = udp_echo_rtts(lab.ns("router"), STARLINK_PROBE, count=300, interval_s=0.002, timeout_s=1.0)
    answered = [r for r in rtts if r is not None]
    wire_loss = 1 - len(answered) / len(rtts)
    wire_rtt_ms = statistics.median(answered) * 1000
    print(f"\nstarlink: dish says {reported.latency_ms:.1f} ms / {reported.drop_rate:.3f} loss; "
          f"wire: {wire_rtt_ms:.1f} ms median / {wire_loss:.3f} loss over {len(rtts)} probes")
    assert reported.state is TerminalState.CONNECTED
    assert abs(wire_rtt_ms - reported.latency_ms) < 15  # the wire adds only the veths and the LAN hop
    # 300 probes at p=0.2: standard deviation 0.023; 0.09 is about four of them.
    assert abs(wire_loss - reported.drop_rate) < 0.09


def test_throughput_follows_the_traffic(lab: Lab, terminals: TerminalServices) -> None:
    stop = threading.Event()

    def blast() -> None:
        payload = b"x" * 1200
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not stop.is_set():
                for _ in range(5):
                    s.sendto(payload, (STARLINK_PROBE, 7007))
                time.sleep(0.01)  # about 5 x 1200 B per 10 ms: 4.6 Mbit/s each way (the sleep is at least 10 ms)

    with terminal_driver(lab.config, "starlink", embedded=lab) as dish, \
            EchoServer(lab.ns("ground"), STARLINK_PROBE):
        sender = netns.start_in(lab.ns("router"), blast)
        try:
            seen = [dish.throughput() for _ in range(8) if not time.sleep(0.25)]
        finally:
            stop.set()
            sender.join(timeout=5)
        quiet = eventually(dish.throughput, lambda t: t.uplink_bps < 100_000, timeout_s=5)
    # The first readings may cover the time before the traffic started; the median does not.
    up = statistics.median(t.uplink_bps for t in seen[2:])
    down = statistics.median(t.downlink_bps for t in seen[2:])
    print(f"\nstarlink throughput under a ~4.6 Mbit/s UDP echo: up {up / 1e6:.2f} Mbit/s, "
          f"down {down / 1e6:.2f} Mbit/s (medians); after: up {quiet.uplink_bps / 1e3:.1f} kbit/s")
    assert 1e6 < up < 12e6 and 1e6 < down < 12e6
    assert quiet.uplink_bps < 100_000


def test_oneweb_over_http_and_reboot(lab: Lab, terminals: TerminalServices) -> None:
    with terminal_driver(lab.config, "oneweb", embedded=lab) as oneweb:
        assert oneweb.state() is TerminalState.CONNECTED
        lab.link("oneweb").set_direction("downlink", delay="60ms")
        assert eventually(oneweb.latency_ms, lambda v: (v or 0) > 60) == pytest.approx(
            60 + PROCESSING_RTT_MS["oneweb"])
        before = oneweb.uptime_s()
        oneweb.reboot()
        assert eventually(oneweb.state, lambda s: s is TerminalState.BOOTING) is TerminalState.BOOTING
        assert lab.link("oneweb").spec.uplink.outage  # the terminal's link is down while it boots
        assert eventually(oneweb.state, lambda s: s is TerminalState.CONNECTED) is TerminalState.CONNECTED
        assert not lab.link("oneweb").spec.uplink.outage
        assert oneweb.uptime_s() <= max(before, 3)
    with terminal_driver(lab.config, "lte", embedded=lab) as lte:
        lab.link("lte").outage(True)
        assert eventually(lte.state, lambda s: s is TerminalState.SEARCHING) is TerminalState.SEARCHING
    assert not terminals.feed_errors
