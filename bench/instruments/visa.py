"""One VISA session to one instrument: every failure becomes an InstrumentError naming it.

The drivers (supply.py, attenuator.py) build on this: `*IDN?` is checked against the lab file's
model on connect, the error queue is cleared, and after every setting command `SYST:ERR?` is read
until it says "No error", so an instrument that refused a command fails the step that sent it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

import pyvisa
import pyvisa.constants as vc
from pyvisa.errors import VisaIOError

from bench.errors import BenchError
from bench.instruments.commands import CommonCommands
from bench.instruments.scpi_errors import ScpiError, parse_error_reply
from bench.lab.model import InstrumentConfig
from bench.steps import step

T = TypeVar("T")

DEFAULT_TIMEOUT_MS = 2000
MAX_ERRORS_READ = 20  # a queue longer than this is drained by *CLS, not read forever
PY_BACKEND = "@py"

CHECK_CONNECTION = (
    "check that the instrument is switched on and cabled, that the lab file's resource string is "
    "right (LAN: TCPIP0::HOST::5025::SOCKET, the raw SCPI port, usually 5025; serial: "
    "ASRL/dev/ttyUSB0::INSTR with the instrument's baud rate) and that nothing else holds it"
)
CHECK_TERMINATION = (
    "the instrument did not end an answer with a line feed: check the resource string points at "
    "its SCPI port, that its interface is set to terminate with LF (\\n), and that it is not busy"
)


class InstrumentError(BenchError):
    """An instrument failed, refused a command or is not the one the lab file describes."""


def where(config: InstrumentConfig) -> str:
    return f"instrument {config.name} ({config.resource})"


class VisaSession:
    """A connected instrument: query/write with checked errors. Use as a context manager."""

    commands: CommonCommands = CommonCommands()

    def __init__(self, config: InstrumentConfig, *, backend: str = PY_BACKEND,
                 resource_manager: pyvisa.ResourceManager | None = None,
                 timeout_ms: int = DEFAULT_TIMEOUT_MS, clear_errors: bool = True) -> None:
        self.config = config
        # Off for read-only looks (`skybench instruments`): another user's errors stay queued.
        self.clear_errors = clear_errors
        self.name = config.name
        self.backend = backend
        self.timeout_ms = timeout_ms
        self.identity = ""
        self._own_rm = resource_manager is None
        self._rm = resource_manager
        self._res: pyvisa.resources.MessageBasedResource | None = None

    # -- connection ------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the session, check `*IDN?` against the lab file's model, clear the error queue (*CLS)."""
        with step(f"{self.name}: connect", resource=self.config.resource, backend=self.backend) as rec:
            try:
                self._connect()
                self.identity = self.query(self.commands.identify)
                self._check_model(self.identity)
                self._select_dialect(self.identity)
                if self.clear_errors:
                    self._visa(self.commands.clear_status, lambda res: res.write(self.commands.clear_status))
            except BaseException:
                self.close()
                raise
            rec["result"] = self.identity

    def _connect(self) -> None:
        if self._rm is None:
            try:
                self._rm = pyvisa.ResourceManager(self.backend)
            except (OSError, ValueError, pyvisa.errors.Error) as exc:
                raise InstrumentError(
                    f"cannot start the VISA backend {self.backend!r}: {exc}", where=where(self.config),
                    fix="reinstall the bench (scripts/setup.sh installs pyvisa-py, and pyvisa-sim for tests)",
                ) from exc
        res = self._visa("open", lambda _: self._rm.open_resource(  # type: ignore[union-attr]
            self.config.resource, open_timeout=self.timeout_ms), opening=True)
        res.timeout = self.timeout_ms
        res.read_termination = "\n"
        res.write_termination = "\n"
        if self.config.resource.upper().startswith("TCPIP") and self.config.resource.upper().endswith("SOCKET"):
            # Without it, a command written right after another waits for the delayed ACK
            # (Nagle): up to 40 ms, four times a 10 ms interruption.
            _set_nodelay(res)
        self._res = res  # type: ignore[assignment]

    def _check_model(self, identity: str) -> None:
        expected = self.config.model
        fields = [f.strip() for f in identity.split(",")]
        if len(fields) < 2:
            raise InstrumentError(
                f"answered *IDN? with {identity!r}, not 'maker,model,serial,firmware'",
                where=where(self.config),
                fix="check that the resource string points at the instrument's SCPI port",
            )
        if expected and expected.lower() not in identity.lower():
            raise InstrumentError(
                f"identifies as {fields[0]} {fields[1]} ({identity!r}), but the lab file expects model {expected!r}",
                where=where(self.config),
                fix=f"check that {self.config.resource} is the {self.config.kind.replace('_', ' ')} meant as "
                f"{self.name!r}, or correct its 'model' in the lab file (a part of the *IDN? answer)",
            )

    def _select_dialect(self, identity: str) -> None:
        """Subclasses pick their command table from the identity."""

    def close(self) -> None:
        res, self._res = self._res, None
        if res is not None:
            with step(f"{self.name}: disconnect", resource=self.config.resource):
                try:
                    res.close()
                except (VisaIOError, OSError):
                    pass
        if self._own_rm and self._rm is not None:
            try:
                self._rm.close()
            except (VisaIOError, OSError):
                pass
            self._rm = None

    def __enter__(self: T) -> T:
        self.open()  # type: ignore[attr-defined]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- messages -----------------------------------------------------------------------------------
    def query(self, command: str) -> str:
        """Send a query and return its answer (stripped)."""
        return self._visa(command, lambda res: res.query(command)).strip()

    def write(self, command: str) -> None:
        """Send a command without reading the error queue (see `setting` for the checked form)."""
        self._visa(command, lambda res: res.write(command))

    def setting(self, command: str) -> None:
        """Send a setting command, then read `SYST:ERR?`: a refused command raises."""
        self.write(command)
        self.raise_errors(repr(command))

    def read_errors(self) -> list[ScpiError]:
        """Drain the error queue (up to MAX_ERRORS_READ entries)."""
        found: list[ScpiError] = []
        for _ in range(MAX_ERRORS_READ):
            reply = self.query(self.commands.next_error)
            error = parse_error_reply(reply)
            if error is None:
                raise InstrumentError(
                    f"answered {self.commands.next_error} with {reply!r}, not 'code,\"message\"'",
                    where=where(self.config),
                    fix="check that the lab file's kind and model match this instrument",
                )
            if not error.is_error:
                break
            found.append(error)
        return found

    def raise_errors(self, after: str) -> None:
        """Raise if the error queue holds errors; `after` names what was sent (quoted)."""
        errors = self.read_errors()
        if errors:
            listed = "; ".join(f'{e.code} "{e.message}"' for e in errors)
            raise InstrumentError(
                f"refused {after}: {listed}", where=where(self.config),
                fix="-113: the instrument does not know this command (check the lab file's model); "
                "-222: the value is beyond the instrument's own range; other codes: see its manual",
            )

    def _visa(self, command: str, call: Callable[[pyvisa.resources.MessageBasedResource], T],
              *, opening: bool = False) -> T:
        res = self._res
        if res is None and not opening:
            raise InstrumentError("is not connected", where=where(self.config), fix="open() it first")
        try:
            return call(res)  # type: ignore[arg-type]
        except VisaIOError as exc:
            if exc.error_code == vc.StatusCode.error_timeout:
                raise InstrumentError(
                    f"did not answer {command!r} within {self.timeout_ms} ms",
                    where=where(self.config), fix=f"{CHECK_CONNECTION}; {CHECK_TERMINATION}",
                ) from exc
            raise InstrumentError(
                f"VISA error on {command!r}: {exc.abbreviation} ({exc.description})",
                where=where(self.config), fix=CHECK_CONNECTION,
            ) from exc
        except OSError as exc:
            # pyvisa-py reports a refused or dropped TCP connection as the socket's OSError.
            what = "cannot open it" if opening else f"lost the connection on {command!r}"
            raise InstrumentError(f"{what}: {exc}", where=where(self.config), fix=CHECK_CONNECTION) from exc
        except (ValueError, pyvisa.errors.Error) as exc:
            what = "cannot open it" if opening else f"failed on {command!r}"
            raise InstrumentError(f"{what}: {exc}", where=where(self.config), fix=CHECK_CONNECTION) from exc
        except Exception as exc:  # pyvisa-py raises a bare Exception("could not connect: ...")
            if not opening:
                raise
            raise InstrumentError(f"cannot open it: {exc}", where=where(self.config), fix=CHECK_CONNECTION) from exc


def _set_nodelay(res: pyvisa.resources.MessageBasedResource) -> None:
    try:
        res.set_visa_attribute(vc.ResourceAttribute.tcpip_nodelay, vc.VisaBoolean.true)
        return
    except Exception:  # pyvisa-py 0.8 lists the attribute but its setter refuses it
        pass
    # pyvisa-py's socket session keeps the socket as `.interface`: set the option there.
    session = getattr(getattr(res, "visalib", None), "sessions", {}).get(res.session)
    sock = getattr(session, "interface", None)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
