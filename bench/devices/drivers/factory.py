"""Build the driver a lab file asks for: `dut.driver` for the router, `wans[i].terminal.driver`
for each terminal. Tests call `router_driver(lab)` / `terminal_driver(lab, "starlink")` and get an
OnboardRouter / SatelliteTerminal; pointing the lab file at another device needs no code change.

    driver            device              default port  reaches
    ssh               OnboardRouter       22            OpenWrt: ubus, uci, mwan3, openNDS, logread
    rest              OnboardRouter       80            the REST status API (bench/devices/drivers/rest.py)
    snmp              OnboardRouter       161           IF-MIB interfaces and counters, sysDescr, sysUpTime
    starlink-grpc     SatelliteTerminal   9200          the dish's gRPC API (starlink-grpc-core)
    rest              SatelliteTerminal   80            GET /api/v1/status
    snmp              SatelliteTerminal   161           IF-MIB link state and counters, sysUpTime
    embedded          (embedded lab)      -             terminals: the lab's status services
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.devices.drivers.base import DeviceTarget
from bench.devices.protocols import OnboardRouter, SatelliteTerminal
from bench.errors import BenchError
from bench.lab import addressing
from bench.lab.model import LabConfig

if TYPE_CHECKING:
    from bench.lab.lab import Lab

DEFAULT_PORTS = {"ssh": 22, "rest": 80, "snmp": 161, "starlink-grpc": 9200}

# The embedded lab's reference router answers the REST status API on its operations-LAN address;
# the bench reaches it from the ops namespace, as a depot laptop on the ops VLAN would.
EMBEDDED_ROUTER_ADDRESS = str(addressing.ROUTER_OPS.ip)
EMBEDDED_ROUTER_PORT = 8080
EMBEDDED_ROUTER_ROLE = "ops"


def driver_class(kind: str) -> tuple[type, type]:
    """(driver class, protocol) for a driver kind: router-ssh, terminal-rest, ..."""
    if kind == "router-ssh":
        from bench.devices.drivers.ssh import OpenWrtSshRouter
        return OpenWrtSshRouter, OnboardRouter
    if kind == "router-rest":
        from bench.devices.drivers.rest import RestRouter
        return RestRouter, OnboardRouter
    if kind == "router-snmp":
        from bench.devices.drivers.snmp import SnmpRouter
        return SnmpRouter, OnboardRouter
    if kind == "terminal-starlink-grpc":
        from bench.devices.drivers.starlink import StarlinkGrpcTerminal
        return StarlinkGrpcTerminal, SatelliteTerminal
    if kind == "terminal-rest":
        from bench.devices.drivers.rest import RestTerminal
        return RestTerminal, SatelliteTerminal
    if kind == "terminal-snmp":
        from bench.devices.drivers.snmp import SnmpTerminal
        return SnmpTerminal, SatelliteTerminal
    raise BenchError(f"no driver {kind!r}", fix="use one of the drivers listed in docs/devices.md")


def build(kind: str, target: DeviceTarget, *, netns: str | None = None) -> Any:
    """The driver itself, or (netns given) a stand-in that runs it inside that namespace."""
    cls, protocol = driver_class(kind)
    if netns is None:
        return cls(target)
    from bench.devices.drivers.remote import InNamespace
    return InNamespace(kind, target, netns, protocol)


def router_driver(lab: LabConfig, *, embedded: Lab | None = None, netns: str | None = None,
                  timeout_s: float = 5.0) -> OnboardRouter:
    """The lab's onboard router. `embedded`: the running lab (the embedded router is reached
    inside its namespaces; a hardware router with `management: ops-lan` from its ops LAN);
    `netns`: a namespace to reach a hardware router from (default: this host's own network)."""
    dut = lab.dut
    if dut.driver != "embedded" and dut.management == "ops-lan" and netns is None:
        if embedded is None:
            raise BenchError("a router managed over its ops LAN can only be reached with its lab running",
                             where="dut.management: ops-lan", fix="pass embedded=lab (the running Lab)")
        netns = embedded.ns("ops")
    if dut.driver == "embedded":
        if embedded is None:
            raise BenchError("the embedded router can only be reached with its lab running",
                             where="dut.driver: embedded", fix="pass embedded=lab (the running Lab)")
        target = DeviceTarget(name=dut.name, driver="rest", address=dut.address or EMBEDDED_ROUTER_ADDRESS,
                              port=dut.port or EMBEDDED_ROUTER_PORT, credentials=dut.credentials,
                              timeout_s=timeout_s)
        return build("router-rest", target, netns=embedded.ns(EMBEDDED_ROUTER_ROLE))
    if dut.address is None:
        raise BenchError(f"dut.address is required for driver {dut.driver}", where="dut.address",
                         fix="write the router's management address in the lab file")
    target = DeviceTarget(name=dut.name, driver=dut.driver, address=dut.address,
                          port=dut.port or DEFAULT_PORTS[dut.driver], credentials=dut.credentials,
                          timeout_s=timeout_s)
    return build(f"router-{dut.driver}", target, netns=netns)


def terminal_driver(lab: LabConfig, wan: str, *, embedded: Lab | None = None, netns: str | None = None,
                    timeout_s: float = 5.0) -> SatelliteTerminal:
    """The terminal of one WAN. Embedded terminals are reached from the router's namespace, on
    the terminal's LAN address, where start_terminal_services(lab) serves them."""
    config = lab.wan(wan)
    terminal = config.terminal
    name = f"{wan}-terminal"
    if terminal.driver == "none":
        raise BenchError(f"WAN {wan} has no terminal management (driver: none)",
                         where=f"wans[{wan}].terminal.driver", fix="set a terminal driver in the lab file")
    if terminal.driver == "embedded":
        if embedded is None:
            raise BenchError("embedded terminals can only be reached with their lab running",
                             where=f"wans[{wan}].terminal.driver: embedded", fix="pass embedded=lab (the running Lab)")
        from bench.devices.terminals.services import service_for
        protocol, port = service_for(config.provider)
        path = next(w for w in embedded.plan.wans if w.name == wan)
        target = DeviceTarget(name=name, driver=protocol, address=str(path.addresses.terminal_lan.ip),
                              port=port, timeout_s=timeout_s)
        kind = "terminal-starlink-grpc" if protocol == "starlink-grpc" else "terminal-rest"
        # Where the DUT reaches it (its WAN port's side); a hardware lab has no router namespace,
        # so the terminal's own namespace, where the service listens.
        where = embedded.ns("router") if embedded.plan.router_in_lab else embedded.ns(path.terminal_role)
        return build(kind, target, netns=where)
    if terminal.address is None:
        raise BenchError(f"the terminal address is required for driver {terminal.driver}",
                         where=f"wans[{wan}].terminal.address", fix="write the terminal's management address")
    target = DeviceTarget(name=name, driver=terminal.driver, address=terminal.address,
                          port=terminal.port or DEFAULT_PORTS[terminal.driver], credentials=terminal.credentials,
                          timeout_s=timeout_s)
    return build(f"terminal-{terminal.driver}", target, netns=netns)
