"""What tests ask of devices: the onboard router and the satellite terminal (labgrid's "protocols").

A test holds an `OnboardRouter` or a `SatelliteTerminal` and never knows how the device is
reached: SSH to an OpenWrt box, HTTP/JSON, SNMP, the Starlink dish's gRPC service, or the embedded
lab's own emulations all answer the same calls with the same pydantic models. The lab file picks
the driver (`bench/devices/drivers/factory.py`).

A driver that cannot answer a call over its protocol (SNMP knows nothing of captive-portal
sessions) raises `UnsupportedByDriver`, a BenchError that names the driver and the ones that can.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from bench.errors import BenchError

TrafficClass = Literal["passenger", "operational"]
"""Who the traffic belongs to: passengers' Wi-Fi, or operations (POS, CCTV, conductors)."""

TRAFFIC_CLASSES: tuple[TrafficClass, ...] = ("passenger", "operational")


class DeviceModel(BaseModel):
    """Base of every result: frozen, and strict about unknown fields so a renamed field fails loudly."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- onboard router ----------------------------------------------------------------------------


class WanState(DeviceModel):
    """One WAN uplink as the router sees it."""

    name: str = Field(description="the router's name for the WAN (lab file WAN name or uci interface)")
    up: bool = Field(description="the router considers the WAN usable (link up and health probes pass)")
    active: bool = Field(False, description="carries traffic now for at least one traffic class")
    latency_ms: float | None = Field(None, ge=0, description="health-probe round-trip time, None if unknown")
    loss: float | None = Field(None, ge=0, le=1, description="health-probe loss fraction, None if unknown")
    interface: str | None = Field(None, description="the Linux device behind the WAN")
    address: str | None = Field(None, description="the router's IPv4 address on the WAN")
    rx_bytes: int | None = Field(None, ge=0)
    tx_bytes: int | None = Field(None, ge=0)


class Client(DeviceModel):
    """A device connected to one of the router's LANs (from its DHCP leases)."""

    mac: str
    ip: str
    hostname: str | None = None
    lease_expires: datetime | None = None


PortalTier = Literal["unauthenticated", "free", "premium-1gb", "unlimited"]


class PortalSession(DeviceModel):
    """A client's captive-portal session: its tier, quota and what it used."""

    mac: str
    ip: str
    tier: PortalTier
    quota_bytes: int | None = Field(None, ge=0, description="None: no volume quota")
    used_bytes: int = Field(0, ge=0, description="bytes counted against the session (both directions)")
    speed_cap_bps: int | None = Field(None, ge=0, description="None: not capped")

    @property
    def remaining_bytes(self) -> int | None:
        return None if self.quota_bytes is None else max(0, self.quota_bytes - self.used_bytes)


class Firmware(DeviceModel):
    vendor: str
    model: str | None = None
    version: str
    description: str | None = None


class LogEntry(DeviceModel):
    time: datetime
    facility: str | None = None
    severity: str | None = None
    source: str | None = Field(None, description="the program that logged it, e.g. dnsmasq-dhcp")
    message: str


RouterConfig = dict[str, Any]
"""A configuration change. Keys are dotted paths (`mwan3.starlink.down`, `portal.free_cap_kbps`);
the SSH driver turns them into `uci set` commands, the REST driver sends them as JSON."""


@runtime_checkable
class OnboardRouter(Protocol):
    """The train's onboard router (the device under test)."""

    name: str

    def wans(self) -> list[WanState]: ...

    def active_wan(self, traffic_class: TrafficClass = "passenger") -> str | None:
        """The WAN that carries this traffic class now (None: no WAN is up)."""
        ...

    def clients(self) -> list[Client]: ...

    def portal_sessions(self) -> list[PortalSession]: ...

    def firmware(self) -> Firmware: ...

    def logs_since(self, since: datetime) -> list[LogEntry]: ...

    def uptime_s(self) -> float:
        """Seconds since the router (re)booted: a reboot shows as an uptime that went back."""
        ...

    def reboot(self) -> None: ...

    def apply_config(self, config: RouterConfig) -> None: ...

    def close(self) -> None: ...


# --- satellite terminal ------------------------------------------------------------------------


class TerminalState(str, enum.Enum):
    """What a terminal says about its link; vendors' states map onto these."""

    CONNECTED = "CONNECTED"
    SEARCHING = "SEARCHING"  # looking for a satellite / cell (Starlink NO_SCHEDULE)
    OBSTRUCTED = "OBSTRUCTED"  # sky view blocked (tunnel, cutting, station roof)
    NO_SATELLITES = "NO_SATELLITES"
    BOOTING = "BOOTING"
    STOWED = "STOWED"
    OFFLINE = "OFFLINE"  # management reachable, link interface down
    UNKNOWN = "UNKNOWN"


class Obstruction(DeviceModel):
    currently_obstructed: bool
    fraction_obstructed: float = Field(ge=0, le=1, description="share of the observed time obstructed")
    valid_s: float | None = Field(None, ge=0, description="how long the fraction was observed")


class Throughput(DeviceModel):
    downlink_bps: float = Field(ge=0)
    uplink_bps: float = Field(ge=0)


class TerminalStatus(DeviceModel):
    """Everything a terminal reports at one moment (what the status services serve)."""

    state: TerminalState
    latency_ms: float | None = Field(None, ge=0, description="round trip to the ground (Starlink: PoP ping)")
    drop_rate: float = Field(ge=0, le=1, description="share of pings to the ground that got no answer")
    obstruction: Obstruction
    throughput: Throughput
    alerts: list[str] = Field(default_factory=list, description="names of the alerts raised now")
    uptime_s: int = Field(ge=0)
    device_id: str | None = None
    hardware_version: str | None = None
    software_version: str | None = None


@runtime_checkable
class SatelliteTerminal(Protocol):
    """A WAN terminal: Starlink or OneWeb user terminal (or an LTE modem, which answers the same)."""

    name: str

    def status(self) -> TerminalStatus: ...

    def state(self) -> TerminalState: ...

    def latency_ms(self) -> float | None: ...

    def drop_rate(self) -> float: ...

    def obstruction(self) -> Obstruction: ...

    def throughput(self) -> Throughput: ...

    def alerts(self) -> list[str]: ...

    def uptime_s(self) -> int: ...

    def reboot(self) -> None: ...

    def close(self) -> None: ...


class UnsupportedByDriver(BenchError):
    """The driver's protocol cannot answer this call (e.g. portal sessions over SNMP)."""

    def __init__(self, call: str, *, device: str, driver: str, alternatives: str) -> None:
        super().__init__(
            f"the {driver} driver cannot answer {call}(): its protocol does not carry that information",
            where=f"device {device} (driver {driver})",
            fix=f"set `driver: {alternatives}` for this device in the lab file, or do not call {call}() on it",
        )
