"""Starlink terminal driver, built on starlink-grpc-core (its `starlink_grpc` module).

starlink_grpc fetches the dish's protobuf descriptors by gRPC reflection on first use, then reads
`get_status` through `status_data()`. This driver maps its answer onto the TerminalStatus model;
a real dish (192.168.100.1:9200) and the embedded lab's emulated one are read the same way.
"""

from __future__ import annotations

import threading

import grpc
import starlink_grpc

from bench.devices.drivers.base import ConnectionLost, DeviceTarget, Driver, StatusTerminal
from bench.devices.protocols import Obstruction, TerminalState, TerminalStatus, Throughput
from bench.steps import recorded

# starlink_grpc's state names (DishOutage.Cause, with NO_SCHEDULE shown as SEARCHING) -> ours.
STATES = {
    "CONNECTED": TerminalState.CONNECTED,
    "SEARCHING": TerminalState.SEARCHING,
    "OBSTRUCTED": TerminalState.OBSTRUCTED,
    "NO_SATS": TerminalState.NO_SATELLITES,
    "BOOTING": TerminalState.BOOTING,
    "STOWED": TerminalState.STOWED,
    "NO_DOWNLINK": TerminalState.OFFLINE,
    "NO_PINGS": TerminalState.OFFLINE,
    "THERMAL_SHUTDOWN": TerminalState.OFFLINE,
    "SLEEPING": TerminalState.OFFLINE,
}

_timeout_lock = threading.Lock()  # starlink_grpc keeps its request timeout in a module global


class StarlinkGrpcTerminal(StatusTerminal, Driver):
    """A SatelliteTerminal that is a Starlink dish (or the embedded lab's emulated dish)."""

    driver_name = "starlink-grpc"

    def __init__(self, target: DeviceTarget) -> None:
        super().__init__(target)
        self._context: starlink_grpc.ChannelContext | None = None
        self._answered = False  # once the dish answered, UNAVAILABLE means the link was lost

    def _reconnect(self) -> None:
        if self._context is not None:
            self._context.close()
        self._context = None

    def _ctx(self) -> starlink_grpc.ChannelContext:
        if self._context is None:
            self._context = starlink_grpc.ChannelContext(target=self.target.endpoint)
        return self._context

    def _grpc(self, what: str, fn, *, idempotent: bool):  # type: ignore[no-untyped-def]
        def once():  # type: ignore[no-untyped-def]
            with _timeout_lock:
                starlink_grpc.REQUEST_TIMEOUT = self.target.timeout_s
                try:
                    result = fn(self._ctx())
                except starlink_grpc.GrpcError as exc:
                    raise self._classify(what, exc) from None
            self._answered = True
            return result

        return self.call(what, once, idempotent=idempotent)

    def _classify(self, what: str, exc: starlink_grpc.GrpcError) -> Exception:
        cause = exc.__cause__
        code = cause.code() if isinstance(cause, grpc.Call) else None
        if code == grpc.StatusCode.UNAVAILABLE and self._answered:
            return ConnectionLost(str(exc))
        if code == grpc.StatusCode.UNAVAILABLE:
            return self.error(
                f"no Starlink dish answers ({exc})",
                "check the terminal address and port in the lab file (a dish serves 192.168.100.1:9200), "
                "that the dish is powered, and the bench host's route to it",
            )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return self.error(f"{what} gave no answer within {self.target.timeout_s:g} s",
                              "the dish accepted the connection but did not answer: check its power and cabling")
        if str(exc) == "Reflection service error" or code == grpc.StatusCode.UNIMPLEMENTED:
            return self.error(
                "the device does not serve the Starlink gRPC API (SpaceX.API.Device.Device via reflection)",
                "check that the address is the dish's (not the Starlink router's) and the terminal driver",
            )
        return self.unexpected(what, str(exc))

    @recorded()
    def status(self) -> TerminalStatus:
        status, obstruction, alerts = self._grpc("get_status", lambda ctx: starlink_grpc.status_data(ctx),
                                                 idempotent=True)
        state = STATES.get(str(status["state"]), TerminalState.UNKNOWN)
        latency = status.get("pop_ping_latency_ms")
        return TerminalStatus(
            state=state,
            # A dish keeps its last latency figure during an outage; it is not a measurement then.
            latency_ms=float(latency) if latency is not None and state is TerminalState.CONNECTED else None,
            drop_rate=min(1.0, max(0.0, float(status.get("pop_ping_drop_rate") or 0.0))),
            obstruction=Obstruction(
                currently_obstructed=bool(status.get("currently_obstructed")),
                fraction_obstructed=min(1.0, max(0.0, float(status.get("fraction_obstructed") or 0.0))),
                valid_s=obstruction.get("valid_s"),
            ),
            throughput=Throughput(downlink_bps=float(status.get("downlink_throughput_bps") or 0.0),
                                  uplink_bps=float(status.get("uplink_throughput_bps") or 0.0)),
            alerts=sorted(name.removeprefix("alert_") for name, on in alerts.items() if on),
            uptime_s=int(status.get("uptime") or 0),
            device_id=status.get("id"),
            hardware_version=status.get("hardware_version"),
            software_version=status.get("software_version"),
        )

    @recorded()
    def reboot(self) -> None:
        self._grpc("reboot", lambda ctx: starlink_grpc.reboot(ctx), idempotent=False)
