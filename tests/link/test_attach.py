"""A second handle on a running link (what `skybench link set` uses on a lab): it reads the link's
current impairment from the engine or the kernel, changes it in place, and lets go on close."""

from __future__ import annotations

import statistics

import pytest

from bench.link import EmulatedLink, Impairment, LinkSpec, attach_link
from bench.link.probe import udp_probes
from bench.link.testbed import Testbed

pytestmark = pytest.mark.lab


def test_attached_handle_reads_changes_and_lets_go(link: EmulatedLink, bed: Testbed) -> None:
    link.set(LinkSpec(uplink=Impairment(delay_ms=5, rate_bps=50_000_000), downlink=Impairment(delay_ms=2)))
    other = attach_link(link.address())
    try:
        assert other.backend_name == link.backend_name
        assert other.spec == link.spec  # read back from the engine / the kernel's qdisc
        other.set_direction("uplink", delay="25ms")
        assert other.spec.uplink == Impairment(delay_ms=25, rate_bps=50_000_000)
        probes = udp_probes(bed.host_a, bed.host_b, bed.host_b_ip, count=100, interval_s=0.002)
        assert probes.received == 100
        assert statistics.median(probes.delays_ms) == pytest.approx(25, abs=2.0)
        assert other.counters().uplink.packets_out >= 100
    finally:
        other.close()
    # The link runs on after the attached handle let go, and its owner still controls it.
    link.set_direction("uplink", delay="3ms")
    probes = udp_probes(bed.host_a, bed.host_b, bed.host_b_ip, count=50, interval_s=0.002)
    assert probes.received == 50 and statistics.median(probes.delays_ms) < 10
