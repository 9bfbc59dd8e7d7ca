"""`skybench link show|set` on a real lab, from ANOTHER process (the CLI runs as a subprocess).

The lab is owned by this test process; the CLI finds it through its ledger and attaches to the
links (userspace engines' control sockets, or netem qdiscs), so what is checked here is the real
path an engineer uses on `skybench lab up --detach`: the RTT through the WAN follows the set
delay, --down stops traffic, --up restores it, and `link show` reports it all.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench.lab.lab import Lab
from bench.lab.reach import EchoServer, udp_echo_rtts
from bench.link.lab_links import link_change_log

pytestmark = pytest.mark.lab

WAN = "starlink"
ECHO_PORT = 7011


@pytest.fixture(scope="module")
def running_lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root to build a lab")
    from bench.lab.labfile import load_lab

    lab = Lab(load_lab(None)).up()
    try:
        wan = next(w for w in lab.plan.wans if w.name == WAN)
        echo = EchoServer(lab.ns("ground"), str(wan.addresses.probe_target), port=ECHO_PORT).start()
        try:
            yield lab
        finally:
            echo.stop()
    finally:
        lab.down()
    assert not link_change_log(lab.ledger).exists()  # the change log goes with the lab


def skybench(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "bench.cli", *args, "--lab-prefix", lab.prefix],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, f"skybench {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def rtts_ms(lab: Lab, count: int = 30) -> list[float | None]:
    wan = next(w for w in lab.plan.wans if w.name == WAN)
    found = udp_echo_rtts(lab.ns("router"), str(wan.addresses.probe_target), ECHO_PORT, count=count,
                          interval_s=0.01, timeout_s=1.0, source=str(wan.addresses.router.ip))
    return [None if r is None else r * 1000 for r in found]


def show(lab: Lab) -> dict:  # type: ignore[type-arg]
    return json.loads(skybench(lab, "link", "show", "--json").stdout)


def test_set_delay_changes_the_rtt_through_that_wan(running_lab: Lab) -> None:
    base = [r for r in rtts_ms(running_lab) if r is not None]
    assert len(base) >= 28
    skybench(running_lab, "link", "set", WAN, "--direction", "uplink", "--delay", "30ms")
    skybench(running_lab, "link", "set", WAN, "--direction", "downlink", "--delay", "10ms", "--rate", "50mbit")
    slowed = [r for r in rtts_ms(running_lab) if r is not None]
    assert len(slowed) >= 28
    # 30 ms up + 10 ms down on top of the unimpaired path.
    assert statistics.median(slowed) - statistics.median(base) == pytest.approx(40, abs=4)
    state = show(running_lab)["links"][WAN]
    assert state["impairment"]["uplink"]["delay_ms"] == 30
    assert state["impairment"]["downlink"]["delay_ms"] == 10
    assert state["impairment"]["downlink"]["rate_bps"] == 50_000_000
    assert state["backend"] == running_lab.link(WAN).backend_name
    # The lab's own handle sees the same link: the change acted on the engine / qdisc itself.
    assert running_lab.link(WAN).backend.current().uplink.delay_ms == 30


def test_down_stops_traffic_and_up_restores_it(running_lab: Lab) -> None:
    skybench(running_lab, "link", "set", WAN, "--down")
    assert all(r is None for r in rtts_ms(running_lab, count=10))
    state = show(running_lab)["links"][WAN]
    assert state["impairment"]["uplink"]["outage"] and state["impairment"]["downlink"]["outage"]
    assert state["counters"]["uplink"]["dropped_outage"] >= 10
    skybench(running_lab, "link", "set", WAN, "--up")
    assert sum(r is not None for r in rtts_ms(running_lab, count=10)) >= 9
    assert not show(running_lab)["links"][WAN]["impairment"]["uplink"]["outage"]


def test_show_lists_every_wan_and_the_logged_changes(running_lab: Lab) -> None:
    shown = show(running_lab)
    assert set(shown["links"]) == {w.name for w in running_lab.plan.wans}
    for state in shown["links"].values():
        assert state["counters"]["uplink"]["packets_in"] >= 0 and "described" in state
    changes = [c for c in shown["changes"] if c["wan"] == WAN]
    assert [c["change"].get("delay") for c in changes[:2]] == ["30ms", "10ms"]
    assert {"outage": True, "direction": "both"}.items() <= changes[2]["change"].items()
    table = skybench(running_lab, "link", "show").stdout
    assert WAN in table and "delay 30ms" in table and "outage=True" in table


def test_bad_values_and_unknown_wans_are_one_clear_error(running_lab: Lab) -> None:
    for args, expected in ((["link", "set", WAN, "--loss", "150%"], "loss"),
                           (["link", "set", "carrier-pigeon", "--delay", "5ms"], "no WAN 'carrier-pigeon'")):
        proc = subprocess.run([sys.executable, "-m", "bench.cli", *args, "--lab-prefix", running_lab.prefix],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
