"""What every driver shares: where the device is, one error shape, and safe retries.

Every failure a user can meet (unreachable, refused login, timeout, unexpected reply) becomes one
`DeviceError` naming the device, its address, the driver and what to check. A connection lost in
the middle of a test is retried once, only for calls that read (`idempotent=True`), and the retry
is both recorded as a step and kept in `driver.retries` so the report shows it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from bench.devices.protocols import Obstruction, TerminalState, TerminalStatus, Throughput
from bench.errors import BenchError
from bench.lab.model import Credentials
from bench.steps import step

log = logging.getLogger("skybench.devices")
T = TypeVar("T")


class DeviceTarget(BaseModel):
    """Where a device is and how to log in: built from the lab file's dut or terminal entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    driver: str
    address: str
    port: int
    credentials: Credentials = Credentials()
    timeout_s: float = 5.0

    @property
    def endpoint(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


class DeviceError(BenchError):
    """A device could not be reached or answered something the driver cannot use."""


class ConnectionLost(Exception):
    """Raised inside a driver when an established connection broke; the caller may retry."""


class Retry(BaseModel):
    """One retried call: what, when, and why."""

    model_config = ConfigDict(frozen=True)

    call: str
    at: float
    reason: str


class Driver:
    """Base of the drivers: holds the target, builds errors, retries idempotent calls once."""

    driver_name = "?"

    def __init__(self, target: DeviceTarget) -> None:
        self.target = target
        self.name = target.name
        self.retries: list[Retry] = []

    # -- errors -----------------------------------------------------------------------------------
    def error(self, what: str, fix: str) -> DeviceError:
        return DeviceError(
            what,
            where=f"device {self.target.name} at {self.target.endpoint} (driver {self.driver_name})",
            fix=fix,
        )

    def unexpected(self, call: str, detail: str) -> DeviceError:
        return self.error(
            f"unexpected reply to {call}: {detail}",
            "check that the device runs the firmware this driver expects (docs/devices.md) "
            "and that the lab file picks the right driver",
        )

    # -- retries ----------------------------------------------------------------------------------
    def _reconnect(self) -> None:
        """Drop whatever connection is held; the next call opens a new one."""

    def call(self, what: str, fn: Callable[[], T], *, idempotent: bool) -> T:
        """Run fn; on a lost connection reconnect and retry once if the call only reads."""
        try:
            return fn()
        except ConnectionLost as lost:
            if not idempotent:
                raise self.error(
                    f"the connection was lost during {what}; it changes the device, so it was not retried",
                    "check the device's state by hand before re-running; a flaky management link "
                    "shows in the device's logs",
                ) from None
            retry = Retry(call=what, at=time.time(), reason=str(lost) or type(lost).__name__)
            self.retries.append(retry)
            log.warning("%s: connection lost during %s (%s); reconnecting and retrying once",
                        self.name, what, retry.reason)
            with step(f"{self.name}: reconnect and retry", call=what, reason=retry.reason):
                self._reconnect()
                try:
                    return fn()
                except ConnectionLost as again:
                    raise self.error(
                        f"the connection was lost during {what} and again on the retry ({again})",
                        "check the management link to the device (cable, address, that the service runs)",
                    ) from None

    def close(self) -> None:
        self._reconnect()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StatusTerminal:
    """The SatelliteTerminal accessors, each read from one `status()` call (a terminal answers
    everything in one status reply; drivers implement `status()` and `reboot()`)."""

    def status(self) -> TerminalStatus:
        raise NotImplementedError

    def state(self) -> TerminalState:
        return self.status().state

    def latency_ms(self) -> float | None:
        return self.status().latency_ms

    def drop_rate(self) -> float:
        return self.status().drop_rate

    def obstruction(self) -> Obstruction:
        return self.status().obstruction

    def throughput(self) -> Throughput:
        return self.status().throughput

    def alerts(self) -> list[str]:
        return self.status().alerts

    def uptime_s(self) -> int:
        return self.status().uptime_s
