"""Driver for a programmable RF step attenuator over VISA.

Every call is a recorded step; the value is checked against the lab file's
`attenuation_range_db` before anything is sent, and `SYST:ERR?` is read after each setting.
"""

from __future__ import annotations

from bench.instruments.commands import SCPI_ATTENUATOR, AttenuatorCommands, attenuator_commands
from bench.instruments.limits import check_in_range
from bench.instruments.visa import InstrumentError, VisaSession, where
from bench.steps import step


class RfAttenuator(VisaSession):
    """An RF attenuator from the lab file (kind: rf_attenuator), in front of the WAN `acts_on`."""

    commands: AttenuatorCommands = SCPI_ATTENUATOR

    def _select_dialect(self, identity: str) -> None:
        self.commands = attenuator_commands(identity)

    def set_attenuation(self, db: float) -> float:
        """Set `db` and return what the attenuator reports (it rounds to its step)."""
        with step(f"{self.name}: set attenuation", db=db, wan=self.config.acts_on) as rec:
            db = check_in_range(self.config, "attenuation_range_db", db, "dB")
            self.setting(self.commands.set_attenuation.format(db))
            rec["result"] = self._read()
            return rec["result"]

    def attenuation(self) -> float:
        with step(f"{self.name}: attenuation") as rec:
            rec["result"] = self._read()
            return rec["result"]

    def _read(self) -> float:
        answer = self.query(self.commands.get_attenuation)
        try:
            return float(answer)
        except ValueError:
            raise InstrumentError(
                f"answered {self.commands.get_attenuation} with {answer!r}, not a number",
                where=where(self.config), fix="check that the lab file's kind and model match this instrument",
            ) from None
