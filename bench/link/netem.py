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

import threading
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, nla
from pyroute2.netlink.rtnl import RTM_NEWQDISC, TC_H_ROOT
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from bench.errors import HostError
from bench.lab import netns
from bench.link.backend import DirectionCounters, LinkAddress, LinkBackend, LinkCounters
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


def impairment_from_netem(opts: Any) -> Impairment:
    """The Impairment a netem qdisc's options (as decoded by netem_options) stand for.

    The inverse of netem_options_for, for reading a running link back from the kernel (another
    process attaching to a lab's link). What the kernel cannot tell apart is read back as what
    the backend writes: total loss is an outage, the highest rate with jitter is
    `jitter_keeps_order` without a rate, and a shaped link (which never reorders) reads back with
    `jitter_keeps_order` False. A limit equal to the default the
    model computes reads back as "default" (None), so later changes keep following the BDP.
    """
    latency = opts.get_attr("TCA_NETEM_LATENCY64")
    jitter = opts.get_attr("TCA_NETEM_JITTER64")
    delay_ns = latency if latency is not None else opts["delay"] * PSCHED_TICK_NS
    jitter_ns = jitter if jitter is not None else opts["jitter"] * PSCHED_TICK_NS
    rate = opts.get_attr("TCA_NETEM_RATE")
    rate_bytes = rate["rate"] if rate is not None else 0
    fields: dict[str, Any] = {"delay_ms": delay_ns / 1e6, "jitter_ms": jitter_ns / 1e6}
    if rate_bytes == U32_MAX and jitter_ns:
        fields["jitter_keeps_order"] = True
    elif rate_bytes:
        # A shaped link never reorders, whatever jitter_keeps_order said: read back the default.
        fields["rate_bps"] = rate_bytes * 8
    if opts["loss"] >= U32_MAX:
        fields["outage"] = True
    elif opts["loss"]:
        fields["loss"] = round(opts["loss"] / U32_MAX, 6)
    loss_model = opts.get_attr("TCA_NETEM_LOSS")
    ge = loss_model.get_attr("NETEM_LOSS_GE") if loss_model is not None else None
    if ge is not None:
        fields.update(ge_p=round(ge["p"] / U32_MAX, 6), ge_r=round(ge["r"] / U32_MAX, 6),
                      ge_loss_bad=round(1.0 - ge["h"] / U32_MAX, 6), ge_loss_good=round(ge["k1"] / U32_MAX, 6))
    default_limit = Impairment.model_validate(fields).effective_limit()
    if opts["limit"] != default_limit:
        fields["limit_packets"] = opts["limit"]
    return Impairment.model_validate(fields)


class NetemQdiscs:
    """The netem qdiscs of one link namespace, through one netlink handle kept open.

    Opening a NetNS handle costs a thread/namespace switch (tens of ms, ~150 ms under TCG); a
    link updated at 100 Hz cannot afford two per update. The handle is used from the caller's
    threads (a trace player, a test's churn thread, counters), hence the lock.
    """

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self._handles = netns.ipr(ns)
        self._ipr = self._handles.__enter__()
        self._lock = threading.Lock()
        self._index: dict[str, int] = {}

    def index(self, ifname: str) -> int:
        if ifname not in self._index:
            found = self._ipr.link_lookup(ifname=ifname)
            if not found:
                raise HostError(f"interface {ifname!r} not found", where=f"namespace {self.ns}",
                                fix="is the lab up? `skybench lab status`")
            self._index[ifname] = found[0]
        return self._index[ifname]

    def request(self, ifname: str, imp: Impairment, *, create: bool) -> None:
        msg = netem_tcmsg()
        msg["family"] = 0
        msg["handle"] = NETEM_HANDLE
        msg["parent"] = TC_H_ROOT
        msg["attrs"] = [["TCA_KIND", "netem"], ["TCA_OPTIONS", netem_options_for(imp)]]
        # create: add (fails if a root qdisc is there); update: NLM_F_REPLACE without CREATE is
        # `tc qdisc change`: netem_change() on the existing qdisc, its queue untouched.
        msg["header"]["type"] = RTM_NEWQDISC
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if create else NLM_F_REPLACE)
        with self._lock:
            msg["index"] = self.index(ifname)
            # nlm_request_batch, not nlm_request: pyroute2 0.9.7's sync nlm_request reads a
            # status key the sync IPRoute/NetNS never set (KeyError 'nlm_generator'). The batch
            # call sends the message as built (type and flags from its header), waits for the
            # ACK and raises NetlinkError on a refusal.
            self._ipr.nlm_request_batch([msg])

    def _netem_qdisc(self, ifname: str) -> Any:
        with self._lock:
            for qdisc in self._ipr.get_qdiscs(index=self.index(ifname)):
                if qdisc.get_attr("TCA_KIND") == "netem" and qdisc["parent"] == TC_H_ROOT:
                    return qdisc
        return None

    def stats(self, ifname: str) -> dict[str, int]:
        qdisc = self._netem_qdisc(ifname)
        if qdisc is None:
            return {"bytes": 0, "packets": 0, "drop": 0, "qlen": 0, "backlog": 0}
        stats = qdisc.get_attr("TCA_STATS")
        return {"bytes": stats["bytes"], "packets": stats["packets"], "drop": stats["drop"],
                "qlen": stats["qlen"], "backlog": stats["backlog"]}

    def read(self, ifname: str) -> Impairment | None:
        """What the kernel's netem on `ifname` does now, decoded with this module's own layout
        (pyroute2's decoder skips LATENCY64/JITTER64 and the loss model)."""
        qdisc = self._netem_qdisc(ifname)
        if qdisc is None:
            return None
        raw = netem_tcmsg(qdisc.data[qdisc.offset:qdisc.offset + qdisc["header"]["length"]])
        raw.decode()
        return impairment_from_netem(raw.get_attr("TCA_OPTIONS"))

    def delete(self, ifname: str) -> None:
        with self._lock:
            found = self._ipr.link_lookup(ifname=ifname)
            if found:
                try:
                    self._ipr.tc("del", index=found[0], handle=NETEM_HANDLE, root=True)
                except Exception:  # noqa: BLE001 - already gone is what we want
                    pass

    def close(self) -> None:
        self._handles.__exit__(None, None, None)


class _DropLedger:
    """netem counts drops as one number; attribute each increase to the cause active then."""

    def __init__(self) -> None:
        self.seen = 0
        self.by_cause = {"dropped_loss": 0, "dropped_outage": 0, "dropped_queue_full": 0}

    def observe(self, total: int, active: Impairment) -> None:
        delta, self.seen = total - self.seen, total
        if delta > 0:
            self.by_cause[self.cause(active)] += delta

    @staticmethod
    def cause(active: Impairment) -> str:
        """What a drop under `active` is attributed to."""
        if active.outage:
            return "dropped_outage"
        if active.loss or active.gilbert_elliott:
            return "dropped_loss"
        return "dropped_queue_full"


class NetemBackend(LinkBackend):
    name = "netem"

    def __init__(self, ns: str, term_if: str, gnd_if: str) -> None:
        super().__init__(ns, term_if, gnd_if)
        # The egress that carries each direction.
        self.egress = {"uplink": gnd_if, "downlink": term_if}
        self.active: dict[str, Impairment] = {}
        self.drops = {d: _DropLedger() for d in DIRECTIONS}
        self.started = False
        self.qdiscs: NetemQdiscs | None = None

    def start(self, spec: LinkSpec) -> None:
        self.started = True
        try:
            self.qdiscs = NetemQdiscs(self.ns)
            for direction in DIRECTIONS:
                imp = spec.direction(direction)
                self.qdiscs.request(self.egress[direction], imp, create=True)
                self.active[direction] = imp
            # Qdiscs first, bridge last: no frame crosses the link unimpaired.
            create_bridge(self.ns, self.term_if, self.gnd_if)
        except BaseException:
            self.stop()
            raise

    @classmethod
    def attach(cls, address: LinkAddress) -> NetemBackend:
        backend = cls(address.ns, address.term_if, address.gnd_if)
        backend.qdiscs = NetemQdiscs(address.ns)
        try:
            backend.active = {d: backend.current_direction(d) for d in DIRECTIONS}
        except BaseException:
            backend.detach()
            raise
        return backend

    def address(self) -> LinkAddress:
        return LinkAddress(backend="netem", ns=self.ns, term_if=self.term_if, gnd_if=self.gnd_if)

    def current_direction(self, direction: str) -> Impairment:
        assert self.qdiscs is not None
        found = self.qdiscs.read(self.egress[direction])
        if found is None:
            raise HostError(f"no netem qdisc on {self.egress[direction]} ({direction})",
                            where=f"namespace {self.ns}", fix="the link was removed; is the lab still up?")
        return found

    def current(self) -> LinkSpec:
        return LinkSpec(**{d: self.current_direction(d) for d in DIRECTIONS})

    def _require_qdiscs(self) -> NetemQdiscs:
        if self.qdiscs is None:
            raise HostError("the netem link is not running", where=f"namespace {self.ns}")
        return self.qdiscs

    def apply(self, direction: str, impairment: Impairment) -> None:
        qdiscs = self._require_qdiscs()
        # Drops so far belong to the old parameters: settle them before the cause changes (a
        # netlink dump; skipped when the cause stays the same, so fast updates stay cheap).
        if _DropLedger.cause(impairment) != _DropLedger.cause(self.active[direction]):
            self.drops[direction].observe(qdiscs.stats(self.egress[direction])["drop"], self.active[direction])
        qdiscs.request(self.egress[direction], impairment, create=False)
        self.active[direction] = impairment

    def counters(self) -> LinkCounters:
        qdiscs = self._require_qdiscs()
        found = {}
        for direction in DIRECTIONS:
            stats = qdiscs.stats(self.egress[direction])
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

    def detach(self) -> None:
        if self.qdiscs is not None:
            self.qdiscs.close()
            self.qdiscs = None

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            if netns.exists(self.ns):
                remove_bridge(self.ns)
                qdiscs = self.qdiscs or NetemQdiscs(self.ns)
                self.qdiscs = qdiscs
                for ifname in self.egress.values():
                    qdiscs.delete(ifname)
        finally:
            self.detach()
