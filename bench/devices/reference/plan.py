"""The router's runtime plan: its ports, per-WAN marks and routing tables, and where it keeps its
files. Computed by the bench from the lab's topology and handed to the router daemon as JSON, so
the daemon never has to know about the lab."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bench.devices.reference.config import RouterConfig
from bench.errors import BenchError
from bench.lab import addressing
from bench.lab.topology import TopologyPlan

PASSENGER_IF = "lan-pass"
OPS_IF = "lan-ops"
TABLE_BASE = 100  # WAN i routes in table 100+i+1
MARK_BASE = 0x100  # WAN i's packets carry fwmark 0x100+i+1
RULE_PRIORITY_BASE = 1000
PORTAL_PORT = 80


class WanPort(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    index: int
    priority: int
    ifname: str
    address: str  # the router's address on the WAN port
    gateway: str  # the terminal's LAN address
    probe_target: str
    mark: int
    table: int
    uplink_kbit: int


# Every file the router writes: the bench records each in the lab's cleanup ledger before it
# exists, so even a lab that was SIGKILLed leaves none behind (the next lab removes them).
RUN_FILES = (
    "plan.json", "ruleset.nft", "dnsmasq.conf", "dnsmasq.leases", "dnsmasq.log", "events.jsonl",
    "routerd.out", "dnsmasq.out",
    "flash.json", "flash.json.tmp",  # the router's persistent state (bench.devices.reference.flash)
    "ssh-face.out", "snmpd.conf", "snmpd.out",  # the SSH and SNMP faces (bench.devices.reference.faces)
)


class RouterPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespace: str
    file_prefix: str  # the router's files are <file_prefix>.<name>, name in RUN_FILES
    wans: list[WanPort]
    passenger_if: str = PASSENGER_IF
    ops_if: str = OPS_IF
    passenger_address: str = str(addressing.ROUTER_PASSENGER.ip)
    ops_address: str = str(addressing.ROUTER_OPS.ip)
    passenger_lan: str = str(addressing.PASSENGER_LAN)
    ops_lan: str = str(addressing.OPS_LAN)
    origin_address: str = str(addressing.GROUND_SERVER.ip)
    payment_address: str = str(addressing.PAYMENT)  # the operator's payment provider, on the ground
    resolver_address: str = str(addressing.RESOLVER)  # the upstream DNS resolver, on the ground
    portal_port: int = PORTAL_PORT
    config: RouterConfig

    def wan(self, name: str) -> WanPort:
        return next(w for w in self.wans if w.name == name)

    def class_order(self, traffic_class: str) -> list[str]:
        """The WANs a traffic class may use, most preferred first."""
        chosen = getattr(self.config.traffic_classes, traffic_class).wans
        if chosen:
            return [w for w in chosen if any(p.name == w for p in self.wans)]
        return [w.name for w in sorted(self.wans, key=lambda w: w.priority)]

    def file(self, name: str) -> Path:
        if name not in RUN_FILES:
            raise ValueError(f"{name} is not one of the router's files (RUN_FILES)")
        return Path(f"{self.file_prefix}.{name}")

    @property
    def state_log(self) -> Path:
        return self.file("events.jsonl")

    @property
    def flash_file(self) -> Path:
        return self.file("flash.json")

    @property
    def plan_file(self) -> Path:
        return self.file("plan.json")


def make_plan(topology: TopologyPlan, config: RouterConfig, file_prefix: str) -> RouterPlan:
    wans = []
    for wan in topology.wans:
        i = wan.addresses.index
        wans.append(
            WanPort(
                name=wan.name,
                index=i,
                priority=wan.priority,
                ifname=f"wan-{wan.name}",
                address=str(wan.addresses.router.ip),
                gateway=str(wan.addresses.terminal_lan.ip),
                probe_target=str(wan.addresses.probe_target),
                mark=MARK_BASE + i + 1,
                table=TABLE_BASE + i + 1,
                uplink_kbit=config.shaping(wan.name).uplink_kbit,
            )
        )
    unknown = [n for tc in ("ops", "passengers") for n in getattr(config.traffic_classes, tc).wans if n not in {w.name for w in wans}]
    if unknown:
        raise BenchError(
            f"traffic_classes names WANs the lab does not have: {', '.join(unknown)}",
            where="router configuration",
            fix=f"use the lab's WAN names: {', '.join(w.name for w in wans)}",
        )
    return RouterPlan(namespace=topology.ns("router"), file_prefix=file_prefix, wans=wans, config=config)
