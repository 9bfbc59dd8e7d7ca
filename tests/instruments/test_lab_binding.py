"""Lab binding and the reference router's power input: a lab file's loopback instruments are
served by the Lab, the supply takes the router down as a power loss does, and it boots again
with what its flash held."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import psutil
import pytest

from bench.traffic.passenger import Passenger
from bench.instruments import PowerSupply, RfAttenuator, open_instrument
from bench.lab import netns
from bench.lab.lab import Lab
from bench.lab.labfile import load_lab
from tests.devices.router_helpers import TEST_CONFIG, buy
from tests.instruments.conftest import attenuator_config, supply_config

pytestmark = pytest.mark.lab

BOOT_S = 1.5
FLASH_SAVE_S = 0.5
POWER_CONFIG = TEST_CONFIG.override({"power": {"boot_s": BOOT_S, "hold_up_ms": 15.0, "flash_save_s": FLASH_SAVE_S}})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def instrumented_lab() -> Iterator[Lab]:
    config = load_lab(None).model_copy(update={"instruments": [
        supply_config(f"TCPIP0::127.0.0.1::{_free_port()}::SOCKET", model="EMU-PSU", name="dut-supply"),
        attenuator_config(f"TCPIP0::127.0.0.1::{_free_port()}::SOCKET", name="starlink-fader", wan="starlink"),
    ]})
    with Lab(config, router_config=POWER_CONFIG) as lab:
        yield lab


@pytest.fixture
def supply(instrumented_lab: Lab) -> Iterator[PowerSupply]:
    psu = open_instrument(instrumented_lab.config.instruments[0])
    assert isinstance(psu, PowerSupply)
    try:
        yield psu
    finally:
        psu.set_output(True)  # whatever a test did, the router is fed again
        instrumented_lab.router.power.wait_running(BOOT_S + 30)
        psu.close()


def _routerd_pid(lab: Lab) -> int:
    return lab.router._procs["routerd"].pid


def _links_up(lab: Lab) -> dict[str, bool]:
    with netns.ipr(lab.ns("router")) as ipr:
        return {link.get_attr("IFLA_IFNAME"): bool(link["flags"] & 1) for link in ipr.get_links()}


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.02)


def test_the_lab_serves_its_loopback_instruments_at_their_resources(instrumented_lab: Lab) -> None:
    assert set(instrumented_lab.instruments) == {"dut-supply", "starlink-fader"}
    with open_instrument(instrumented_lab.config.instruments[0]) as psu:
        assert "EMU-PSU" in psu.identity
        assert psu.output_enabled() and psu.measure_voltage() == 24.0
    fader_config = instrumented_lab.config.instruments[1]
    link = instrumented_lab.link("starlink")
    with open_instrument(fader_config) as fader:
        assert isinstance(fader, RfAttenuator)
        fader.set_attenuation(20.0)  # beyond the 14 dB outage threshold
        assert link.spec.uplink.outage and link.spec.downlink.outage
        fader.set_attenuation(0.0)
        assert not link.spec.uplink.outage and not link.spec.downlink.outage


def test_an_interruption_shorter_than_the_hold_up_does_nothing(instrumented_lab: Lab, supply: PowerSupply) -> None:
    router = instrumented_lab.router
    started, pid = router.status()["started"], _routerd_pid(instrumented_lab)
    t0 = time.monotonic()
    timing = supply.interrupt(0.005)
    supply.dip(12.0, 0.005)  # below the router's 14.4 V minimum, but shorter than the hold-up too
    time.sleep(0.2)
    ridden = router.power.events("ridden_through", since=t0)
    print(f"\n5 ms interruption: achieved {timing.achieved_ms:.3f} ms; ridden through: "
          f"{[e.off_ms for e in ridden]} ms at the router")
    assert len(ridden) == 2 and all(e.off_ms < 15.0 for e in ridden)
    assert router.power.events("powered_off", since=t0) == []
    assert psutil.pid_exists(pid) and _routerd_pid(instrumented_lab) == pid
    assert router.status()["started"] == started
    assert all(_links_up(instrumented_lab).values())


def test_a_supply_loss_powers_the_router_off_and_it_boots_with_its_flash(instrumented_lab: Lab, supply: PowerSupply) -> None:
    lab, router = instrumented_lab, instrumented_lab.router
    with Passenger(lab, "flash") as p:
        lease = p.connect()
        status, session = buy(p, "bundle-test")
        assert status == 200 and session["tier"] == "bundle"
        p.download(nbytes=2_000_000)
        time.sleep(3 * FLASH_SAVE_S)  # the counters reach the flash at its next periodic write
        before = {s["ip"]: s for s in router.status()["sessions"]}[lease.ip]
        assert before["quota_used_bytes"] > 2_000_000
        started, pid = router.status()["started"], _routerd_pid(lab)

        t0 = time.monotonic()
        supply.set_output(False)
        _wait(lambda: router.power.events("powered_off", since=t0), 10, "power off")
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert not any(_links_up(lab).values()), _links_up(lab)
        assert "skyrouter" not in router.nft("list", "tables")
        with pytest.raises(OSError):
            router.status()
        with pytest.raises(OSError):
            p.http("GET", "http://198.18.0.1/api/whoami", timeout_s=1.0)

        supply.set_output(True)
        on_at = time.monotonic()
        assert router.power.wait_running(BOOT_S + 30)
        booted = router.power.events("booted", since=t0)[-1]
        print(f"\npower off -> on: booted {booted.at - on_at:.2f} s after power returned (boot_s {BOOT_S})")
        assert booted.at - on_at >= BOOT_S
        assert all(_links_up(lab).values())
        after_status = router.status()
        assert after_status["started"] > started and _routerd_pid(lab) != pid
        after = {s["ip"]: s for s in after_status["sessions"]}[lease.ip]
        assert (after["mac"], after["tier"], after["package"]) == (before["mac"], "bundle", "bundle-test")
        # The quota starts where the flash's last write had it: at or a little below the figure read
        # before the cut (no traffic ran in between, so the same or within one write's change).
        assert before["quota_used_bytes"] * 0.99 <= after["quota_used_bytes"] <= before["quota_used_bytes"]
        status, _, body = p.http("GET", "http://portal.skybench.test/api/whoami")
        assert status == 200 and b'"bundle"' in body
