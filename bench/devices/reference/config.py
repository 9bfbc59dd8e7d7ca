"""The reference router's configuration: the schema of router.yaml and how to load it.

Unknown fields are refused (a mistyped threshold must not silently fall back to a default); a
test changes a copy with `RouterConfig.override({"health": {"down_after": 10}})`.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.errors import BenchError

DEFAULT_CONFIG = Path(__file__).with_name("router.yaml")

PositiveSeconds = Annotated[float, Field(gt=0)]
Kbit = Annotated[int, Field(gt=0)]


class RouterModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HealthConfig(RouterModel):
    interval_s: PositiveSeconds = 1.0
    timeout_s: PositiveSeconds = 0.8
    down_after: Annotated[int, Field(ge=1)] = 3
    up_after: Annotated[int, Field(ge=1)] = 3
    failback_hold_s: Annotated[float, Field(ge=0)] = 30.0
    probe_port: Annotated[int, Field(ge=1, le=65535)] = 7070

    @model_validator(mode="after")
    def _timeout_fits_interval(self) -> HealthConfig:
        if self.timeout_s > self.interval_s:
            raise ValueError("health.timeout_s must not exceed health.interval_s (probes would overlap)")
        return self

    @property
    def detection_s(self) -> float:
        """Worst case from a WAN failing to the router declaring it down."""
        return self.down_after * self.interval_s + self.timeout_s


class WanShaping(RouterModel):
    uplink_kbit: Kbit = 50000


class TrafficClassConfig(RouterModel):
    wans: list[str] = []


class TrafficClasses(RouterModel):
    ops: TrafficClassConfig = TrafficClassConfig()
    passengers: TrafficClassConfig = TrafficClassConfig()


class QosConfig(RouterModel):
    ops_share: Annotated[float, Field(gt=0, lt=1)] = 0.4
    router_share: Annotated[float, Field(gt=0, lt=1)] = 0.05

    @model_validator(mode="after")
    def _shares_leave_room(self) -> QosConfig:
        if self.ops_share + self.router_share >= 1:
            raise ValueError("qos.ops_share + qos.router_share must leave a share for passengers (< 1)")
        return self


class FreeTier(RouterModel):
    down_kbit: Kbit = 2000
    up_kbit: Kbit = 1000
    mechanism: Literal["htb", "nft-limit"] = "htb"


class Package(RouterModel):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    kind: Literal["bundle", "unlimited"]
    bytes: Annotated[int, Field(gt=0)] | None = None
    price_kzt: Annotated[int, Field(ge=0)] = 0
    title: str = ""

    @model_validator(mode="after")
    def _bundle_has_size(self) -> Package:
        if self.kind == "bundle" and self.bytes is None:
            raise ValueError(f"package {self.id}: a bundle needs `bytes`")
        return self


class PortalConfig(RouterModel):
    enabled: bool = True
    domain: str = "skybench.test"
    exempt: list[IPv4Address] = []
    free_tier: FreeTier = FreeTier()
    quota_enforced: bool = True
    packages: list[Package] = []

    def package(self, package_id: str) -> Package | None:
        return next((p for p in self.packages if p.id == package_id), None)


class DhcpConfig(RouterModel):
    passenger_pool: tuple[IPv4Address, IPv4Address] = (IPv4Address("198.18.0.10"), IPv4Address("198.18.7.250"))
    ops_pool: tuple[IPv4Address, IPv4Address] = (IPv4Address("198.18.8.10"), IPv4Address("198.18.8.250"))
    lease_s: Annotated[int, Field(ge=120)] = 3600


class LoggingConfig(RouterModel):
    """How the event log reports a WAN going down. The defaults are right; the others reproduce a
    firmware flaw on purpose (a router whose log misleads whoever reads it in the field), for
    the bench's own tests that a verdict comes from the wire, not from the log."""

    wan_down_logged: bool = True  # false: the wan_down entry is never written
    wan_down_delay_s: Annotated[float, Field(ge=0)] = 0.0  # written this long after the WAN was declared down


class DnsConfig(RouterModel):
    """The resolver the router offers its LANs: its own portal name locally; names under these
    domains forwarded to the upstream resolver on the ground (the operator's); everything else
    NXDOMAIN, so an unpaid passenger cannot tunnel through DNS to a zone of his own."""

    forward_domains: list[str] = ["skybench.test", "gstatic.com", "google.com", "apple.com", "msftconnecttest.com",
                                  "firefox.com"]


class PowerConfig(RouterModel):
    """What the router does when its supply fails (bench.devices.reference.power)."""

    boot_s: Annotated[float, Field(ge=0)] = 25.0
    hold_up_ms: Annotated[float, Field(ge=0)] = 15.0
    flash_save_s: PositiveSeconds = 30.0


class RouterConfig(RouterModel):
    version: str = "skybench-reference-router 0.1"
    health: HealthConfig = HealthConfig()
    wan_defaults: WanShaping = WanShaping()
    wans: dict[str, WanShaping] = {}
    traffic_classes: TrafficClasses = TrafficClasses()
    qos: QosConfig = QosConfig()
    portal: PortalConfig = PortalConfig()
    dhcp: DhcpConfig = DhcpConfig()
    dns: DnsConfig = DnsConfig()
    power: PowerConfig = PowerConfig()
    logging: LoggingConfig = LoggingConfig()

    def shaping(self, wan: str) -> WanShaping:
        return self.wans.get(wan, self.wan_defaults)

    def override(self, changes: dict[str, Any]) -> RouterConfig:
        """A copy with nested changes merged in, validated like the file."""
        return RouterConfig.model_validate(_merge(self.model_dump(mode="json"), changes))


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_router_config(path: Path | str | None = None) -> RouterConfig:
    """Read router.yaml (the packaged one by default); errors name the file and the field."""
    source = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = yaml.safe_load(source.read_text()) or {}
    except OSError as exc:
        raise BenchError(f"cannot read the router configuration: {exc.strerror}", where=str(source)) from exc
    except yaml.YAMLError as exc:
        raise BenchError(f"not valid YAML: {exc}", where=str(source), fix="check the indentation and quoting") from exc
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BenchError(
            f"{field}: {first['msg']}",
            where=str(source),
            fix="see the comments in bench/devices/reference/router.yaml for what each field takes",
        ) from None
