"""The lab description: the DUT, the WAN links and the instruments the bench drives.

The models are the single source of truth for what a lab file may contain. Unknown fields are
refused everywhere (a typo must never be silently ignored), secrets are refused everywhere (the
file names where a secret lives, never the secret itself), and checks that span several fields
report the exact field they blame so the loader can point at its line.

Cross-field problems are raised as one ``PydanticCustomError`` of type ``CONSISTENCY_ERROR``
whose context carries a list of ``Problem`` (location relative to the model, message): pydantic
itself can only attach a model-level location to an after-validator's error.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bench.errors import BenchError

CONSISTENCY_ERROR = "lab_consistency"
"""Error type of cross-field problems; its context holds ``problems: list[Problem]``."""

SECRET_KEYS = frozenset(
    {"password", "passwd", "passphrase", "token", "secret", "api_key", "apikey", "private_key"}
)
"""Keys refused anywhere in a lab file: their value would be a secret written in clear."""

SECRET_ADVICE = (
    "secrets never go into the lab file; use password_env: VAR (an environment variable) "
    "or password_file: PATH (a file readable only by you)"
)

LAB_DIR_CONTEXT = "lab_dir"
"""Validation-context key: directory that relative paths in the lab file are resolved against."""


class Problem(NamedTuple):
    """One cross-field problem: where (location relative to the validated model) and what."""

    loc: tuple[str | int, ...]
    message: str


def dotted(loc: tuple[str | int, ...]) -> str:
    """A location as a user reads it: ``wans[1].terminal.port``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def raise_problems(problems: list[Problem]) -> None:
    """Raise every cross-field problem at once (nothing if the list is empty)."""
    if problems:
        summary = "; ".join(f"{dotted(p.loc)}: {p.message}" for p in problems)
        raise PydanticCustomError(
            CONSISTENCY_ERROR, "{summary}", {"summary": summary, "problems": list(problems)}
        )


# --- value checks, each with a message that says what is allowed -------------------------------

_SLUG = re.compile(r"[a-z][a-z0-9-]{0,39}")
_WAN_NAME = re.compile(r"[a-z][a-z0-9]{0,9}")
_HOSTNAME_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IFNAME_MAX = 15  # IFNAMSIZ - 1: the kernel refuses longer interface names


def _check_slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name; allowed: lowercase letters, digits and '-', "
            "starting with a letter, at most 40 characters"
        )
    return value


def _check_wan_name(value: str) -> str:
    if not _WAN_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid WAN name; allowed: lowercase letters and digits, "
            "starting with a letter, at most 10 characters (it becomes part of interface names)"
        )
    return value


def check_host(value: str) -> str:
    """An IP address (v4 or v6) or an RFC 1123 host name."""
    if ":" in value:  # only IPv6 addresses contain ':'
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid IPv6 address") from None
        return value
    if re.fullmatch(r"[0-9.]+", value):  # all digits and dots: meant as an IPv4 address
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a valid IPv4 address; allowed: four numbers 0-255 "
                "separated by dots, an IPv6 address or a host name"
            ) from None
        return value
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    if len(value) > 253 or not all(_HOSTNAME_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            f"{value!r} is neither an IP address nor a valid host name; allowed: an IPv4 or IPv6 "
            "address, or a host name of letters, digits, '-' and '.' (RFC 1123)"
        )
    return value


def _check_ifname(value: str) -> str:
    if not 1 <= len(value) <= _IFNAME_MAX:
        raise ValueError(
            f"{value!r} is not a valid Linux interface name: it has {len(value)} characters, "
            f"allowed: 1 to {_IFNAME_MAX}"
        )
    if value in (".", "..") or any(c in "/:" or c.isspace() for c in value):
        raise ValueError(
            f"{value!r} is not a valid Linux interface name; allowed: up to {_IFNAME_MAX} "
            "characters without '/', ':' or spaces"
        )
    return value


def _check_env_var_name(value: str) -> str:
    # The value is not echoed: a user who misread the field may have written the secret here.
    if not _ENV_VAR_NAME.fullmatch(value):
        raise ValueError(
            "is not an environment variable NAME; allowed: letters, digits and '_', not starting "
            "with a digit (write the name of the variable that holds the password, e.g. "
            "password_env: DUT_PASSWORD, never the password itself)"
        )
    return value


_VISA_FORMS_HELP = (
    "TCPIP0::HOST::PORT::SOCKET, TCPIP0::HOST::INSTR, TCPIP0::HOST::DEVICE::INSTR, "
    "ASRL/dev/ttyUSB0::INSTR, ASRL1::INSTR, USB0::VENDOR::PRODUCT::SERIAL::INSTR, "
    "GPIB0::ADDRESS::INSTR"
)
_VISA_HOST = r"(?P<host>\[[0-9A-Fa-f:.%]+\]|[^:\[\]]+)"
_VISA_SOCKET = re.compile(rf"TCPIP\d*::{_VISA_HOST}::(?P<port>\d+)::SOCKET", re.IGNORECASE)
_VISA_TCPIP_INSTR = re.compile(
    rf"TCPIP\d*::{_VISA_HOST}(?:::(?P<device>[A-Za-z0-9_,.]+))?(?:::INSTR)?", re.IGNORECASE
)
_VISA_OTHER = (
    re.compile(r"ASRL(?:\d+|COM\d+|/dev/[A-Za-z0-9_./-]+)::INSTR", re.IGNORECASE),
    re.compile(
        r"USB\d*::(?:0x[0-9A-F]{1,4}|\d{1,5})::(?:0x[0-9A-F]{1,4}|\d{1,5})::[^:]+(?:::\d+)?::INSTR",
        re.IGNORECASE,
    ),
    re.compile(r"GPIB\d*::(?:[12]?\d|30)(?:::\d{1,3})?::INSTR", re.IGNORECASE),
)


def check_visa_resource(value: str) -> str:
    """The common VISA resource string forms; TCP/IP hosts and ports are checked too."""
    bad = ValueError(f"{value!r} is not a VISA resource string; allowed: {_VISA_FORMS_HELP}")
    tcpip = _VISA_SOCKET.fullmatch(value) or _VISA_TCPIP_INSTR.fullmatch(value)
    if tcpip:
        try:
            check_host(tcpip["host"].strip("[]"))
        except ValueError as exc:
            raise ValueError(f"{value!r}: host {exc}") from None
        groups = tcpip.groupdict()
        if groups.get("port") is not None and not 1 <= int(groups["port"]) <= 65535:
            raise ValueError(f"{value!r}: port {groups['port']} is out of range; allowed: 1-65535")
        if (groups.get("device") or "").isdigit():  # a bare port means ::SOCKET was forgotten
            raise ValueError(
                f"{value!r} names a port without '::SOCKET'; write "
                f"TCPIP0::{groups['host']}::{groups['device']}::SOCKET for a raw SCPI socket"
            )
        return value
    if any(form.fullmatch(value) for form in _VISA_OTHER):
        return value
    raise bad


def _check_range(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"[{low}, {high}] must hold finite numbers")
    if low < 0 or high < 0:
        raise ValueError(f"[{low}, {high}] must not be negative; write [min, max] with min >= 0")
    if low > high:
        raise ValueError(f"minimum {low} is above maximum {high}; write [min, max]")
    return value


Slug = Annotated[str, AfterValidator(_check_slug)]
WanName = Annotated[str, AfterValidator(_check_wan_name)]
Host = Annotated[str, AfterValidator(check_host)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
InterfaceName = Annotated[str, AfterValidator(_check_ifname)]
EnvVarName = Annotated[str, AfterValidator(_check_env_var_name)]
VisaResource = Annotated[str, AfterValidator(check_visa_resource)]
Range = Annotated[tuple[StrictFloat, StrictFloat], AfterValidator(_check_range)]


# --- models ------------------------------------------------------------------------------------


class LabModel(BaseModel):
    """Base of every lab-file model: unknown fields and secrets are refused, values are frozen."""

    # hide_input_in_errors: a ValidationError's text must never echo a secret typed by mistake.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_secrets(cls, data: Any) -> Any:
        # The loader removes these keys earlier to point at their lines; this guards models built
        # in code. The secret's value is never put in the message.
        if isinstance(data, dict):
            secrets = [k for k in data if isinstance(k, str) and k.lower() in SECRET_KEYS]
            raise_problems([Problem((key,), f"{key!r} is refused: {SECRET_ADVICE}") for key in secrets])
        return data


class Credentials(LabModel):
    """How to log in to a device: a user name and WHERE the password is, never the password."""

    username: str | None = None
    password_env: EnvVarName | None = None
    password_file: Path | None = None

    @field_validator("password_file")
    @classmethod
    def _resolve_against_lab_dir(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A relative password file sits next to the lab file, wherever the bench is started from.
        if value is None:
            return None
        value = value.expanduser()
        lab_dir = (info.context or {}).get(LAB_DIR_CONTEXT)
        if lab_dir is not None and not value.is_absolute():
            value = Path(lab_dir) / value
        return value

    @model_validator(mode="after")
    def _one_password_source(self) -> Credentials:
        if self.password_env is not None and self.password_file is not None:
            raise_problems(
                [Problem(("password_file",), "give either password_env or password_file, not both")]
            )
        return self

    def password(self) -> str | None:
        """The password, read now from the environment or the file (None if none is configured).

        It is read at call time and never stored, so it cannot leak through repr or dumps.
        """
        if self.password_env is not None:
            secret = os.environ.get(self.password_env)
            if secret is None:
                raise BenchError(
                    f"environment variable {self.password_env} is not set",
                    where=f"credentials.password_env: {self.password_env}",
                    fix=f"export {self.password_env}=... in the shell that runs the bench",
                )
            return secret
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")
            except FileNotFoundError:
                what = "password file does not exist"
            except IsADirectoryError:
                what = "password file is a directory"
            except (OSError, UnicodeDecodeError) as exc:
                what = f"password file cannot be read ({type(exc).__name__})"
            raise BenchError(
                what,
                where=f"credentials.password_file: {self.password_file}",
                fix=f"write the password into {self.password_file} (one line, mode 0600)",
            )
        return None


class DutConfig(LabModel):
    """The device under test: the onboard router."""

    name: Annotated[str, Field(min_length=1)] = "reference-router"
    driver: Literal["embedded", "ssh", "rest", "snmp"] = "embedded"
    address: Host | None = None
    port: Port | None = None
    credentials: Credentials = Credentials()
    management: Literal["host", "ops-lan"] = "host"
    lan_interface: InterfaceName | None = None
    ops_interface: InterfaceName | None = None
    profile: Path | None = None

    @field_validator("profile")
    @classmethod
    def _profile_next_to_lab_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A relative profile sits next to the lab file, wherever the bench is started from.
        if value is None:
            return None
        value = value.expanduser()
        lab_dir = (info.context or {}).get(LAB_DIR_CONTEXT)
        return Path(lab_dir) / value if lab_dir is not None and not value.is_absolute() else value


class TerminalConfig(LabModel):
    """The WAN terminal (satellite user terminal or LTE modem) and how to reach its management."""

    driver: Literal["embedded", "starlink-grpc", "snmp", "rest", "none"] = "embedded"
    address: Host | None = None
    port: Port | None = None
    credentials: Credentials = Credentials()
    interface: InterfaceName | None = None


class LinkConfig(LabModel):
    """How the WAN link is emulated."""

    backend: Literal["auto", "netem", "userspace"] = "auto"


_PROVIDER_KIND = {"oneweb": "satellite", "starlink": "satellite", "lte": "cellular"}


class WanConfig(LabModel):
    """One WAN uplink of the train: a terminal plus the emulated link behind it."""

    name: WanName
    kind: Literal["satellite", "cellular"]
    provider: Literal["oneweb", "starlink", "lte", "other"]
    priority: Annotated[StrictInt, Field(ge=1)]
    terminal: TerminalConfig = TerminalConfig()
    link: LinkConfig = LinkConfig()
    dut_interface: InterfaceName | None = None

    @property
    def real_terminal(self) -> bool:
        """A real terminal behind the emulated link (its LAN port cabled to terminal.interface)."""
        return self.terminal.interface is not None

    @model_validator(mode="after")
    def _provider_matches_kind(self) -> WanConfig:
        problems = []
        expected = _PROVIDER_KIND.get(self.provider)
        if expected is not None and expected != self.kind:
            problems.append(
                Problem(("kind",), f"provider {self.provider} is a {expected} network; allowed kind: {expected}")
            )
        if self.terminal.driver == "starlink-grpc" and self.provider != "starlink":
            problems.append(
                Problem(("terminal", "driver"), "starlink-grpc talks only to Starlink terminals (provider: starlink)")
            )
        raise_problems(problems)
        return self


class InstrumentConfig(LabModel):
    """A bench instrument reached over VISA: a power supply or an RF attenuator."""

    name: Slug
    kind: Literal["power_supply", "rf_attenuator"]
    resource: VisaResource
    model: str | None = None
    voltage_range_v: Range | None = None
    current_range_a: Range | None = None
    attenuation_range_db: Range | None = None
    acts_on: str | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> InstrumentConfig:
        if self.kind == "power_supply":
            required = ("voltage_range_v", "current_range_a")
            foreign = ("attenuation_range_db", "acts_on")
            why = "a power supply needs its safety limits"
        else:
            required = ("attenuation_range_db", "acts_on")
            foreign = ("voltage_range_v", "current_range_a")
            why = "an RF attenuator needs its range and the WAN it fades"
        problems = [
            Problem((field,), f"required for kind {self.kind} ({why})")
            for field in required
            if getattr(self, field) is None
        ]
        problems += [
            Problem((field,), f"not used by kind {self.kind}; remove it")
            for field in foreign
            if getattr(self, field) is not None
        ]
        raise_problems(problems)
        return self


def _default_wans() -> list[WanConfig]:
    return [
        WanConfig(name="oneweb", kind="satellite", provider="oneweb", priority=1),
        WanConfig(name="starlink", kind="satellite", provider="starlink", priority=2),
        WanConfig(name="lte", kind="cellular", provider="lte", priority=3),
    ]


class LabConfig(LabModel):
    """A whole lab: the embedded one (namespaces on this host) or real hardware."""

    kind: Literal["embedded", "hardware"] = "embedded"
    name: Slug = "embedded"
    dut: DutConfig = Field(default_factory=DutConfig)
    wans: list[WanConfig] = Field(default_factory=_default_wans)
    instruments: list[InstrumentConfig] = Field(default_factory=list)
    results_dir: Path = Path("results")

    _source: Path | None = PrivateAttr(default=None)
    _profile: Any = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The file this lab was read from (None when built in code)."""
        return self._source

    @property
    def profile(self) -> Any:
        """The DUT profile (bench.devices.profile.DutProfile) `dut.profile` names, read on first use
        (the lab-file loader reads it at once, so a bad profile is reported with the lab file)."""
        if self._profile is None:
            from bench.devices.profile import check_against_lab, load_profile

            profile = load_profile(self.dut.profile)
            check_against_lab(profile, [w.name for w in self.wans], where=f"{profile.source}: wans")
            self._profile = profile
        return self._profile

    def __eq__(self, other: object) -> bool:
        # Two labs are the same lab whatever file they were read from.
        if not isinstance(other, LabConfig):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]  # equal labs need not be hashable

    def cables(self) -> list[tuple[str, str]]:
        """(field, host interface) of every cable a hardware lab names."""
        out = [(f, i) for f, i in (("dut.lan_interface", self.dut.lan_interface), ("dut.ops_interface", self.dut.ops_interface)) if i]
        for index, wan in enumerate(self.wans):
            if wan.dut_interface:
                out.append((f"wans[{index}].dut_interface", wan.dut_interface))
            if wan.terminal.interface:
                out.append((f"wans[{index}].terminal.interface", wan.terminal.interface))
        return out

    def wan(self, name: str) -> WanConfig:
        """The WAN called ``name``."""
        for wan in self.wans:
            if wan.name == name:
                return wan
        raise KeyError(f"no WAN named {name!r}; the lab has {', '.join(w.name for w in self.wans)}")

    @model_validator(mode="after")
    def _consistent(self) -> LabConfig:
        problems: list[Problem] = []
        problems += _unique_names("wans", [w.name for w in self.wans], "WAN")
        problems += _unique_names("instruments", [i.name for i in self.instruments], "instrument")
        if not self.wans:
            problems.append(Problem(("wans",), "at least one WAN is required"))
        wan_names = [w.name for w in self.wans]
        for index, instrument in enumerate(self.instruments):
            if instrument.acts_on is not None and instrument.acts_on not in wan_names:
                problems.append(
                    Problem(
                        ("instruments", index, "acts_on"),
                        f"no WAN named {instrument.acts_on!r}; allowed: {', '.join(wan_names)}",
                    )
                )
        problems += _embedded_problems(self) if self.kind == "embedded" else _hardware_problems(self)
        raise_problems(problems)
        return self


def _unique_names(field: str, names: list[str], what: str) -> list[Problem]:
    first_index: dict[str, int] = {}
    problems = []
    for index, name in enumerate(names):
        if name in first_index:
            problems.append(
                Problem(
                    (field, index, "name"),
                    f"duplicate {what} name {name!r} (also {field}[{first_index[name]}]); names must be unique",
                )
            )
        else:
            first_index[name] = index
    return problems


_HARDWARE_ONLY = "only used with kind: hardware; remove it or set kind: hardware"


def _embedded_problems(lab: LabConfig) -> list[Problem]:
    problems = []
    if lab.dut.driver != "embedded":
        problems.append(
            Problem(
                ("dut", "driver"),
                f"the embedded lab runs its own reference router, so the driver must be embedded, "
                f"not {lab.dut.driver}; allowed: embedded (or set kind: hardware)",
            )
        )
    for field in ("lan_interface", "ops_interface"):
        if getattr(lab.dut, field) is not None:
            problems.append(Problem(("dut", field), _HARDWARE_ONLY))
    if lab.dut.management != "host":
        problems.append(Problem(("dut", "management"), "the embedded lab reaches its own router; " + _HARDWARE_ONLY))
    for index, wan in enumerate(lab.wans):
        if wan.terminal.driver not in ("embedded", "none"):
            problems.append(
                Problem(
                    ("wans", index, "terminal", "driver"),
                    f"the embedded lab emulates the terminals, so {wan.terminal.driver} cannot be "
                    "used; allowed: embedded, none (or set kind: hardware)",
                )
            )
        if wan.dut_interface is not None:
            problems.append(Problem(("wans", index, "dut_interface"), _HARDWARE_ONLY))
        if wan.terminal.interface is not None:
            problems.append(Problem(("wans", index, "terminal", "interface"), _HARDWARE_ONLY))
    return problems


def _hardware_problems(lab: LabConfig) -> list[Problem]:
    problems = []
    if lab.dut.driver == "embedded":
        problems.append(
            Problem(
                ("dut", "driver"),
                "a hardware lab drives a real router; allowed: ssh, rest, snmp",
            )
        )
    for field, why in (
        ("address", "the address the bench manages the router at"),
        ("lan_interface", "the host interface cabled to the router's LAN port"),
    ):
        if getattr(lab.dut, field) is None:
            problems.append(Problem(("dut", field), f"required for kind: hardware ({why})"))
    for index, wan in enumerate(lab.wans):
        driver = wan.terminal.driver
        if wan.dut_interface is None:
            problems.append(Problem(("wans", index, "dut_interface"),
                                    "required for kind: hardware (the host interface cabled to the DUT's port for this WAN)"))
        if wan.real_terminal and driver == "embedded":
            problems.append(
                Problem(
                    ("wans", index, "terminal", "driver"),
                    "terminal.interface cables a real terminal, which the bench cannot emulate; allowed: starlink-grpc, "
                    "snmp, rest, none (or remove terminal.interface to have the bench emulate the terminal)",
                )
            )
        if not wan.real_terminal and driver not in ("embedded", "none"):
            problems.append(
                Problem(
                    ("wans", index, "terminal", "interface"),
                    f"required for terminal driver {driver}: the host interface cabled to the real terminal's LAN port "
                    "(or set driver: embedded to have the bench emulate the terminal)",
                )
            )
        if driver not in ("embedded", "none") and wan.terminal.address is None:
            problems.append(
                Problem(
                    ("wans", index, "terminal", "address"),
                    f"required for terminal driver {driver} (the terminal's management address)",
                )
            )
    problems += _shared_interfaces(lab)
    return problems


def _shared_interfaces(lab: LabConfig) -> list[Problem]:
    # Each host interface is moved into its own namespace, so it can serve one role only.
    used: dict[str, str] = {}
    problems = []
    roles: list[tuple[tuple[str | int, ...], str | None]] = [
        (("dut", "lan_interface"), lab.dut.lan_interface),
        (("dut", "ops_interface"), lab.dut.ops_interface),
    ]
    for index, wan in enumerate(lab.wans):
        roles.append((("wans", index, "dut_interface"), wan.dut_interface))
        roles.append((("wans", index, "terminal", "interface"), wan.terminal.interface))
    for loc, ifname in roles:
        if ifname is None:
            continue
        if ifname in used:
            problems.append(
                Problem(loc, f"interface {ifname!r} is already used by {used[ifname]}; each interface serves one role")
            )
        else:
            used[ifname] = dotted(loc)
    return problems
