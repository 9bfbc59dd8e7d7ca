"""HTTP/JSON REST drivers: the router's status API and a terminal's status API.

The API (served by the reference router and the embedded OneWeb/LTE terminals, and the contract a
vendor's device is asked to meet; docs/devices.md) returns the protocol models as JSON:

    router    GET  /api/v1/wans                   -> [WanState]
              GET  /api/v1/wans/active?class=C    -> {"traffic_class": C, "wan": name | null}
              GET  /api/v1/clients                -> [Client]
              GET  /api/v1/portal/sessions        -> [PortalSession]
              GET  /api/v1/firmware               -> Firmware
              GET  /api/v1/logs?since=ISO-8601    -> [LogEntry]
              GET  /api/v1/system                 -> {"uptime_s": seconds since boot}
              POST /api/v1/reboot                 -> 202
              PUT  /api/v1/config   {key: value}  -> 200
    terminal  GET  /api/v1/status                 -> TerminalStatus
              POST /api/v1/reboot                 -> 202

HTTP basic authentication is sent when the lab file names a user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import requests
import urllib3
from pydantic import BaseModel, TypeAdapter, ValidationError

from bench.devices.drivers.base import ConnectionLost, DeviceTarget, Driver, StatusTerminal
from bench.devices.protocols import (
    Client,
    Firmware,
    LogEntry,
    PortalSession,
    RouterConfig,
    TerminalStatus,
    TrafficClass,
    WanState,
)
from bench.steps import recorded

T = TypeVar("T")


class _Rest(Driver):
    """The HTTP transport shared by the REST router and terminal drivers."""

    driver_name = "rest"

    def __init__(self, target: DeviceTarget) -> None:
        super().__init__(target)
        self._session: requests.Session | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.target.endpoint}"

    def _http(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.trust_env = False  # a proxy from the environment must never see bench traffic
            if self.target.credentials.username:
                session.auth = (self.target.credentials.username, self.target.credentials.password() or "")
            self._session = session
        return self._session

    def _reconnect(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None

    def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                body: Any = None) -> Any:
        """One HTTP call; JSON body of the reply (None when empty). GETs are retried once if lost."""
        t = self.target

        def once() -> Any:
            try:
                reply = self._http().request(method, self.base_url + path, params=params, json=body,
                                             timeout=t.timeout_s)
            except requests.ConnectTimeout:
                raise self.error(f"no answer within {t.timeout_s:g} s",
                                 "check the address and port in the lab file and that the device is powered "
                                 "and cabled") from None
            except requests.ReadTimeout:
                raise self.error(f"{method} {path} gave no answer within {t.timeout_s:g} s",
                                 "the device accepted the connection but did not answer: check its API "
                                 "service and its load") from None
            except requests.ConnectionError as exc:
                cause = exc.args[0] if exc.args else None
                reason = getattr(cause, "reason", cause)
                if isinstance(cause, urllib3.exceptions.ProtocolError):
                    raise ConnectionLost(str(cause)) from None  # it was connected, then the link broke
                if isinstance(reason, urllib3.exceptions.NewConnectionError) and "refused" in str(reason).lower():
                    raise self.error(f"connection refused on port {t.port}",
                                     "the device is up but nothing listens there: check the port and "
                                     "that its status API is enabled") from None
                raise self.error(f"cannot reach the device: {reason}",
                                 "check the address in the lab file and the bench host's route to it") from None
            if reply.status_code in (401, 403):
                who = t.credentials.username or "(no user configured)"
                raise self.error(f"the device refused the login of user {who!r} (HTTP {reply.status_code})",
                                 "check credentials.username and the password source in the lab file")
            if reply.status_code >= 400:
                raise self.unexpected(f"{method} {path}", f"HTTP {reply.status_code} {reply.text.strip()[:200]}")
            if not reply.content:
                return None
            try:
                return reply.json()
            except ValueError:
                raise self.unexpected(f"{method} {path}", f"not JSON: {reply.text.strip()[:120]}") from None

        return self.call(f"{method} {path}", once, idempotent=method == "GET")

    def get(self, path: str, shape: type[T] | Any, params: dict[str, str] | None = None) -> T:
        data = self.request("GET", path, params=params)
        try:
            return TypeAdapter(shape).validate_python(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise self.unexpected(f"GET {path}", f"{where}: {first['msg']}") from None


class RestRouter(_Rest):
    """An OnboardRouter behind the REST status API."""

    @recorded()
    def wans(self) -> list[WanState]:
        return self.get("/api/v1/wans", list[WanState])

    @recorded()
    def active_wan(self, traffic_class: TrafficClass = "passenger") -> str | None:
        class Active(BaseModel):
            traffic_class: str
            wan: str | None

        return self.get("/api/v1/wans/active", Active, {"class": traffic_class}).wan

    @recorded()
    def clients(self) -> list[Client]:
        return self.get("/api/v1/clients", list[Client])

    @recorded()
    def portal_sessions(self) -> list[PortalSession]:
        return self.get("/api/v1/portal/sessions", list[PortalSession])

    @recorded()
    def firmware(self) -> Firmware:
        return self.get("/api/v1/firmware", Firmware)

    @recorded()
    def logs_since(self, since: datetime) -> list[LogEntry]:
        return self.get("/api/v1/logs", list[LogEntry], {"since": since.isoformat()})

    @recorded()
    def uptime_s(self) -> float:
        reply = self.request("GET", "/api/v1/system")
        try:
            return float(reply["uptime_s"])
        except (KeyError, TypeError, ValueError):
            raise self.unexpected("GET /api/v1/system", f"no numeric uptime_s in {str(reply)[:200]}") from None

    @recorded()
    def reboot(self) -> None:
        self.request("POST", "/api/v1/reboot")

    @recorded()
    def apply_config(self, config: RouterConfig) -> None:
        self.request("PUT", "/api/v1/config", body=config)


class RestTerminal(StatusTerminal, _Rest):
    """A SatelliteTerminal behind the REST status API (OneWeb and LTE in the embedded lab)."""

    @recorded()
    def status(self) -> TerminalStatus:
        return self.get("/api/v1/status", TerminalStatus)

    @recorded()
    def reboot(self) -> None:
        self.request("POST", "/api/v1/reboot")
