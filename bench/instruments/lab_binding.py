"""Emulated instruments bound to an embedded lab: what `Lab.up()` starts for the lab file's
instruments whose resources are raw SCPI sockets on loopback (`TCPIP0::127.0.0.1::PORT::SOCKET`).

- a `power_supply` feeds the reference router (`lab.router.power`, a PowerTarget): switching its
  output off takes the router down as a power loss does, and back up after its boot time;
- an `rf_attenuator` with `acts_on: <wan>` fades that WAN's emulated sky link
  (`LinkFadeTarget(lab.link(wan))`).

Instruments at any other resource (a LAN address, a serial port, USB) are real ones: the lab
leaves them alone and the drivers reach them as they are. So is a loopback power supply when the
lab runs no router of its own (a hardware lab): whatever feeds that DUT serves it (the black-box
stand-in, bench/devices/reference/standin.py, serves its own). The emulated instruments are threads in
the bench's own process; they stop, and their ports close, when the lab goes down.
"""

from __future__ import annotations

import ipaddress
import re
from contextlib import ExitStack
from typing import TYPE_CHECKING

from bench.instruments.emulated.lab import serve_lab_instruments
from bench.instruments.emulated.server import ScpiSocketServer
from bench.instruments.fade import LinkFadeTarget
from bench.instruments.targets import FadeTarget
from bench.lab.model import InstrumentConfig

if TYPE_CHECKING:
    from bench.lab.lab import Lab

_SOCKET = re.compile(r"TCPIP\d*::(?P<host>[^:]+)::\d+::SOCKET", re.IGNORECASE)


def is_emulated(config: InstrumentConfig) -> bool:
    """A raw socket resource on a loopback address: nothing real can be there on a bench PC."""
    match = _SOCKET.fullmatch(config.resource)
    if not match:
        return False
    try:
        return ipaddress.ip_address(match["host"]).is_loopback
    except ValueError:
        return match["host"].lower() == "localhost"


def emulated_instruments(lab: Lab) -> list[InstrumentConfig]:
    """The lab file's instruments the lab serves itself: loopback attenuators (they fade the lab's
    own links), and a loopback supply when the lab runs its own router to feed."""
    return [i for i in lab.config.instruments
            if is_emulated(i) and (i.kind == "rf_attenuator" or lab.router is not None)]


def serve_for_lab(lab: Lab, stack: ExitStack) -> dict[str, ScpiSocketServer]:
    """Start the lab's emulated instruments, bound to their targets; `stack` closes them."""
    configs = emulated_instruments(lab)
    if not configs:
        return {}
    power_target = lab.router.power if lab.router is not None and any(c.kind == "power_supply" for c in configs) else None
    fade_targets: dict[str, FadeTarget] = {
        c.acts_on: LinkFadeTarget(lab.link(c.acts_on)) for c in configs if c.kind == "rf_attenuator" and c.acts_on
    }
    return stack.enter_context(serve_lab_instruments(configs, power_target=power_target, fade_targets=fade_targets))
