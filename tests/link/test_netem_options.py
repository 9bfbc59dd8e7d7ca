"""The netem backend's netlink encoding, checked without a kernel netem (the VM checks the rest)."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.link.backend import kernel_has_netem, select_backend
from bench.link.model import Impairment
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from bench.link.netem import NETEM_HANDLE, U32_MAX, impairment_from_netem, netem_options_for, netem_tcmsg

pytestmark = pytest.mark.netem


def roundtrip(imp: Impairment):  # type: ignore[no-untyped-def]
    # Plain tcmsg used first (as kernel_has_netem does) must not change how netem_tcmsg encodes.
    plain = tcmsg()
    plain["attrs"] = [["TCA_KIND", "netem"]]
    plain.encode()
    msg = netem_tcmsg()
    msg["index"] = 7
    msg["handle"] = NETEM_HANDLE
    msg["parent"] = 0xFFFFFFFF
    msg["attrs"] = [["TCA_KIND", "netem"], ["TCA_OPTIONS", netem_options_for(imp)]]
    msg.encode()
    decoded = netem_tcmsg(msg.data)
    decoded.decode()
    return decoded.get_attr("TCA_OPTIONS")


def test_delay_jitter_rate_limit_encoding() -> None:
    opts = roundtrip(Impairment(delay_ms=20, jitter_ms=5, rate_bps=200_000_000, limit_packets=3000))
    assert opts.get_attr("TCA_NETEM_LATENCY64") == 20_000_000  # ns
    assert opts.get_attr("TCA_NETEM_JITTER64") == 5_000_000
    assert opts["delay"] == 20_000_000 // 64  # psched ticks for kernels without LATENCY64
    assert opts["limit"] == 3000
    assert opts.get_attr("TCA_NETEM_RATE")["rate"] == 25_000_000  # bytes/s


def test_update_always_resets_rate_and_loss_model() -> None:
    # `change` keeps attributes it is not sent: an unlimited update must say rate 0 explicitly.
    opts = roundtrip(Impairment(delay_ms=5))
    assert opts.get_attr("TCA_NETEM_RATE")["rate"] == 0
    assert opts.get_attr("TCA_NETEM_LOSS") is None and opts["loss"] == 0


def test_gilbert_elliott_maps_to_kernel_thresholds() -> None:
    opts = roundtrip(Impairment(ge_p=0.05, ge_r=0.25, ge_loss_bad=0.9, ge_loss_good=0.01))
    ge = opts.get_attr("TCA_NETEM_LOSS").get_attr("NETEM_LOSS_GE")
    assert ge["p"] == pytest.approx(0.05 * U32_MAX, abs=1)
    assert ge["r"] == pytest.approx(0.25 * U32_MAX, abs=1)
    # Bad state drops when rand > h: h is the chance to pass, 1 - loss_bad.
    assert ge["h"] == pytest.approx(0.1 * U32_MAX, abs=1)
    assert ge["k1"] == pytest.approx(0.01 * U32_MAX, abs=1)


def test_outage_is_total_loss_and_ordered_jitter_uses_rate() -> None:
    assert roundtrip(Impairment(outage=True, loss=0.1))["loss"] == U32_MAX
    opts = roundtrip(Impairment(delay_ms=20, jitter_ms=5, jitter_keeps_order=True))
    assert opts.get_attr("TCA_NETEM_RATE")["rate"] == U32_MAX


def test_select_backend_is_honest() -> None:
    has_netem, reason = kernel_has_netem()
    name, why = select_backend("auto")
    assert name == ("netem" if has_netem else "userspace") and reason in why
    assert select_backend("userspace")[0] == "userspace"
    if not has_netem:
        with pytest.raises(BenchError, match="netem backend was requested") as info:
            select_backend("netem")
        assert "how to fix" in str(info.value)
    with pytest.raises(BenchError, match="unknown link backend"):
        select_backend("carrier-pigeon")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "imp",
    [
        Impairment(delay_ms=20, jitter_ms=5, rate_bps=200_000_000),
        Impairment(delay_ms=30, loss=0.01, limit_packets=4321),
        Impairment(delay_ms=20, jitter_ms=5, jitter_keeps_order=True),
        Impairment(ge_p=0.05, ge_r=0.25, ge_loss_bad=0.9, ge_loss_good=0.01),
        Impairment(delay_ms=10, outage=True),
    ],
)
def test_kernel_options_read_back_as_the_same_impairment(imp: Impairment) -> None:
    # What `skybench link show` reads from a running lab's netem: the inverse of the encoding.
    assert impairment_from_netem(roundtrip(imp)) == imp
