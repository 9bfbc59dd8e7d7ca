"""SCPI error queue entries (IEEE 488.2 / SCPI-99 standard codes) and how to read them.

Shared by the drivers (which read `SYST:ERR?` after each setting command) and the emulated
instruments (which put these codes in their queue exactly where a real instrument would).
"""

from __future__ import annotations

import re
from typing import NamedTuple


class ScpiError(NamedTuple):
    """One entry of an instrument's error queue: `-222,"Data out of range"`."""

    code: int
    message: str

    def reply(self) -> str:
        """The entry as the instrument answers `SYST:ERR?`."""
        return f'{self.code:+d},"{self.message}"' if self.code else '+0,"No error"'

    @property
    def is_error(self) -> bool:
        return self.code != 0


NO_ERROR = ScpiError(0, "No error")
COMMAND_ERROR = ScpiError(-100, "Command error")
SYNTAX_ERROR = ScpiError(-102, "Syntax error")
DATA_TYPE_ERROR = ScpiError(-104, "Data type error")
PARAMETER_NOT_ALLOWED = ScpiError(-108, "Parameter not allowed")
MISSING_PARAMETER = ScpiError(-109, "Missing parameter")
UNDEFINED_HEADER = ScpiError(-113, "Undefined header")
ILLEGAL_PARAMETER_VALUE = ScpiError(-224, "Illegal parameter value")
DATA_OUT_OF_RANGE = ScpiError(-222, "Data out of range")
QUEUE_OVERFLOW = ScpiError(-350, "Queue overflow")

_REPLY = re.compile(r'\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$', re.DOTALL)


def parse_error_reply(text: str) -> ScpiError | None:
    """A `SYST:ERR?` answer as an ScpiError; None when the text is not one (wrong instrument)."""
    match = _REPLY.match(text)
    if not match:
        return None
    return ScpiError(int(match[1]), match[2])
