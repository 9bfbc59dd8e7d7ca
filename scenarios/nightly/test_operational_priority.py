"""Nightly: operational traffic under passenger saturation (OPS-1 POS p95 latency, OPS-2 CCTV
uplink loss, OPS-3 conductors' API success).

The sky links run the nightly's link profile (150 Mbit/s down, 20 Mbit/s up, 30 ms round trip).
Four whole-trip passengers (the `riders` fixture) saturate the active WAN both ways with iperf3
(two downloading, two uploading, several TCP flows each) while the ops LAN runs, for OPS_S
seconds: a POS transaction every 0.5 s (HTTP POST to a ground server on a new connection, timed
end to end), a 2 Mbit/s CCTV camera (UDP, sequence-numbered, counted at the ground) and a
conductors' API call every 0.25 s (answered within the terminal's 5 s timeout or failed): the
run is bench/traffic/saturation.py (shared with the repro's OPS check), the clients and servers
bench/traffic/ops.py; the passengers' load is iperf3 (not loadgen/).

The reference router gives ops priority upstream only, and only where the queue builds in the
router (HTB at `wans.<wan>.uplink_kbit`): router.yaml shapes oneweb to 50 Mbit/s, above the
emulated 20 Mbit/s uplink, so there the queue builds in the terminal's link, where ops has no
priority (docs/reference-router.md, Known limits). The verdicts say what that costs.
"""

from __future__ import annotations

import pytest

from bench.lab.lab import Lab
from bench.traffic.links import links_set, profile
from bench.traffic.passenger import Passenger
from bench.traffic.saturation import ops_under_passenger_load

pytestmark = [pytest.mark.nightly, pytest.mark.lab]

OPS_S = 30.0


@pytest.mark.requirement("OPS-1", "OPS-2", "OPS-3")
def test_ops_traffic_under_passenger_saturation(lab: Lab, riders: list[Passenger], measure) -> None:
    with links_set(lab, lab.wan_order(), profile(150_000_000, 20_000_000, 30.0)):
        r = ops_under_passenger_load(lab, riders, ops_s=OPS_S)
    print(r.summary())
    # The load was real, or the figures say nothing: the passengers' uploads filled the uplink
    # (generous bound); the downloads get what their ACKs allow behind the uploads.
    saturated = {f"the passengers' uploads filled >= 75 % of the 20 Mbit/s uplink ({r.passenger_up_mbps:.1f} Mbit/s)": r.passenger_up_mbps >= 0.75 * 20,
                 f"the passengers' downloads ran (> 1 Mbit/s; {r.passenger_down_mbps:.1f} Mbit/s)": r.passenger_down_mbps > 1.0}
    ctx = {**r.context(), "link": "150/20 Mbit/s, 30 ms", "ops_paths": r.ops_paths, "preconditions": saturated}
    measure("OPS-1", r.pos_p95_s, units="s", transactions=r.pos_transactions, failed=r.pos_failed, **ctx)
    measure("OPS-2", r.cctv_loss * 100, units="%", sent=r.cctv_sent, received=r.cctv_received, cameras=1, **ctx)
    measure("OPS-3", r.api_success * 100, units="%", calls=r.api_calls, **ctx)
