"""What every emulated instrument shares: identity, error queue and the IEEE 488.2 commands."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from bench.instruments.emulated.scpi_parser import CommandSet, execute_line, no_params
from bench.instruments.scpi_errors import NO_ERROR, QUEUE_OVERFLOW, ScpiError

ERROR_QUEUE_LENGTH = 10
RECEIVED_KEPT = 10_000  # newest program messages kept in .received  # SCPI requires at least 2; bench instruments commonly hold 10-20


@dataclass(frozen=True)
class Identity:
    """The four fields of `*IDN?`."""

    manufacturer: str
    model: str
    serial: str = "0"
    firmware: str = "1.0"

    def reply(self) -> str:
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"


class EmulatedInstrument:
    """An instrument's SCPI behaviour, independent of how commands reach it (see server.py).

    Every command runs under one lock: several connections (the bench and `skybench
    instruments` at once) see one consistent instrument, as with a real one.
    """

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.lock = threading.RLock()
        self.commands = CommandSet()
        self._errors: deque[ScpiError] = deque()
        # Every program message received, in order: what reached the instrument, for tests and
        # for a bench engineer asking "what did the bench send?".
        self.received: deque[str] = deque(maxlen=RECEIVED_KEPT)
        self.commands.add("*IDN?", self._idn)
        self.commands.add("*RST", self._rst)
        self.commands.add("*CLS", self._cls)
        self.commands.add("*OPC?", self._opc)
        self.commands.add("SYSTem:ERRor[:NEXT]?", self._next_error)
        self.commands.add("SYSTem:ERRor:COUNt?", self._error_count)

    def execute(self, line: str) -> str | None:
        """One program message (a line) in, the response message (or None) out."""
        with self.lock:
            self.received.append(line)
            return execute_line(self.commands, line, self.push_error)

    def push_error(self, error: ScpiError) -> None:
        # On overflow the newest entry is replaced by -350, as SCPI-99 21.8 requires.
        if len(self._errors) >= ERROR_QUEUE_LENGTH:
            self._errors[-1] = QUEUE_OVERFLOW
        else:
            self._errors.append(error)

    def reset(self) -> None:
        """The instrument's *RST state; subclasses extend it."""

    def _idn(self, params: list[str]) -> str:
        no_params(params)
        return self.identity.reply()

    def _rst(self, params: list[str]) -> None:
        no_params(params)
        self.reset()

    def _cls(self, params: list[str]) -> None:
        no_params(params)
        self._errors.clear()

    def _opc(self, params: list[str]) -> str:
        no_params(params)
        return "1"

    def _next_error(self, params: list[str]) -> str:
        no_params(params)
        return (self._errors.popleft() if self._errors else NO_ERROR).reply()

    def _error_count(self, params: list[str]) -> str:
        no_params(params)
        return str(len(self._errors))
