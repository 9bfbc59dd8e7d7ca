"""What `skybench instruments` shows: each lab-file instrument's identity and state, read-only.

Only queries are sent (no *CLS, no *RST, no setting): looking at a bench must never change it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bench.errors import BenchError
from bench.instruments.attenuator import RfAttenuator
from bench.instruments.supply import PowerSupply
from bench.instruments.visa import PY_BACKEND
from bench.lab.model import InstrumentConfig

STATUS_TIMEOUT_MS = 1500


@dataclass(frozen=True)
class InstrumentStatus:
    name: str
    kind: str
    resource: str
    identity: str | None = None
    state: str | None = None
    problem: str | None = None  # set when the instrument could not be read: what, and what to check

    @property
    def reachable(self) -> bool:
        return self.problem is None


def _supply_state(psu: PowerSupply) -> str:
    on = psu.output_enabled()
    return (f"output {'on' if on else 'off'}, set {psu.voltage_setpoint():g} V / {psu.current_limit():g} A limit, "
            f"measured {psu.measure_voltage():.3f} V {psu.measure_current():.4f} A")


def _attenuator_state(fader: RfAttenuator) -> str:
    return f"attenuation {fader.attenuation():g} dB (fades WAN {fader.config.acts_on})"


def instrument_status(config: InstrumentConfig, *, backend: str = PY_BACKEND,
                      timeout_ms: int = STATUS_TIMEOUT_MS) -> InstrumentStatus:
    base = InstrumentStatus(config.name, config.kind, config.resource)
    try:
        if config.kind == "power_supply":
            with PowerSupply(config, backend=backend, timeout_ms=timeout_ms, clear_errors=False) as psu:
                return replace(base, identity=psu.identity, state=_supply_state(psu))
        with RfAttenuator(config, backend=backend, timeout_ms=timeout_ms, clear_errors=False) as fader:
            return replace(base, identity=fader.identity, state=_attenuator_state(fader))
    except BenchError as exc:
        return replace(base, problem=exc.message)
