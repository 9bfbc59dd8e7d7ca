"""The user classes a profile may name, as plain data (importing Locust would monkey-patch the
importing process with gevent: only the Locust process imports loadgen.users.behaviours)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class UserClassInfo:
    kind: Literal["passenger", "ops"]  # which LAN its devices are on
    description: str
    option_defaults: dict[str, Any] = field(default_factory=dict)


# Passengers other than `portal` accept the terms (free tier) when they join, or buy `package`.
PASSENGER_OPTIONS = {"package": None}
USER_CLASSES: dict[str, UserClassInfo] = {
    "browsing": UserClassInfo("passenger", "web pages: the HTML, then its 20-80 objects over 6 connections",
                              {**PASSENGER_OPTIONS, "connections": 6}),
    "video": UserClassInfo("passenger", "HLS-like streaming: start-up delay, rebuffering, adaptive bitrate",
                           {**PASSENGER_OPTIONS, "session_s": 60.0, "buffer_target_s": 10.0}),
    "call": UserClassInfo("passenger", "a video call over UDP: jitter, loss, round trip",
                          {**PASSENGER_OPTIONS, "call_s": 20.0, "packet_rate": 50, "packet_bytes": 1000}),
    "messaging": UserClassInfo("passenger", "chat: post a message, poll for new ones", {**PASSENGER_OPTIONS}),
    "bulk": UserClassInfo("passenger", "large downloads", {**PASSENGER_OPTIONS, "bytes": 20_000_000}),
    "portal": UserClassInfo("passenger", "the portal journey: detect the captive portal, accept the terms, buy a package, "
                            "use it up", {"package": None, "exhaust_quota": False, "max_bytes": 2_000_000_000}),
    "pos": UserClassInfo("ops", "POS payments: small HTTPS transactions with a latency limit",
                         {"amount_kzt": 2500, "limit_s": 1.5}),
    "cctv": UserClassInfo("ops", "a CCTV camera: constant-bitrate UDP uplink, loss counted at the ground",
                          {"kbit": 2000, "chunk_s": 10.0, "packet_bytes": 1200}),
    "conductor": UserClassInfo("ops", "conductors' ticket terminals: small API calls", {}),
}
