"""Nightly: operational traffic under passenger saturation (OPS-1 POS p95 latency, OPS-2 CCTV
uplink loss, OPS-3 conductors' API success).

The sky links run the nightly's link profile (150 Mbit/s down, 20 Mbit/s up, 30 ms round trip).
Whole-trip passengers saturate the active WAN both ways with iperf3 (two downloading, two
uploading, several TCP flows each) while the ops LAN runs, for OPS_S seconds: a POS transaction
every 0.5 s (HTTP POST to a ground server on a new connection, timed end to end), a 2 Mbit/s CCTV
camera (UDP, sequence-numbered, counted at the ground) and a conductors' API call every 0.25 s
(answered within the terminal's 5 s timeout or failed). The clients and servers are
bench/traffic/ops.py; the passengers' load is iperf3 (not loadgen/).

The reference router gives ops priority upstream only, and only where the queue builds in the
router (HTB at `wans.<wan>.uplink_kbit`): router.yaml shapes oneweb to 50 Mbit/s, above the
emulated 20 Mbit/s uplink, so there the queue builds in the terminal's link, where ops has no
priority (docs/reference-router.md, Known limits). The verdicts say what that costs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bench.devices.reference.clients import whole_trip
from bench.devices.reference.passenger import Passenger
from bench.lab import addressing
from bench.lab.lab import Lab
from bench.traffic import wanstate
from bench.traffic.iperf import IperfResult, IperfServers, iperf_client
from bench.traffic.links import links_set, profile
from bench.traffic.ops import OpsClients, OpsGround

pytestmark = [pytest.mark.nightly, pytest.mark.lab]

GROUND = str(addressing.GROUND_SERVER.ip)
OPS_S = 30.0
WARMUP_S = 3.0
DOWNLOADERS, UPLOADERS, STREAMS = 2, 2, 4


@pytest.fixture(scope="module")
def passengers(lab: Lab) -> Iterator[list[Passenger]]:
    if lab.router is None:
        pytest.skip("these measurements need the embedded reference router as the DUT")
    wanstate.settle(lab.router)
    riders = [Passenger(lab, f"ops{i}") for i in range(DOWNLOADERS + UPLOADERS)]
    try:
        for p in riders:
            p.__enter__()
            whole_trip(p)
        yield riders
    finally:
        for p in riders:
            p.leave()


@pytest.mark.requirement("OPS-1", "OPS-2", "OPS-3")
def test_ops_traffic_under_passenger_saturation(lab: Lab, passengers: list[Passenger], measure) -> None:
    router = lab.router
    seconds = WARMUP_S + OPS_S + 2
    load: list[IperfResult | BaseException] = []

    def saturate(p: Passenger, port: int, reverse: bool) -> None:
        try:
            load.append(iperf_client(lab, p.ns, port, GROUND, seconds=seconds, omit_s=1, streams=STREAMS, reverse=reverse))
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            load.append(exc)

    with links_set(lab, [w.name for w in lab.plan.wans], profile(150_000_000, 20_000_000, 30.0)), \
            IperfServers(lab, GROUND, count=len(passengers)) as servers, OpsGround(lab) as ground:
        wan = router.status()["active"]["ops"]
        t0 = time.time()
        threads = [threading.Thread(target=saturate, args=(p, servers.ports[i], i < DOWNLOADERS)) for i, p in enumerate(passengers)]
        for t in threads:
            t.start()
        time.sleep(WARMUP_S)
        with OpsClients(lab.ns("ops"), ground) as ops:
            time.sleep(OPS_S)
        for t in threads:
            t.join(timeout=seconds + 60)
        loss = ops.cctv_loss()
        downs = router.events(since=t0, event="wan_down")
    errors = [r for r in load if isinstance(r, BaseException)]
    assert not errors, f"passenger load failed: {errors[0]}"
    down = sum(r.goodput_bps for r in load if r.reverse) / 1e6  # type: ignore[union-attr]
    up = sum(r.goodput_bps for r in load if not r.reverse) / 1e6  # type: ignore[union-attr]
    p95, success = ops.pos_p95(), ops.api_success()
    failed_pos = sum(d is None for _, d in ops.pos)
    print(f"ops on {wan} under passengers' {down:.1f} Mbit/s down + {up:.1f} Mbit/s up: POS p95 {p95:.3f} s over {len(ops.pos)} "
          f"({failed_pos} failed); CCTV loss {loss:.2%} of {ops.cctv_sent}; conductors' API {success:.2%} of {len(ops.api)}; "
          f"WANs declared down meanwhile: {[e['wan'] for e in downs]}")
    ctx = {"wan": wan, "passenger_down_mbps": round(down, 2), "passenger_up_mbps": round(up, 2),
           "uplink_kbit": router.config.shaping(wan).uplink_kbit, "link": "150/20 Mbit/s, 30 ms"}
    measure("OPS-1", p95, units="s", transactions=len(ops.pos), failed=failed_pos, **ctx)
    measure("OPS-2", loss * 100, units="%", sent=ops.cctv_sent, received=len(ground.cctv), cameras=1, **ctx)
    measure("OPS-3", success * 100, units="%", calls=len(ops.api), **ctx)
    # The load was real: the passengers' uploads filled the uplink (generous bound). The downloads
    # get what their ACKs allow: they queue behind the uploads in the same 20 Mbit/s uplink.
    assert up >= 0.75 * 20 and down > 1.0, f"the passengers did not saturate the link ({down:.1f} down, {up:.1f} up Mbit/s)"
