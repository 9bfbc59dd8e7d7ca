"""Operational traffic while passengers saturate the link: what OPS-1/OPS-2/OPS-3 measure, shared by
the nightly (on the fixed link profile) and the field repro (while a recorded window replays).

Whole-trip passengers load the active WAN both ways with iperf3 (the first `downloaders` download,
the rest upload, `streams` TCP flows each) while the ops LAN runs for `ops_s` seconds: a POS
transaction every 0.5 s, a 2 Mbit/s CCTV camera and a conductors' API call every 0.25 s
(bench/traffic/ops.py). Which WAN the ops traffic used is what the ground saw: the source
addresses of the camera's datagrams.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.lab import addressing
from bench.traffic.iperf import IperfResult, IperfServers, iperf_client
from bench.traffic.ops import OpsClients, OpsGround

if TYPE_CHECKING:
    from bench.lab.lab import Lab
    from bench.traffic.passenger import Passenger

GROUND = str(addressing.GROUND_SERVER.ip)


@dataclass(frozen=True)
class OpsUnderLoad:
    wan: str | None  # the WAN most of the camera's datagrams reached the ground by
    t_start: float  # wall clock of the ops measurement (after the warm-up)
    t_end: float
    passenger_down_mbps: float
    passenger_up_mbps: float
    pos_p95_s: float
    pos_transactions: int
    pos_failed: int
    cctv_loss: float  # fraction
    cctv_sent: int
    cctv_received: int
    api_success: float  # fraction
    api_calls: int
    ops_paths: dict[str, int]  # WAN (or source address of no lab WAN) -> camera datagrams that came by it

    def context(self) -> dict[str, Any]:
        return {"wan": self.wan, "passenger_down_mbps": round(self.passenger_down_mbps, 2),
                "passenger_up_mbps": round(self.passenger_up_mbps, 2)}

    def summary(self) -> str:
        return (f"ops on {self.wan} under passengers' {self.passenger_down_mbps:.1f} Mbit/s down + {self.passenger_up_mbps:.1f} "
                f"Mbit/s up: POS p95 {self.pos_p95_s:.3f} s over {self.pos_transactions} ({self.pos_failed} failed); CCTV loss "
                f"{self.cctv_loss:.2%} of {self.cctv_sent}; conductors' API {self.api_success:.2%} of {self.api_calls}; "
                f"camera datagrams by WAN: {self.ops_paths}")


def ops_under_passenger_load(lab: Lab, riders: Sequence[Passenger], *, ops_s: float, warmup_s: float = 3.0,
                             downloaders: int = 2, streams: int = 4) -> OpsUnderLoad:
    seconds = warmup_s + ops_s + 2
    load: list[IperfResult | BaseException] = []

    def saturate(p: Passenger, port: int, reverse: bool) -> None:
        try:
            load.append(iperf_client(lab, p.ns, port, GROUND, seconds=seconds, omit_s=1, streams=streams, reverse=reverse))
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread
            load.append(exc)

    with IperfServers(lab, GROUND, count=len(riders)) as servers, OpsGround(lab) as ground:
        threads = [threading.Thread(target=saturate, args=(p, servers.ports[i], i < downloaders)) for i, p in enumerate(riders)]
        for t in threads:
            t.start()
        time.sleep(warmup_s)
        t_start = time.time()
        with OpsClients(lab.ns("ops"), ground) as ops:
            time.sleep(ops_s)
        t_end = time.time()
        for t in threads:
            t.join(timeout=seconds + 60)
        loss = ops.cctv_loss()
        received = len(ground.cctv)
        paths: dict[str, int] = {}
        for source, n in ground.cctv_sources.items():
            key = lab.wan_at_ground(source) or source
            paths[key] = paths.get(key, 0) + n
    errors = [r for r in load if isinstance(r, BaseException)]
    if errors:
        raise BenchError(f"passenger load failed: {errors[0]}", where="iperf3 from the passengers",
                         fix="see the iperf3 step in the run's steps.jsonl")
    results = [r for r in load if isinstance(r, IperfResult)]
    return OpsUnderLoad(
        wan=max(paths, key=lambda k: paths[k]) if paths else None, t_start=t_start, t_end=t_end,
        passenger_down_mbps=sum(r.goodput_bps for r in results if r.reverse) / 1e6,
        passenger_up_mbps=sum(r.goodput_bps for r in results if not r.reverse) / 1e6,
        pos_p95_s=ops.pos_p95(), pos_transactions=len(ops.pos), pos_failed=sum(d is None for _, d in ops.pos),
        cctv_loss=loss, cctv_sent=ops.cctv_sent, cctv_received=received,
        api_success=ops.api_success(), api_calls=len(ops.api), ops_paths=paths)
