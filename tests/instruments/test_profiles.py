"""Interruption and dip profiles on the emulated supply over TCP, acting on a recording target.

Timing bounds are generous (a shared machine): the figures are printed (pytest -s) and attached.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time

import pytest
from pydantic import ValidationError

from bench.errors import BenchError
from bench.instruments import InstrumentError, PowerSupply
from bench.instruments.emulated.server import ScpiSocketServer
from bench.instruments.emulated.supply import EmulatedPowerSupply
from bench.instruments.profiles import (
    SupplyEvent,
    SupplyProfile,
    dip_profile,
    en50155_interruption,
    run_profile,
    start_profile,
)
from bench.instruments.targets import RecordingPowerTarget
from tests.instruments.conftest import supply_config


@pytest.fixture
def psu(supply_server: ScpiSocketServer):  # type: ignore[no-untyped-def]
    with PowerSupply(supply_config(supply_server.resource, volts=(0.0, 30.0))) as supply:
        yield supply


def test_s2_interruption_acts_on_the_target_for_about_10_ms(
        psu: PowerSupply, power_target: RecordingPowerTarget) -> None:
    run = run_profile(psu, en50155_interruption("S2"))
    run.attach()
    (record,) = run.records
    (observed_s,) = power_target.off_periods_s()
    observed_ms = observed_s * 1000
    print(f"\nS2: requested {record.requested_ms} ms, achieved at the driver {record.achieved_ms} ms, "
          f"off at the target {observed_ms:.3f} ms")
    assert record.kind == "interruption" and record.requested_ms == 10.0
    assert 5.0 <= observed_ms <= 60.0
    assert 5.0 <= record.achieved_ms <= 60.0
    assert [e.kind for e in power_target.events] == ["lost", "restored"]


def test_repeated_s3_records_every_event(psu: PowerSupply, power_target: RecordingPowerTarget) -> None:
    run = run_profile(psu, en50155_interruption("S3", repeat=5, gap_s=0.05))
    observed = [s * 1000 for s in power_target.off_periods_s()]
    print(f"\nS3 x5 at the target: {', '.join(f'{ms:.2f}' for ms in observed)} ms "
          f"(median {statistics.median(observed):.2f}); {run.summary()}")
    assert [r.cycle for r in run.records] == [0, 1, 2, 3, 4]
    assert len(observed) == 5 and all(10.0 <= ms <= 80.0 for ms in observed)
    assert statistics.median(observed) == pytest.approx(20.0, abs=10.0)
    starts = [r.started_at for r in run.records]
    assert all(b - a >= 0.05 for a, b in zip(starts, starts[1:]))  # the gap is kept
    assert '"requested_ms": 20.0' in run.to_json()


def test_s1_does_nothing(psu: PowerSupply, power_target: RecordingPowerTarget,
                         emulated_supply: EmulatedPowerSupply) -> None:
    run = run_profile(psu, en50155_interruption("S1", repeat=3))
    assert run.records == [] and power_target.events == []
    assert not any(line.startswith("OUTP") for line in emulated_supply.received)


def test_dip_to_70_percent_keeps_the_router_running_but_50_percent_does_not(
        psu: PowerSupply, power_target: RecordingPowerTarget, emulated_supply: EmulatedPowerSupply) -> None:
    run = run_profile(psu, dip_profile(0.7, 100))
    (record,) = run.records
    assert (record.level_v, record.nominal_v) == (16.8, 24.0)
    assert 90.0 <= record.achieved_ms <= 200.0
    assert "VOLT 16.800" in emulated_supply.received and emulated_supply.state.voltage_v == 24.0
    assert power_target.events == []  # 16.8 V is above the router's 14.4 V minimum
    run_profile(psu, dip_profile(0.5, 100))
    (off_s,) = power_target.off_periods_s()
    print(f"\ndip 50 % 100 ms: off at the target {off_s * 1000:.2f} ms")
    assert 0.08 <= off_s <= 0.25


def test_a_profile_beyond_the_lab_limits_is_refused_whole(
        supply_server: ScpiSocketServer, emulated_supply: EmulatedPowerSupply,
        power_target: RecordingPowerTarget) -> None:
    profile = SupplyProfile(name="cut then deep dip", repeat=2, events=[
        SupplyEvent(kind="interruption", duration_ms=10), SupplyEvent(kind="dip", duration_ms=100, level=0.5)])
    with PowerSupply(supply_config(supply_server.resource, volts=(18.0, 30.0))) as psu:
        with pytest.raises(InstrumentError, match=r"refused 12\.0 V.*nothing was sent"):
            run_profile(psu, profile)
    assert power_target.events == []  # not even the interruption that came first ran
    assert not any(line.startswith(("OUTP", "VOLT ")) for line in emulated_supply.received)


def test_profile_scheduled_during_traffic(psu: PowerSupply, power_target: RecordingPowerTarget) -> None:
    # Traffic on loopback while the profile runs in the background.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(0.5)
        received = 0
        stop = threading.Event()

        def receive() -> None:
            nonlocal received
            while not stop.is_set():
                try:
                    rx.recv(2048)
                    received += 1
                except TimeoutError:
                    pass

        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        traffic_start = time.time()
        handle = start_profile(psu, en50155_interruption("S2", repeat=3, gap_s=0.1), start_after_s=0.2)
        deadline = time.monotonic() + 1.5
        sent = 0
        while time.monotonic() < deadline:
            tx.sendto(b"x" * 200, rx.getsockname())
            sent += 1
            time.sleep(0.001)
        run = handle.wait(timeout_s=10)
        traffic_end = time.time()
        stop.set()
        reader.join()
    assert len(run.records) == 3 and len(power_target.off_periods_s()) == 3
    assert all(traffic_start + 0.2 <= r.started_at <= traffic_end for r in run.records)
    assert sent > 100 and received > 0


def test_a_running_profile_can_be_stopped(psu: PowerSupply) -> None:
    handle = start_profile(psu, en50155_interruption("S2", repeat=1000, gap_s=0.05))
    time.sleep(0.3)
    handle.stop()
    run = handle.wait(timeout_s=5)
    assert 1 <= len(run.records) < 1000


def test_profile_model_checks() -> None:
    with pytest.raises(ValidationError, match="use kind dip"):
        SupplyEvent(kind="interruption", duration_ms=10, level=0.5)
    with pytest.raises(ValidationError, match="a dip needs a level"):
        SupplyEvent(kind="dip", duration_ms=10)
    with pytest.raises(BenchError, match="S1, S2, S3"):
        en50155_interruption("S9")
