"""Serve a lab file's instruments as emulated ones, each on the port its resource string names.

    with serve_lab_instruments(lab.instruments, power_target=router_power,
                               fade_targets={"starlink": LinkFadeTarget(starlink_link)}) as servers:
        ...  # the drivers reach them at the lab file's own resource strings

Each entry must be a raw socket resource on a loopback address (`TCPIP0::127.0.0.1::5025::SOCKET`),
or any address inside `netns_name`. The emulated instrument identifies with the lab file's `model`
so the driver's *IDN? check passes, and starts in `initial_supply` (the router powered).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

from bench.errors import BenchError
from bench.instruments.emulated.attenuator import EMULATED_ATTENUATOR_IDENTITY, EmulatedAttenuator
from bench.instruments.emulated.base import Identity
from bench.instruments.emulated.server import ScpiSocketServer
from bench.instruments.emulated.supply import EMULATED_SUPPLY_IDENTITY, EmulatedPowerSupply, SupplyState
from bench.instruments.targets import FadeTarget, PowerTarget
from bench.lab.model import InstrumentConfig

_SOCKET = re.compile(r"TCPIP\d*::(?P<host>[^:]+)::(?P<port>\d+)::SOCKET", re.IGNORECASE)
RUNNING_ROUTER = SupplyState(voltage_v=24.0, current_limit_a=2.0, output_on=True)


def _address(config: InstrumentConfig) -> tuple[str, int]:
    match = _SOCKET.fullmatch(config.resource)
    if not match:
        raise BenchError(
            f"cannot be emulated at {config.resource}: an emulated instrument is a raw SCPI socket",
            where=f"instrument {config.name}",
            fix="give it a resource like TCPIP0::127.0.0.1::5025::SOCKET in the embedded lab's file",
        )
    return match["host"], int(match["port"])


def _identity(config: InstrumentConfig, default: Identity) -> Identity:
    return Identity(default.manufacturer, config.model or default.model, default.serial, default.firmware)


def _check_initial(config: InstrumentConfig, state: SupplyState) -> None:
    for value, field in ((state.voltage_v, "voltage_range_v"), (state.current_limit_a, "current_range_a")):
        low, high = getattr(config, field)
        if not low <= value <= high:
            raise BenchError(
                f"the emulated supply would start at {value:g}, outside {field} [{low:g}, {high:g}]",
                where=f"instrument {config.name}", fix=f"widen {field} in the lab file or pass another initial state",
            )


@contextmanager
def serve_lab_instruments(instruments: list[InstrumentConfig], *, power_target: PowerTarget | None = None,
                          fade_targets: Mapping[str, FadeTarget] | None = None, netns_name: str | None = None,
                          initial_supply: SupplyState = RUNNING_ROUTER) -> Iterator[dict[str, ScpiSocketServer]]:
    """Start one emulated instrument per entry; all stop (and their ports close) on exit."""
    fade_targets = fade_targets or {}
    with ExitStack() as stack:
        servers: dict[str, ScpiSocketServer] = {}
        for config in instruments:
            host, port = _address(config)
            if config.kind == "power_supply":
                _check_initial(config, initial_supply)
                instrument: EmulatedPowerSupply | EmulatedAttenuator = EmulatedPowerSupply(
                    power_target, identity=_identity(config, EMULATED_SUPPLY_IDENTITY), initial=initial_supply)
            else:
                instrument = EmulatedAttenuator(fade_targets.get(config.acts_on or ""),
                                                identity=_identity(config, EMULATED_ATTENUATOR_IDENTITY))
            servers[config.name] = stack.enter_context(
                ScpiSocketServer(instrument, host=host, port=port, netns_name=netns_name))
        yield servers
