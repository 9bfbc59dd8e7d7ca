"""An emulated programmable RF step attenuator that fades a FadeTarget.

`ATTenuation <dB>` / `ATTenuation?` plus the IEEE 488.2 commands; the value is rounded to the
attenuator's step (0.25 dB) as a real step attenuator does, and `ATT?` answers the rounded value.
Beyond the attenuator's range it answers -222 "Data out of range".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bench.instruments.emulated.base import EmulatedInstrument, Identity
from bench.instruments.emulated.scpi_parser import no_params, numeric
from bench.instruments.targets import FadeTarget

log = logging.getLogger("skybench.instruments.emulated")

EMULATED_ATTENUATOR_IDENTITY = Identity("SKYBENCH", "EMU-ATT-90", "SB0002", "1.0")


@dataclass(frozen=True)
class AttenuatorRatings:
    max_db: float = 90.0
    step_db: float = 0.25


class EmulatedAttenuator(EmulatedInstrument):
    """The attenuator's behaviour; serve it with ScpiSocketServer to reach it over VISA."""

    def __init__(self, target: FadeTarget | None = None, *,
                 identity: Identity = EMULATED_ATTENUATOR_IDENTITY,
                 ratings: AttenuatorRatings = AttenuatorRatings(), initial_db: float = 0.0) -> None:
        super().__init__(identity)
        self.target = target
        self.ratings = ratings
        self.attenuation_db = initial_db
        self.log: list[tuple[float, float]] = []  # (perf_counter, dB) for each change
        self.commands.add("[SOURce:]ATTenuation[:LEVel]", self._set)
        self.commands.add("[SOURce:]ATTenuation[:LEVel]?", self._get)

    def _apply(self, db: float) -> None:
        stepped = round(round(db / self.ratings.step_db) * self.ratings.step_db, 4)
        if stepped == self.attenuation_db:
            return
        self.attenuation_db = stepped
        self.log.append((time.perf_counter(), stepped))
        if self.target is None:
            return
        try:
            self.target.set_fade_db(stepped)
        except Exception:  # the target's failure is not the instrument's: it keeps answering
            log.exception("fade target %r failed at %s dB", self.target, stepped)

    def reset(self) -> None:
        self._apply(0.0)

    def _set(self, params: list[str]) -> None:
        self._apply(numeric(params, minimum=0.0, maximum=self.ratings.max_db, default=0.0, units=("DB",)))

    def _get(self, params: list[str]) -> str:
        no_params(params)
        return f"{self.attenuation_db:.2f}"
