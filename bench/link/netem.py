"""The netem backend: a kernel bridge between term and gnd, a netem qdisc on each egress.

Uplink (term -> gnd) leaves through gnd's egress, downlink (gnd -> term) through term's, so each
direction has its own qdisc and parameters. Everything goes through pyroute2 netlink; no `tc`.

pyroute2 0.9.7's netem plugin cannot encode the Gilbert-Elliott loss model (TCA_NETEM_LOSS is
declared "none"), so this module encodes the netem options itself, in the kernel's layout:
struct tc_netem_qopt followed by attributes (linux/pkt_sched.h):
- delay/jitter are sent both as 32-bit psched ticks (64 ns, for old kernels) and as
  TCA_NETEM_LATENCY64/JITTER64 in nanoseconds (used by kernels >= 4.15);
- TCA_NETEM_RATE is always sent (0 = unlimited) and TCA_NETEM_LOSS whenever Gilbert-Elliott is
  on: `tc qdisc change` keeps attributes it is not given, and an update must not inherit them;
- Gilbert-Elliott: the kernel drops in the bad state when rand > h, so h = 1 - loss_bad, and in
  the good state when rand < k1, so k1 = loss_good (iproute2's "1-h 1-k" in model terms).
- `jitter_keeps_order` without a rate: netem reorders on jitter unless a rate is set (then each
  packet leaves after the one ahead), so the backend sets the highest 32-bit rate (~34 Gbit/s,
  0.35 us per full frame) to get that ordering without any shaping to speak of.
"""

from __future__ import annotations

from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, nla
from pyroute2.netlink.rtnl import RTM_NEWQDISC, TC_H_ROOT
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from bench.lab import netns
from bench.link.backend import DirectionCounters, LinkBackend, LinkCounters
from bench.link.bridge import create_bridge, remove_bridge
from bench.link.model import DIRECTIONS, Impairment, LinkSpec

U32_MAX = 0xFFFFFFFF
PSCHED_TICK_NS = 64
NETEM_HANDLE = 0x10000  # "1:"


def _u32_fraction(p: float) -> int:
    return min(U32_MAX, max(0, int(round(p * U32_MAX))))


class netem_options(nla):  # noqa: N801 - netlink message classes follow pyroute2's naming
    """TCA_OPTIONS of a netem qdisc: tc_netem_qopt + attributes."""

    fields = (
        ("delay", "I"),  # psched ticks
        ("limit", "I"),
        ("loss", "I"),
        ("gap", "I"),
        ("duplicate", "I"),
        ("jitter", "I"),
    )
    nla_map = (
        (0, "TCA_NETEM_UNSPEC", "none"),
        (5, "TCA_NETEM_LOSS", "netem_loss"),
        (6, "TCA_NETEM_RATE", "netem_rate"),
        (10, "TCA_NETEM_LATENCY64", "int64"),
        (11, "TCA_NETEM_JITTER64", "int64"),
    )

    class netem_rate(nla):  # noqa: N801
        fields = (("rate", "I"), ("packet_overhead", "i"), ("cell_size", "I"), ("cell_overhead", "i"))

    class netem_loss(nla):  # noqa: N801
        nla_map = (
            (0, "NETEM_LOSS_UNSPEC", "none"),
            (2, "NETEM_LOSS_GE", "netem_gemodel"),
        )

        class netem_gemodel(nla):  # noqa: N801
            fields = (("p", "I"), ("r", "I"), ("h", "I"), ("k1", "I"))


class netem_tcmsg(tcmsg):  # noqa: N801
    """A tcmsg whose TCA_OPTIONS is encoded as netem_options."""

    # pyroute2 compiles an nla_map once per class and marks it in a class attribute that a
    # subclass would inherit: once plain tcmsg has been used, this class would silently encode
    # with tcmsg's map (pyroute2's own netem options). Start this class uncompiled.
    _nlmsg_base__compiled_nla = False

    nla_map = (
        ("TCA_UNSPEC", "none"),
        ("TCA_KIND", "asciiz"),
        ("TCA_OPTIONS", "netem_options"),
    )
    netem_options = netem_options


def netem_options_for(imp: Impairment) -> dict[str, Any]:
    """The netem option values that give `imp` (see the module docstring for the mapping)."""
    delay_ns = int(round(imp.delay_ms * 1e6))
    jitter_ns = int(round(imp.jitter_ms * 1e6))
    if imp.rate_bps:
        rate_bytes = min(U32_MAX, imp.rate_bps // 8)
    elif imp.jitter_keeps_order and imp.jitter_ms:
        rate_bytes = U32_MAX
    else:
        rate_bytes = 0
    attrs: list[list[Any]] = [
        ["TCA_NETEM_RATE", {"rate": rate_bytes, "packet_overhead": 0, "cell_size": 0, "cell_overhead": 0}],
        ["TCA_NETEM_LATENCY64", delay_ns],
        ["TCA_NETEM_JITTER64", jitter_ns],
    ]
    loss = 1.0 if imp.outage else imp.loss
    if imp.gilbert_elliott and not imp.outage:
        gemodel = {
            "p": _u32_fraction(imp.ge_p or 0.0),
            "r": _u32_fraction(imp.ge_r or 0.0),
            "h": _u32_fraction(1.0 - imp.ge_loss_bad),
            "k1": _u32_fraction(imp.ge_loss_good),
        }
        attrs.append(["TCA_NETEM_LOSS", {"attrs": [["NETEM_LOSS_GE", gemodel]]}])
        loss = 0.0
    return {
        "delay": min(U32_MAX, delay_ns // PSCHED_TICK_NS),
        "limit": imp.effective_limit(),
        "loss": _u32_fraction(loss),
        "gap": 0,
        "duplicate": 0,
        "jitter": min(U32_MAX, jitter_ns // PSCHED_TICK_NS),
        "attrs": attrs,
    }


def _qdisc_request(ns: str, ifname: str, imp: Impairment, *, create: bool) -> None:
    with netns.ipr(ns) as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        msg = netem_tcmsg()
        msg["family"] = 0
        msg["index"] = index
        msg["handle"] = NETEM_HANDLE
        msg["parent"] = TC_H_ROOT
        msg["attrs"] = [["TCA_KIND", "netem"], ["TCA_OPTIONS", netem_options_for(imp)]]
        # create: add (fails if a root qdisc is there); update: NLM_F_REPLACE without CREATE is
        # `tc qdisc change`: netem_change() on the existing qdisc, its queue untouched.
        flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if create else NLM_F_REPLACE)
        ipr.nlm_request(msg, msg_type=RTM_NEWQDISC, msg_flags=flags)


def _qdisc_stats(ns: str, ifname: str) -> dict[str, int]:
    with netns.ipr(ns) as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        for qdisc in ipr.get_qdiscs(index=index):
            if qdisc.get_attr("TCA_KIND") == "netem":
                stats = qdisc.get_attr("TCA_STATS")
                return {"bytes": stats["bytes"], "packets": stats["packets"], "drop": stats["drop"],
                        "qlen": stats["qlen"], "backlog": stats["backlog"]}
    return {"bytes": 0, "packets": 0, "drop": 0, "qlen": 0, "backlog": 0}


def _delete_root_qdisc(ns: str, ifname: str) -> None:
    with netns.ipr(ns) as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if found:
            try:
                ipr.tc("del", index=found[0], handle=NETEM_HANDLE, root=True)
            except Exception:  # noqa: BLE001 - already gone is what we want
                pass


class _DropLedger:
    """netem counts drops as one number; attribute each increase to the cause active then."""

    def __init__(self) -> None:
        self.seen = 0
        self.by_cause = {"dropped_loss": 0, "dropped_outage": 0, "dropped_queue_full": 0}

    def observe(self, total: int, active: Impairment) -> None:
        delta, self.seen = total - self.seen, total
        if delta <= 0:
            return
        if active.outage:
            cause = "dropped_outage"
        elif active.loss or active.gilbert_elliott:
            cause = "dropped_loss"
        else:
            cause = "dropped_queue_full"
        self.by_cause[cause] += delta


class NetemBackend(LinkBackend):
    name = "netem"

    def __init__(self, ns: str, term_if: str, gnd_if: str) -> None:
        super().__init__(ns, term_if, gnd_if)
        # The egress that carries each direction.
        self.egress = {"uplink": gnd_if, "downlink": term_if}
        self.active: dict[str, Impairment] = {}
        self.drops = {d: _DropLedger() for d in DIRECTIONS}
        self.started = False

    def start(self, spec: LinkSpec) -> None:
        self.started = True
        try:
            for direction in DIRECTIONS:
                imp = spec.direction(direction)
                _qdisc_request(self.ns, self.egress[direction], imp, create=True)
                self.active[direction] = imp
            # Qdiscs first, bridge last: no frame crosses the link unimpaired.
            create_bridge(self.ns, self.term_if, self.gnd_if)
        except BaseException:
            self.stop()
            raise

    def apply(self, direction: str, impairment: Impairment) -> None:
        # Drops so far belong to the old parameters.
        self.drops[direction].observe(_qdisc_stats(self.ns, self.egress[direction])["drop"], self.active[direction])
        _qdisc_request(self.ns, self.egress[direction], impairment, create=False)
        self.active[direction] = impairment

    def counters(self) -> LinkCounters:
        found = {}
        for direction in DIRECTIONS:
            stats = _qdisc_stats(self.ns, self.egress[direction])
            ledger = self.drops[direction]
            ledger.observe(stats["drop"], self.active[direction])
            found[direction] = DirectionCounters(
                packets_in=stats["packets"] + stats["drop"] + stats["qlen"],
                bytes_in=stats["bytes"] + stats["backlog"],  # dropped frames' bytes are not counted by netem
                packets_out=stats["packets"],
                bytes_out=stats["bytes"],
                queue_depth=stats["qlen"],
                drop_causes_exact=False,
                **ledger.by_cause,
            )
        return LinkCounters(backend="netem", **found)

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        if not netns.exists(self.ns):
            return
        remove_bridge(self.ns)
        for ifname in self.egress.values():
            _delete_root_qdisc(self.ns, ifname)
