"""Driver for a programmable DC power supply over VISA (common SCPI subset).

Every call is a recorded step. Voltage and current-limit values are checked against the lab
file's `voltage_range_v` / `current_range_a` before anything is sent; each setting command is
followed by `SYST:ERR?`. `interrupt` and `dip` time the output change to the millisecond and
return what was requested next to what was achieved.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from bench.instruments.commands import SCPI_SUPPLY, SupplyCommands, supply_commands
from bench.instruments.limits import check_in_range
from bench.instruments.timing import wait_until
from bench.instruments.visa import InstrumentError, VisaSession, where
from bench.steps import recorded, step


@dataclass(frozen=True)
class SupplyEventTiming:
    """One interruption or dip as it was asked for and as it happened.

    `achieved_ms` runs from the moment the command that starts the event had been handed to the
    transport to the moment the one that ends it had: what the instrument saw, within one-way
    transport latency (sub-millisecond on a LAN, about 1 ms per 10 bytes at 9600 baud serial).
    """

    kind: Literal["interruption", "dip"]
    requested_ms: float
    achieved_ms: float
    level_v: float  # the output during the event (0 for an interruption)
    nominal_v: float  # the setpoint before and after
    started_at: float  # wall clock (time.time()) at the start of the event

    @property
    def error_ms(self) -> float:
        return round(self.achieved_ms - self.requested_ms, 3)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_ms": self.error_ms}


def _number(text: str, what: str, session: VisaSession) -> float:
    try:
        return float(text)
    except ValueError:
        raise InstrumentError(
            f"answered {what} with {text!r}, not a number", where=where(session.config),
            fix="check that the lab file's kind and model match this instrument",
        ) from None


class PowerSupply(VisaSession):
    """A DC supply from the lab file (kind: power_supply)."""

    commands: SupplyCommands = SCPI_SUPPLY

    def _select_dialect(self, identity: str) -> None:
        self.commands = supply_commands(identity)

    # -- settings -----------------------------------------------------------------------------------
    @recorded("set voltage")
    def set_voltage(self, volts: float) -> None:
        volts = check_in_range(self.config, "voltage_range_v", volts, "V")
        self.setting(self.commands.set_voltage.format(volts))

    @recorded("set current limit")
    def set_current_limit(self, amps: float) -> None:
        amps = check_in_range(self.config, "current_range_a", amps, "A")
        self.setting(self.commands.set_current.format(amps))

    @recorded("output")
    def set_output(self, on: bool) -> None:
        self.setting(self.commands.output_on if on else self.commands.output_off)

    @recorded("reset")
    def reset(self) -> None:
        """*RST: most supplies switch the output off and set 0 V."""
        self.setting(self.commands.reset)

    # -- readings -----------------------------------------------------------------------------------
    def _reading(self, title: str, command: str, unit: str) -> float:
        with step(f"{self.name}: {title}") as rec:
            value = _number(self.query(command), command, self)
            rec["result"] = f"{value:g} {unit}"
            return value

    def voltage_setpoint(self) -> float:
        return self._reading("voltage setpoint", self.commands.get_voltage, "V")

    def current_limit(self) -> float:
        return self._reading("current limit", self.commands.get_current, "A")

    def measure_voltage(self) -> float:
        return self._reading("measure voltage", self.commands.measure_voltage, "V")

    def measure_current(self) -> float:
        return self._reading("measure current", self.commands.measure_current, "A")

    def output_enabled(self) -> bool:
        with step(f"{self.name}: output state") as rec:
            answer = self.query(self.commands.get_output).upper()
            if answer not in ("1", "0", "ON", "OFF"):
                raise InstrumentError(
                    f"answered {self.commands.get_output} with {answer!r}, not 1/0/ON/OFF",
                    where=where(self.config), fix="check that the lab file's model matches this instrument",
                )
            rec["result"] = answer in ("1", "ON")
            return answer in ("1", "ON")

    # -- timed events -------------------------------------------------------------------------------
    def interrupt(self, duration_s: float) -> SupplyEventTiming:
        """Switch the output off for `duration_s`, then on again."""
        with step(f"{self.name}: interrupt", duration_ms=round(duration_s * 1000, 3)) as rec:
            nominal = self.voltage_setpoint()
            timing = self._timed("interruption", duration_s, nominal, 0.0,
                                 self.commands.output_off, self.commands.output_on)
            rec["result"] = f"achieved {timing.achieved_ms} ms"
            return timing

    def dip(self, level_v: float, duration_s: float) -> SupplyEventTiming:
        """Lower the output to `level_v` for `duration_s`, then back to the present setpoint."""
        with step(f"{self.name}: dip", level_v=level_v, duration_ms=round(duration_s * 1000, 3)) as rec:
            level_v = check_in_range(self.config, "voltage_range_v", level_v, "V")
            nominal = self.voltage_setpoint()
            timing = self._timed("dip", duration_s, nominal, level_v,
                                 self.commands.set_voltage.format(level_v),
                                 self.commands.set_voltage.format(nominal))
            rec["result"] = f"achieved {timing.achieved_ms} ms"
            return timing

    def _timed(self, kind: Literal["interruption", "dip"], duration_s: float, nominal: float, level: float,
               start_command: str, end_command: str) -> SupplyEventTiming:
        if not duration_s > 0:
            raise InstrumentError(f"refused a {kind} of {duration_s!r} s", where=where(self.config),
                                  fix="give a positive duration")
        started_at = time.time()
        self.write(start_command)
        began = time.perf_counter()
        try:
            wait_until(began + duration_s)
        finally:  # whatever happens, the event ends: output back on, setpoint back
            self.write(end_command)
            ended = time.perf_counter()
        # The error queue is read after the event, not inside it: a round trip in the window
        # would only make it longer. Errors of both commands are in the queue, in order.
        self.raise_errors(f"{start_command!r} / {end_command!r}")
        return SupplyEventTiming(kind, round(duration_s * 1000, 3), round((ended - began) * 1000, 3),
                                 level, nominal, started_at)
