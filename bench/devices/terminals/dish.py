"""The emulated Starlink dish's gRPC service: SpaceX.API.Device.Device/Handle, with reflection.

A request is answered from the terminal's current status (a TerminalStatus the lab's feed keeps
up to date, read through `current_status`). get_status gives a DishGetStatusResponse rendered the
way a real dish fills it; reboot asks the feed to reboot the terminal; anything else is answered
UNIMPLEMENTED, as a dish answers a request it does not know.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection

from bench.devices.protocols import TerminalState, TerminalStatus
from bench.devices.terminals import starlink_api

# How each bench state shows in a dish's DishOutage.Cause (CONNECTED: no outage field at all).
OUTAGE_CAUSE = {
    TerminalState.OBSTRUCTED: "OBSTRUCTED",
    TerminalState.NO_SATELLITES: "NO_SATS",
    TerminalState.SEARCHING: "NO_SCHEDULE",
    TerminalState.BOOTING: "BOOTING",
    TerminalState.STOWED: "STOWED",
    TerminalState.OFFLINE: "NO_DOWNLINK",
    TerminalState.UNKNOWN: "UNKNOWN",
}


def status_response(status: TerminalStatus, outage_started_ns: int | None = None) -> Any:
    """A Response carrying dish_get_status for this status."""
    response_cls = starlink_api.message_class("Response")
    response = response_cls()
    dish = response.dish_get_status
    dish.device_info.id = status.device_id or "ut-emulated"
    dish.device_info.hardware_version = status.hardware_version or ""
    dish.device_info.software_version = status.software_version or ""
    dish.device_info.country_code = "KZ"
    dish.device_state.uptime_s = status.uptime_s
    dish.pop_ping_drop_rate = status.drop_rate
    if status.latency_ms is not None:
        dish.pop_ping_latency_ms = status.latency_ms
    dish.downlink_throughput_bps = status.throughput.downlink_bps
    dish.uplink_throughput_bps = status.throughput.uplink_bps
    dish.obstruction_stats.fraction_obstructed = status.obstruction.fraction_obstructed
    dish.obstruction_stats.currently_obstructed = status.obstruction.currently_obstructed
    dish.obstruction_stats.valid_s = status.obstruction.valid_s or 0.0
    dish.obstruction_stats.avg_prolonged_obstruction_interval_s = float("nan")
    dish.boresight_azimuth_deg = 0.0
    dish.boresight_elevation_deg = 90.0
    dish.gps_stats.gps_valid = True
    dish.gps_stats.gps_sats = 12
    dish.is_snr_above_noise_floor = status.state is TerminalState.CONNECTED
    dish.seconds_to_first_nonempty_slot = 0.0 if status.state is TerminalState.CONNECTED else 1.0
    for name in status.alerts:
        if name in dict(starlink_api.ALERTS):
            setattr(dish.alerts, name, True)
    if status.state is not TerminalState.CONNECTED:
        outage_cls = starlink_api.message_class("DishOutage")
        dish.outage.cause = outage_cls.Cause.Value(OUTAGE_CAUSE[status.state])
        dish.outage.start_timestamp_ns = outage_started_ns or time.time_ns()
    return response


class DishService:
    """The Handle method; `current_status` reads the feed, `request_reboot` asks it to reboot."""

    def __init__(self, current_status: Callable[[], TerminalStatus], request_reboot: Callable[[], None]) -> None:
        self.current_status = current_status
        self.request_reboot = request_reboot
        self._outage_started_ns: int | None = None
        self.request_cls = starlink_api.message_class("Request")
        self.response_cls = starlink_api.message_class("Response")

    def handle(self, request: Any, context: grpc.ServicerContext) -> Any:
        kind = request.WhichOneof("request")
        if kind == "get_status":
            status = self.current_status()
            if status.state is TerminalState.CONNECTED:
                self._outage_started_ns = None
            elif self._outage_started_ns is None:
                self._outage_started_ns = time.time_ns()
            response = status_response(status, self._outage_started_ns)
        elif kind == "get_device_info":
            status = self.current_status()
            response = self.response_cls()
            response.get_device_info.device_info.id = status.device_id or "ut-emulated"
            response.get_device_info.device_info.hardware_version = status.hardware_version or ""
            response.get_device_info.device_info.software_version = status.software_version or ""
        elif kind == "reboot":
            self.request_reboot()
            response = self.response_cls()
            response.reboot.SetInParent()
        else:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"request {kind or '(empty)'} is not served by the emulated dish")
        response.id = request.id
        return response


def serve_dish(address: str, port: int, service: DishService) -> grpc.Server:
    """Start the gRPC server (Device service plus reflection) on address:port; the caller stops it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(starlink_api.SERVICE, {
        "Handle": grpc.unary_unary_rpc_method_handler(
            service.handle,
            request_deserializer=service.request_cls.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        ),
    })
    server.add_generic_rpc_handlers((handler,))
    reflection.enable_server_reflection((starlink_api.SERVICE, reflection.SERVICE_NAME), server,
                                        pool=starlink_api.pool())
    bound = server.add_insecure_port(f"{address}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {address}:{port}")
    server.start()
    return server
