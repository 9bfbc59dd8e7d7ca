"""An emulated programmable DC power supply that feeds a PowerTarget.

It answers the common SCPI subset of bench supplies (`[SOUR:]VOLT`, `[SOUR:]CURR`, `OUTP`,
`MEAS:VOLT?`, `MEAS:CURR?`, `*IDN?`, `*RST`, `SYST:ERR?`), refuses values beyond its own ratings
with -222 "Data out of range" and unknown headers with -113, like a real one.

The load is a router's input: a constant-power DC/DC converter that runs at or above its minimum
operating voltage and draws nothing below it. The supply limits current at its setting (CC mode):
when the load wants more, the output sags. The target is told when its feed goes and comes
back: output off, or voltage (after sag) below the load's minimum, is a power loss.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from bench.instruments.emulated.base import EmulatedInstrument, Identity
from bench.instruments.emulated.scpi_parser import boolean, no_params, numeric
from bench.instruments.targets import PowerTarget

log = logging.getLogger("skybench.instruments.emulated")

EMULATED_SUPPLY_IDENTITY = Identity("SKYBENCH", "EMU-PSU-6010", "SB0001", "1.0")


@dataclass(frozen=True)
class SupplyRatings:
    """What the emulated supply can physically do: beyond this it answers -222."""

    max_voltage_v: float = 60.0
    max_current_a: float = 10.0


@dataclass(frozen=True)
class RouterLoad:
    """The load: a rail router's supply input (EN 50155 nominal 24 V, 0.6 x Un still runs)."""

    power_w: float = 12.0
    min_operating_v: float = 14.4


@dataclass(frozen=True)
class SupplyState:
    voltage_v: float = 0.0
    current_limit_a: float = 0.1
    output_on: bool = False


@dataclass(frozen=True)
class OutputChange:
    """When the load's feed changed (perf_counter seconds) and to what."""

    at: float
    powered: bool


class EmulatedPowerSupply(EmulatedInstrument):
    """The supply's behaviour; serve it with ScpiSocketServer to reach it over VISA."""

    def __init__(self, target: PowerTarget | None = None, *, identity: Identity = EMULATED_SUPPLY_IDENTITY,
                 ratings: SupplyRatings = SupplyRatings(), load: RouterLoad = RouterLoad(),
                 initial: SupplyState = SupplyState()) -> None:
        super().__init__(identity)
        self.target = target
        self.ratings = ratings
        self.load = load
        self.state = initial
        # The target is taken to be in the state the initial output gives it (no call at start).
        self.powered = self._feeds_load()
        self.output_log: list[OutputChange] = []
        c = self.commands
        c.add("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._set_voltage)
        c.add("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?", self._get_voltage)
        c.add("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]", self._set_current)
        c.add("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]?", self._get_current)
        c.add("OUTPut[:STATe]", self._set_output)
        c.add("OUTPut[:STATe]?", self._get_output)
        c.add("MEASure[:SCALar]:VOLTage[:DC]?", self._measure_voltage)
        c.add("MEASure[:SCALar]:CURRent[:DC]?", self._measure_current)

    # -- the electrical model ----------------------------------------------------------------------
    def output(self) -> tuple[float, float, bool]:
        """(volts at the output, amps drawn, current-limited) for the present state."""
        s = self.state
        if not s.output_on:
            return 0.0, 0.0, False
        if s.voltage_v < self.load.min_operating_v:
            return s.voltage_v, 0.0, False  # the load's converter does not start
        wanted = self.load.power_w / s.voltage_v
        if wanted <= s.current_limit_a:
            return s.voltage_v, wanted, False
        # CC mode: the limit holds the current; the load behaves as its resistance at the setting.
        sagged = s.current_limit_a * s.voltage_v ** 2 / self.load.power_w
        return sagged, s.current_limit_a, True

    def _feeds_load(self) -> bool:
        volts, _, _ = self.output()
        return self.state.output_on and volts >= self.load.min_operating_v

    def _update(self, **changes: float | bool) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]
        powered = self._feeds_load()
        if powered == self.powered:
            return
        self.powered = powered
        self.output_log.append(OutputChange(time.perf_counter(), powered))
        if self.target is None:
            return
        try:
            self.target.power_restored() if powered else self.target.power_lost()
        except Exception:  # the target's failure is not the instrument's: it keeps answering
            log.exception("power target %r failed on %s", self.target, "restore" if powered else "loss")

    def reset(self) -> None:
        self._update(voltage_v=0.0, current_limit_a=0.1, output_on=False)

    # -- SCPI handlers ------------------------------------------------------------------------------
    def _set_voltage(self, params: list[str]) -> None:
        volts = numeric(params, minimum=0.0, maximum=self.ratings.max_voltage_v, default=0.0, units=("V", "MV"))
        self._update(voltage_v=round(volts, 3))

    def _get_voltage(self, params: list[str]) -> str:
        no_params(params)
        return f"{self.state.voltage_v:+.6E}"

    def _set_current(self, params: list[str]) -> None:
        amps = numeric(params, minimum=0.0, maximum=self.ratings.max_current_a, default=0.1, units=("A", "MA"))
        self._update(current_limit_a=round(amps, 4))

    def _get_current(self, params: list[str]) -> str:
        no_params(params)
        return f"{self.state.current_limit_a:+.6E}"

    def _set_output(self, params: list[str]) -> None:
        self._update(output_on=boolean(params))

    def _get_output(self, params: list[str]) -> str:
        no_params(params)
        return "1" if self.state.output_on else "0"

    def _measure_voltage(self, params: list[str]) -> str:
        no_params(params)
        return f"{round(self.output()[0], 3):+.6E}"

    def _measure_current(self, params: list[str]) -> str:
        no_params(params)
        return f"{round(self.output()[1], 4):+.6E}"
