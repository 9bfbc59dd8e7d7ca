"""The emulated attenuator fading a real userspace sky link in namespaces, driven over VISA."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench.instruments import RfAttenuator
from bench.instruments.emulated.attenuator import EmulatedAttenuator
from bench.instruments.emulated.server import ScpiSocketServer
from bench.instruments.fade import FadeModel, LinkFadeTarget
from bench.link import EmulatedLink, Impairment, LinkSpec, open_link
from bench.link.probe import udp_probes
from bench.link.testbed import Testbed
from bench.link.testbed import testbed as build_testbed
from tests.instruments.conftest import attenuator_config

pytestmark = pytest.mark.lab

CLEAR_SKY = Impairment(delay_ms=5, rate_bps=20_000_000)


@pytest.fixture(scope="module")
def bed() -> Iterator[Testbed]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    with build_testbed() as built:
        yield built


@pytest.fixture
def link(bed: Testbed) -> Iterator[EmulatedLink]:
    with open_link(bed.sky, bed.term_if, bed.gnd_if, backend="userspace",
                   spec=LinkSpec(uplink=CLEAR_SKY, downlink=CLEAR_SKY)) as opened:
        yield opened


def _uplink_received(bed: Testbed, count: int = 50) -> int:
    return udp_probes(bed.host_a, bed.host_b, bed.host_b_ip, count=count, interval_s=0.002, drain_s=0.3).received


def test_attenuation_beyond_the_threshold_stops_traffic(bed: Testbed, link: EmulatedLink) -> None:
    model = FadeModel()
    target = LinkFadeTarget(link, model)
    with ScpiSocketServer(EmulatedAttenuator(target)) as server, \
            RfAttenuator(attenuator_config(server.resource, db=(0.0, 60.0))) as fader:
        assert _uplink_received(bed) == 50
        fader.set_attenuation(model.outage_threshold_db + 1)  # 15 dB: beyond the 14 dB threshold
        assert link.spec.uplink.outage and link.spec.downlink.outage
        assert _uplink_received(bed) == 0
        assert udp_probes(bed.host_b, bed.host_a, bed.host_a_ip, count=30, interval_s=0.002,
                          drain_s=0.3).received == 0
        fader.set_attenuation(0)
        assert link.spec == LinkSpec(uplink=CLEAR_SKY, downlink=CLEAR_SKY)  # clear sky is the base again
        assert _uplink_received(bed) == 50


def test_a_fade_below_the_threshold_lowers_the_rate_and_adds_loss(bed: Testbed, link: EmulatedLink) -> None:
    model = FadeModel()
    target = LinkFadeTarget(link, model)
    with ScpiSocketServer(EmulatedAttenuator(target)) as server, \
            RfAttenuator(attenuator_config(server.resource)) as fader:
        fader.set_attenuation(13.0)  # 1 dB above the outage: reduced rate, some loss
    uplink = link.spec.uplink
    assert not uplink.outage
    assert uplink.rate_bps == int(20_000_000 * model.rate_fraction(13.0))
    assert uplink.loss == pytest.approx(model.loss(13.0)) and 0 < uplink.loss < 0.2
    probes = _uplink_received(bed, count=400)
    print(f"\n13 dB fade: {probes}/400 probes through (model loss {model.loss(13.0):.3f})")
    assert 250 <= probes < 400  # some lost, most through
