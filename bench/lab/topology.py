"""The lab's topology: which namespaces, which links between them, which addresses.

    passengers ─┐                 ┌─ term-<wan> ── sky-<wan> ─┐
                ├── router (DUT) ─┤  (terminal)    (link      ├── ground
    ops ────────┘                 └─ ...           emulator)  ┘   (servers, gateways)

The plan (`TopologyPlan`) is pure data, computed from the lab file; `build_topology` makes it real
with pyroute2, writing each namespace into the cleanup ledger before creating it. Veth pairs are
created inside a lab namespace with their peer placed straight into another.

In a hardware lab (`plan_topology(..., cables=...)`) there is no router namespace: the DUT is a
box cabled to host interfaces, and those interfaces are the plan's `cables`, each taken into a
lab namespace under the name the lab uses there (bench.lab.hostif): the DUT's LAN port is the
passengers' `wifi0`, its ops port the ops LAN's `ops0`, each WAN port a terminal's `lan0` (or, in
real-terminal mode, the sky link's `term`, with the real terminal's LAN port as its `gnd`).
Nothing else of the root namespace is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network

from bench.errors import HostError
from bench.lab import addressing, hostif, netns
from bench.lab.state import Ledger
from bench.steps import step


@dataclass(frozen=True)
class Endpoint:
    role: str  # namespace role, e.g. "router"
    ifname: str
    address: IPv4Interface | None = None


@dataclass(frozen=True)
class Wire:
    """A veth pair between two namespaces."""

    a: Endpoint
    b: Endpoint


@dataclass(frozen=True)
class Route:
    role: str
    dst: IPv4Network | str  # "default" or a network
    via: str


@dataclass(frozen=True)
class Cable:
    """A host interface the lab takes into one of its namespaces (hardware labs)."""

    field: str  # the lab file's field naming it, for messages
    host_ifname: str
    role: str
    inside: str
    address: IPv4Interface | None = None


@dataclass(frozen=True)
class WanPath:
    name: str
    kind: str
    provider: str
    priority: int
    backend: str  # the lab file's request: auto | netem | userspace
    addresses: addressing.WanAddresses
    real_terminal: bool = False  # a real terminal's LAN port is the sky link's ground side

    @property
    def terminal_role(self) -> str:
        return f"term-{self.name}"

    @property
    def sky_role(self) -> str:
        return f"sky-{self.name}"


@dataclass
class TopologyPlan:
    prefix: str
    wans: list[WanPath]
    wires: list[Wire] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    forwarding_roles: list[str] = field(default_factory=list)
    ground_addresses: list[IPv4Interface] = field(default_factory=list)
    extra_roles: list[str] = field(default_factory=list)  # namespaces added while the lab runs
    cables: list[Cable] = field(default_factory=list)  # hardware labs: host interfaces taken in
    router_in_lab: bool = True  # the DUT is a namespace of the lab (the embedded lab)
    ops_on_passenger_lan: bool = False  # no ops cable: the ops LAN's port is a macvlan of wifi0

    @property
    def base_roles(self) -> list[str]:
        return (
            ["passengers", "ops"]
            + (["router"] if self.router_in_lab else [])
            + [w.terminal_role for w in self.wans if not w.real_terminal]
            + [w.sky_role for w in self.wans]
            + ["ground"]
        )

    @property
    def roles(self) -> list[str]:
        return self.base_roles + self.extra_roles

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"


# Interface names inside the sky namespaces: the link emulator bridges these two.
SKY_TERMINAL_SIDE = "term"
SKY_GROUND_SIDE = "gnd"


def plan_topology(prefix: str, wans: list[WanPath], *, reference_router: bool = False) -> TopologyPlan:
    """Lay out the embedded lab for the given WANs (already ordered by priority).

    With reference_router, the router namespace runs bench.devices.reference, which NATs every
    WAN: the ground then routes only the router's WAN /29s (no route to the onboard LANs, so a
    packet that escapes the NAT is lost, not silently delivered). Without it (another DUT), the
    router's default route and the ground's route to the onboard LANs go through the
    highest-priority WAN."""
    plan = TopologyPlan(prefix=prefix, wans=wans)
    a = addressing
    plan.wires += [
        Wire(Endpoint("passengers", "wifi0", a.PASSENGER_PROBE), Endpoint("router", "lan-pass", a.ROUTER_PASSENGER)),
        Wire(Endpoint("ops", "ops0", a.OPS_PROBE), Endpoint("router", "lan-ops", a.ROUTER_OPS)),
    ]
    plan.routes += [
        Route("passengers", "default", str(a.ROUTER_PASSENGER.ip)),
        Route("ops", "default", str(a.ROUTER_OPS.ip)),
    ]
    plan.forwarding_roles = ["router"] + [w.terminal_role for w in wans]
    plan.ground_addresses = [a.GROUND_SERVER] + [IPv4Interface(f"{ip}/32") for ip in
                                                 (a.PAYMENT, a.CONNECTIVITY_CHECK, a.RESOLVER, *a.ORIGIN_SERVICES.values())]
    for wan in wans:
        ad = wan.addresses
        plan.wires += [
            Wire(Endpoint("router", f"wan-{wan.name}", ad.router), Endpoint(wan.terminal_role, "lan0", ad.terminal_lan)),
            Wire(Endpoint(wan.terminal_role, "sat0", ad.terminal_sky), Endpoint(wan.sky_role, SKY_TERMINAL_SIDE)),
            Wire(Endpoint(wan.sky_role, SKY_GROUND_SIDE), Endpoint("ground", f"gw-{wan.name}", ad.gateway)),
        ]
        plan.routes += [
            # The terminal hands everything to its ground gateway and the train's LANs to the router.
            Route(wan.terminal_role, "default", str(ad.gateway.ip)),
            Route(wan.terminal_role, a.ONBOARD, str(ad.router.ip)),
            # A per-WAN probe target, reachable only through this WAN (health probes use it).
            Route("router", IPv4Network(f"{ad.probe_target}/32"), str(ad.terminal_lan.ip)),
            Route("ground", ad.router.network, str(ad.terminal_sky.ip)),
        ]
        plan.ground_addresses.append(IPv4Interface(f"{ad.probe_target}/32"))
    primary = wans[0].addresses
    # Static routing through the highest-priority WAN until the DUT's own routing runs (the
    # reference router replaces the router's default route with its policy routing).
    plan.routes.append(Route("router", "default", str(primary.terminal_lan.ip)))
    if not reference_router:
        plan.routes.append(Route("ground", a.ONBOARD, str(primary.terminal_sky.ip)))
    return plan


def plan_hardware_topology(prefix: str, wans: list[WanPath], *, lan: str, ops: str | None,
                           dut_ports: dict[str, str], terminal_ports: dict[str, str]) -> TopologyPlan:
    """Lay out a hardware lab: the DUT is cabled to host interfaces (`lan`, `ops`, per WAN
    `dut_ports[wan]` and, in real-terminal mode, `terminal_ports[wan]`); no router namespace.

    Every real router NATs its WANs, so the ground routes each WAN's /29 (handed to the DUT's port
    by the emulated terminal's DHCP) and nothing of the train's LANs."""
    plan = TopologyPlan(prefix=prefix, wans=wans, router_in_lab=False, ops_on_passenger_lan=ops is None)
    a = addressing
    plan.cables.append(Cable("dut.lan_interface", lan, "passengers", "wifi0"))
    if ops is not None:
        plan.cables.append(Cable("dut.ops_interface", ops, "ops", "ops0"))
    plan.forwarding_roles = [w.terminal_role for w in wans if not w.real_terminal]
    plan.ground_addresses = [a.GROUND_SERVER] + [IPv4Interface(f"{ip}/32") for ip in
                                                 (a.PAYMENT, a.CONNECTIVITY_CHECK, a.RESOLVER, *a.ORIGIN_SERVICES.values())]
    for i, wan in enumerate(wans):
        ad = wan.addresses
        plan.ground_addresses.append(IPv4Interface(f"{ad.probe_target}/32"))
        if wan.real_terminal:
            plan.cables.append(Cable(f"wans[{i}].dut_interface", dut_ports[wan.name], wan.sky_role, SKY_TERMINAL_SIDE))
            plan.cables.append(Cable(f"wans[{i}].terminal.interface", terminal_ports[wan.name], wan.sky_role, SKY_GROUND_SIDE))
            continue
        plan.cables.append(Cable(f"wans[{i}].dut_interface", dut_ports[wan.name], wan.terminal_role, "lan0", ad.terminal_lan))
        plan.wires += [
            Wire(Endpoint(wan.terminal_role, "sat0", ad.terminal_sky), Endpoint(wan.sky_role, SKY_TERMINAL_SIDE)),
            Wire(Endpoint(wan.sky_role, SKY_GROUND_SIDE), Endpoint("ground", f"gw-{wan.name}", ad.gateway)),
        ]
        plan.routes += [
            Route(wan.terminal_role, "default", str(ad.gateway.ip)),
            Route("ground", ad.router.network, str(ad.terminal_sky.ip)),
        ]
    return plan


def build_topology(plan: TopologyPlan, ledger: Ledger) -> None:
    """Create the namespaces, wires, cables, addresses and routes of the plan."""
    with step("create namespaces", prefix=plan.prefix, count=len(plan.base_roles)):
        for role in plan.base_roles:
            name = plan.ns(role)
            ledger.record("netns", name=name, role=role)
            netns.create(name)
            with netns.ipr(name) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    with step("wire namespaces", wires=len(plan.wires)):
        for wire in plan.wires:
            _make_wire(plan, wire)
    if plan.cables:
        _take_cables(plan, ledger)
    with step("ground addresses"):
        # On the ground's loopback, as host addresses: kernels without the dummy module (like
        # this one) still have lo, and each server address is reachable on every gateway port.
        with netns.ipr(plan.ns("ground")) as ipr:
            idx = ipr.link_lookup(ifname="lo")[0]
            for address in plan.ground_addresses:
                ipr.addr("add", index=idx, address=str(address.ip), prefixlen=32)
    with step("enable forwarding", roles=",".join(plan.forwarding_roles)):
        for role in plan.forwarding_roles:
            netns.sysctl(plan.ns(role), "net.ipv4.ip_forward", 1)
    with step("routes", count=len(plan.routes)):
        for route in plan.routes:
            with netns.ipr(plan.ns(route.role)) as ipr:
                if route.dst == "default":
                    ipr.route("replace", dst="0.0.0.0/0", gateway=route.via)
                else:
                    ipr.route("replace", dst=str(route.dst), gateway=route.via)


def _take_cables(plan: TopologyPlan, ledger: Ledger) -> None:
    """Each host interface into its namespace, in the ledger (with how it was) before it moves."""
    with step("take cables", cables=",".join(c.host_ifname for c in plan.cables)):
        for cable in plan.cables:
            found = hostif.inspect(cable.host_ifname)
            if found is None:
                raise HostError(f"no interface {cable.host_ifname!r} on this host", where=cable.field,
                                fix="name the host interface cabled to the DUT (`ip link` lists them)")
            ledger.record("host_interface", interface=found.record(), namespace=plan.ns(cable.role), inside=cable.inside,
                          field=cable.field)
            hostif.move_in(found, plan.ns(cable.role), cable.inside)
            if cable.address is not None:
                with netns.ipr(plan.ns(cable.role)) as ipr:
                    idx = ipr.link_lookup(ifname=cable.inside)[0]
                    ipr.addr("add", index=idx, address=str(cable.address.ip), prefixlen=cable.address.network.prefixlen)
        if plan.ops_on_passenger_lan:
            # One LAN for passengers and ops: the ops devices' port is a macvlan of the LAN cable.
            with netns.ipr(plan.ns("passengers")) as ipr:
                lower = ipr.link_lookup(ifname="wifi0")[0]
                ipr.link("add", ifname="ops0", kind="macvlan", link=lower, macvlan_mode="bridge")
                ipr.link("set", index=ipr.link_lookup(ifname="ops0")[0], net_ns_fd=plan.ns("ops"))
            with netns.ipr(plan.ns("ops")) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="ops0")[0], state="up")


def _make_wire(plan: TopologyPlan, wire: Wire) -> None:
    a_ns, b_ns = plan.ns(wire.a.role), plan.ns(wire.b.role)
    with netns.ipr(a_ns) as ipr:
        ipr.link("add", ifname=wire.a.ifname, kind="veth", peer={"ifname": wire.b.ifname, "net_ns_fd": b_ns})
    for ns_name, end in ((a_ns, wire.a), (b_ns, wire.b)):
        with netns.ipr(ns_name) as ipr:
            idx = ipr.link_lookup(ifname=end.ifname)[0]
            if end.address is not None:
                ipr.addr("add", index=idx, address=str(end.address.ip), prefixlen=end.address.network.prefixlen)
            ipr.link("set", index=idx, state="up")
