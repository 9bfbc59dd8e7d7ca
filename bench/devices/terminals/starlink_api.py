"""The Starlink dish's gRPC API (package SpaceX.API.Device), the subset the bench serves, built by hand.

The dish publishes its API only through gRPC server reflection; clients such as starlink-grpc-core
fetch the descriptors from the dish at run time (via yagrc). The emulated dish must therefore serve
descriptors whose names, field numbers and types match a real dish's for every field a client
reads. They are built here with protobuf's descriptor API (no .proto files, no protoc at run time),
from the field numbers the community has documented from real dishes' reflection output:

    Request.get_status = 1004, Request.reboot = 1001, Request.get_device_info = 1008
    Response.dish_get_status = 2004, Response.reboot = 1001, Response.get_device_info = 1004
    DishGetStatusResponse: device_info 1, device_state 2, seconds_to_first_nonempty_slot 1002,
        pop_ping_drop_rate 1003, obstruction_stats 1004, alerts 1005, downlink_throughput_bps 1007,
        uplink_throughput_bps 1008, pop_ping_latency_ms 1009, boresight_azimuth_deg 1011,
        boresight_elevation_deg 1012, outage 1014, gps_stats 1015, is_snr_above_noise_floor 1018
    DishOutage: cause 1 (enum Cause), start_timestamp_ns 2, duration_ns 3, did_switch 4

Messages live in a private DescriptorPool so they never clash with generated SpaceX modules that
a client process might also have loaded.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "SpaceX.API.Device"
SERVICE = f"{PACKAGE}.Device"
COMMON_FILE = "spacex/api/device/common.proto"
DISH_FILE = "spacex/api/device/dish.proto"
DEVICE_FILE = "spacex/api/device/device.proto"

F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "string": F.TYPE_STRING, "bool": F.TYPE_BOOL, "float": F.TYPE_FLOAT, "uint32": F.TYPE_UINT32,
    "uint64": F.TYPE_UINT64, "int64": F.TYPE_INT64, "int32": F.TYPE_INT32,
}

# Causes a dish reports while it is not connected (DishOutage.Cause).
OUTAGE_CAUSES = [
    "UNKNOWN", "BOOTING", "STOWED", "THERMAL_SHUTDOWN", "NO_SCHEDULE", "NO_SATS", "OBSTRUCTED",
    "NO_DOWNLINK", "NO_PINGS", "ACTUATOR_ACTIVITY", "CABLE_TEST", "SLEEPING", "MOVING_WHILE_NOT_ALLOWED",
]
ALERTS = [
    ("motors_stuck", 1), ("thermal_shutdown", 2), ("thermal_throttle", 3), ("unexpected_location", 4),
    ("mast_not_near_vertical", 5), ("slow_ethernet_speeds", 6), ("roaming", 7), ("install_pending", 8),
    ("is_heating", 9), ("power_supply_thermal_throttle", 10), ("is_power_save_idle", 11),
    ("moving_while_not_mobile", 12),
]


def _message(file: descriptor_pb2.FileDescriptorProto, name: str,
             fields: list[tuple[str, int, str]], oneof: str | None = None) -> descriptor_pb2.DescriptorProto:
    """Add a message; a field type is a scalar name or a message/enum type name (".Pkg.Type")."""
    msg = file.message_type.add(name=name)
    if oneof:
        msg.oneof_decl.add(name=oneof)
    for field_name, number, type_name in fields:
        field = msg.field.add(name=field_name, number=number, label=F.LABEL_OPTIONAL,
                              json_name="".join(p if i == 0 else p.capitalize()
                                                for i, p in enumerate(field_name.split("_"))))
        if type_name in _SCALARS:
            field.type = _SCALARS[type_name]
        elif type_name.startswith("enum:"):
            field.type = F.TYPE_ENUM
            field.type_name = type_name[5:]
        else:
            field.type = F.TYPE_MESSAGE
            field.type_name = type_name
        if oneof:
            field.oneof_index = 0
    return msg


def _file(name: str, deps: list[str]) -> descriptor_pb2.FileDescriptorProto:
    return descriptor_pb2.FileDescriptorProto(name=name, package=PACKAGE, syntax="proto3", dependency=deps)


def file_descriptors() -> list[descriptor_pb2.FileDescriptorProto]:
    """The three files, dependencies first."""
    p = f".{PACKAGE}"
    common = _file(COMMON_FILE, [])
    _message(common, "DeviceInfo", [("id", 1, "string"), ("hardware_version", 2, "string"),
                                    ("software_version", 3, "string"), ("country_code", 4, "string")])
    _message(common, "DeviceState", [("uptime_s", 1, "uint64")])

    dish = _file(DISH_FILE, [COMMON_FILE])
    _message(dish, "DishAlerts", [(name, number, "bool") for name, number in ALERTS])
    outage = _message(dish, "DishOutage", [
        ("cause", 1, f"enum:{p}.DishOutage.Cause"), ("start_timestamp_ns", 2, "int64"),
        ("duration_ns", 3, "uint64"), ("did_switch", 4, "bool"),
    ])
    cause = outage.enum_type.add(name="Cause")
    for number, name in enumerate(OUTAGE_CAUSES):
        cause.value.add(name=name, number=number)
    _message(dish, "DishObstructionStats", [
        ("fraction_obstructed", 1, "float"), ("valid_s", 4, "float"), ("currently_obstructed", 5, "bool"),
        ("avg_prolonged_obstruction_duration_s", 6, "float"), ("avg_prolonged_obstruction_interval_s", 7, "float"),
    ])
    _message(dish, "DishGpsStats", [("gps_valid", 1, "bool"), ("gps_sats", 2, "uint32"),
                                    ("no_sats_after_ttff", 3, "bool"), ("inhibit_gps", 4, "bool")])
    _message(dish, "DishGetStatusResponse", [
        ("device_info", 1, f"{p}.DeviceInfo"), ("device_state", 2, f"{p}.DeviceState"),
        ("seconds_to_first_nonempty_slot", 1002, "float"), ("pop_ping_drop_rate", 1003, "float"),
        ("obstruction_stats", 1004, f"{p}.DishObstructionStats"), ("alerts", 1005, f"{p}.DishAlerts"),
        ("downlink_throughput_bps", 1007, "float"), ("uplink_throughput_bps", 1008, "float"),
        ("pop_ping_latency_ms", 1009, "float"), ("boresight_azimuth_deg", 1011, "float"),
        ("boresight_elevation_deg", 1012, "float"), ("outage", 1014, f"{p}.DishOutage"),
        ("gps_stats", 1015, f"{p}.DishGpsStats"), ("is_snr_above_noise_floor", 1018, "bool"),
    ])

    device = _file(DEVICE_FILE, [COMMON_FILE, DISH_FILE])
    for empty in ("GetStatusRequest", "RebootRequest", "RebootResponse", "GetDeviceInfoRequest"):
        _message(device, empty, [])
    _message(device, "GetDeviceInfoResponse", [("device_info", 1, f"{p}.DeviceInfo")])
    _message(device, "Request", [
        ("id", 1, "uint64"), ("reboot", 1001, f"{p}.RebootRequest"),
        ("get_status", 1004, f"{p}.GetStatusRequest"), ("get_device_info", 1008, f"{p}.GetDeviceInfoRequest"),
    ])
    request = device.message_type[-1]
    request.oneof_decl.add(name="request")
    for field in request.field:
        if field.number != 1:
            field.oneof_index = 0
    _message(device, "Response", [
        ("id", 1, "uint64"), ("reboot", 1001, f"{p}.RebootResponse"),
        ("get_device_info", 1004, f"{p}.GetDeviceInfoResponse"),
        ("dish_get_status", 2004, f"{p}.DishGetStatusResponse"),
    ])
    response = device.message_type[-1]
    response.oneof_decl.add(name="response")
    for field in response.field:
        if field.number != 1:
            field.oneof_index = 0
    service = device.service.add(name="Device")
    service.method.add(name="Handle", input_type=f"{p}.Request", output_type=f"{p}.Response")
    return [common, dish, device]


@cache
def pool() -> descriptor_pool.DescriptorPool:
    built = descriptor_pool.DescriptorPool()
    for proto in file_descriptors():
        built.Add(proto)
    return built


def message_class(name: str) -> Any:
    """The Python class of a message, e.g. message_class("Request")."""
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(f"{PACKAGE}.{name}"))
