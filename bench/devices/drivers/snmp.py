"""SNMP drivers (pysnmp): what any managed router or terminal answers through standard MIBs.

    SNMPv2-MIB  sysDescr.0 1.3.6.1.2.1.1.1.0, sysUpTime.0 1.3.6.1.2.1.1.3.0
    IF-MIB      ifDescr 1.3.6.1.2.1.2.2.1.2, ifOperStatus 1.3.6.1.2.1.2.2.1.8,
                ifName 1.3.6.1.2.1.31.1.1.1.1, ifHCInOctets .31.1.1.1.6, ifHCOutOctets .31.1.1.1.10
    IP-MIB      ipAdEntIfIndex 1.3.6.1.2.1.4.20.1.2 (the router's address per interface)

Credentials: without a user name, SNMPv2c with the community read from password_env /
password_file ("public" when none is configured); with a user name, SNMPv3 USM with SHA
authentication and AES privacy, both keyed by the password. Numeric OIDs only: no MIB files are
loaded, so the driver works the same on any host.

Standard MIBs carry interface state and counters, not health probes, portal sessions or logs:
those calls raise UnsupportedByDriver naming the drivers that can answer them.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
    usmAesCfb128Protocol,
    usmHMACSHAAuthProtocol,
    walk_cmd,
)

from bench.devices.drivers.base import ConnectionLost, DeviceTarget, Driver
from bench.devices.protocols import (
    Client,
    Firmware,
    LogEntry,
    Obstruction,
    PortalSession,
    RouterConfig,
    TerminalState,
    TerminalStatus,
    Throughput,
    TrafficClass,
    UnsupportedByDriver,
    WanState,
)
from bench.steps import recorded

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT_OCTETS = "1.3.6.1.2.1.31.1.1.1.10"
IP_AD_ENT_IF_INDEX = "1.3.6.1.2.1.4.20.1.2"
OPER_UP = 1

# Interfaces that are WAN uplinks: the embedded lab's wan-<name>, OpenWrt's wan/wwan devices.
DEFAULT_WAN_PATTERN = r"^(wan-(?P<name>.+)|(?P<dev>w?wan\d*))$"


class _Snmp(Driver):
    """The SNMP transport: GET and WALK over one engine and event loop per driver."""

    driver_name = "snmp"

    def __init__(self, target: DeviceTarget) -> None:
        super().__init__(target)
        self._loop = asyncio.new_event_loop()
        self._engine: SnmpEngine | None = None
        self._answered = False

    def _auth(self) -> Any:
        credentials = self.target.credentials
        secret = credentials.password()
        if credentials.username:
            return UsmUserData(credentials.username, authKey=secret, privKey=secret,
                               authProtocol=usmHMACSHAAuthProtocol, privProtocol=usmAesCfb128Protocol)
        return CommunityData(secret or "public", mpModel=1)

    async def _transport(self) -> UdpTransportTarget:
        return await UdpTransportTarget.create((self.target.address, self.target.port),
                                               timeout=self.target.timeout_s, retries=1)

    def _check(self, what: str, indication: Any, status: Any, index: Any) -> None:
        if indication:
            text = str(indication)
            if "timeout" in text.lower() or "No SNMP response" in text:
                if self._answered:
                    raise ConnectionLost(text)
                v3 = bool(self.target.credentials.username)
                raise self.error(
                    f"no SNMP answer within {self.target.timeout_s:g} s (two tries)",
                    "check the address and port in the lab file, that the agent runs and allows this host, "
                    + ("and the SNMPv3 user" if v3 else "and the community: SNMPv2c ignores a wrong one silently"),
                )
            if any(word in text.lower() for word in ("digest", "unknown user", "unknownusername", "decrypt",
                                                      "unsupported security level", "authorization")):
                raise self.error(
                    f"the agent refused the SNMPv3 login of user {self.target.credentials.username!r}: {text}",
                    "check credentials.username and the password (used for SHA authentication and AES privacy)",
                )
            raise self.unexpected(what, text)
        if status:
            raise self.unexpected(what, f"{status.prettyPrint()} at index {index}")

    def _run(self, what: str, coro_factory) -> Any:  # type: ignore[no-untyped-def]
        def once() -> Any:
            if self._engine is None:
                self._engine = SnmpEngine()
            result = self._loop.run_until_complete(coro_factory())
            self._answered = True
            return result

        return self.call(what, once, idempotent=True)

    def get(self, *oids: str) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            indication, status, index, binds = await get_cmd(
                self._engine, self._auth(), await self._transport(), ContextData(),
                *(ObjectType(ObjectIdentity(oid)) for oid in oids))
            self._check(f"GET {' '.join(oids)}", indication, status, index)
            return {str(name): value for name, value in binds}

        return self._run(f"GET {' '.join(oids)}", go)

    def walk(self, oid: str) -> dict[str, Any]:
        """Column OID -> {row index (the OID suffix): value}."""
        async def go() -> dict[str, Any]:
            rows: dict[str, Any] = {}
            transport = await self._transport()
            async for indication, status, index, binds in walk_cmd(
                    self._engine, self._auth(), transport, ContextData(), ObjectType(ObjectIdentity(oid)),
                    lexicographicMode=False):
                self._check(f"WALK {oid}", indication, status, index)
                for name, value in binds:
                    rows[str(name)[len(oid) + 1:]] = value
            return rows

        return self._run(f"WALK {oid}", go)

    def interfaces(self) -> dict[str, dict[str, Any]]:
        """Interface name -> {oper_up, rx_bytes, tx_bytes, address}."""
        names = self.walk(IF_NAME) or self.walk(IF_DESCR)
        oper = self.walk(IF_OPER_STATUS)
        rx, tx = self.walk(IF_HC_IN_OCTETS), self.walk(IF_HC_OUT_OCTETS)
        addresses = {str(int(v)): ip for ip, v in self.walk(IP_AD_ENT_IF_INDEX).items()}
        found = {}
        for index, name in names.items():
            found[str(name)] = {
                "oper_up": int(oper[index]) == OPER_UP if index in oper else False,
                "rx_bytes": int(rx[index]) if index in rx else None,
                "tx_bytes": int(tx[index]) if index in tx else None,
                "address": addresses.get(index),
            }
        if not found:
            raise self.unexpected("WALK IF-MIB", "the agent lists no interfaces (check its view/access rules)")
        return found

    def uptime_s(self) -> int:
        return int(self.get(SYS_UPTIME)[SYS_UPTIME]) // 100  # TimeTicks are hundredths

    def _reconnect(self) -> None:
        self._engine = None  # a new engine: fresh USM state and sockets

    def close(self) -> None:
        self._reconnect()
        if not self._loop.is_closed():
            self._loop.close()

    def _unsupported(self, call: str, alternatives: str) -> UnsupportedByDriver:
        return UnsupportedByDriver(call, device=self.name, driver=self.driver_name, alternatives=alternatives)


class SnmpRouter(_Snmp):
    """An OnboardRouter seen through IF-MIB: WAN interfaces' state and counters, and sysDescr."""

    def __init__(self, target: DeviceTarget, *, wan_pattern: str = DEFAULT_WAN_PATTERN) -> None:
        super().__init__(target)
        self.wan_pattern = re.compile(wan_pattern)

    @recorded()
    def wans(self) -> list[WanState]:
        wans = []
        for name, iface in self.interfaces().items():
            match = self.wan_pattern.match(name)
            if not match:
                continue
            groups = match.groupdict()
            wans.append(WanState(
                name=groups.get("name") or groups.get("dev") or name, up=iface["oper_up"], active=False,
                interface=name, address=iface["address"], rx_bytes=iface["rx_bytes"], tx_bytes=iface["tx_bytes"],
            ))
        return wans

    def active_wan(self, traffic_class: TrafficClass = "passenger") -> str | None:
        raise self._unsupported("active_wan", "ssh or rest")

    def clients(self) -> list[Client]:
        raise self._unsupported("clients", "ssh or rest")

    def portal_sessions(self) -> list[PortalSession]:
        raise self._unsupported("portal_sessions", "ssh or rest")

    @recorded()
    def uptime_s(self) -> int:
        return super().uptime_s()  # sysUpTime: the agent's uptime, which starts with the router

    @recorded()
    def firmware(self) -> Firmware:
        descr = str(self.get(SYS_DESCR)[SYS_DESCR])
        words = descr.split()
        if not words:
            raise self.unexpected("GET sysDescr", "empty sysDescr")
        # net-snmp on Linux: "Linux <host> <kernel release> #1 SMP ... <arch>"
        version = words[2] if words[0] == "Linux" and len(words) > 2 else (words[1] if len(words) > 1 else descr)
        return Firmware(vendor=words[0], version=version, description=descr)

    def logs_since(self, since: datetime) -> list[LogEntry]:
        raise self._unsupported("logs_since", "ssh or rest")

    def reboot(self) -> None:
        raise self._unsupported("reboot", "ssh or rest")

    def apply_config(self, config: RouterConfig) -> None:
        raise self._unsupported("apply_config", "ssh or rest")


class SnmpTerminal(_Snmp):
    """A terminal seen through IF-MIB: its sky-side link state, traffic and uptime."""

    def __init__(self, target: DeviceTarget, *, sky_interface: str | None = None) -> None:
        super().__init__(target)
        self.sky_interface = sky_interface
        self._last: tuple[float, int, int] | None = None

    def _sky(self) -> dict[str, Any]:
        interfaces = self.interfaces()
        if self.sky_interface is not None:
            if self.sky_interface not in interfaces:
                raise self.unexpected("WALK IF-MIB", f"no interface {self.sky_interface!r}; it has {', '.join(interfaces)}")
            return interfaces[self.sky_interface]
        candidates = [i for n, i in interfaces.items() if n != "lo"]
        if not candidates:
            raise self.unexpected("WALK IF-MIB", "no interface but lo")
        return candidates[-1]  # terminals list the modem / sky port after their LAN ports

    @recorded()
    def state(self) -> TerminalState:
        return TerminalState.CONNECTED if self._sky()["oper_up"] else TerminalState.OFFLINE

    @recorded()
    def throughput(self) -> Throughput:
        """Average since the previous call (the first call starts the measurement: 0)."""
        sky = self._sky()
        now, rx, tx = time.monotonic(), sky["rx_bytes"] or 0, sky["tx_bytes"] or 0
        last, self._last = self._last, (now, rx, tx)
        if last is None or now <= last[0]:
            return Throughput(downlink_bps=0.0, uplink_bps=0.0)
        dt = now - last[0]
        return Throughput(downlink_bps=max(0, rx - last[1]) * 8 / dt, uplink_bps=max(0, tx - last[2]) * 8 / dt)

    @recorded()
    def uptime_s(self) -> int:
        return super().uptime_s()

    def status(self) -> TerminalStatus:
        raise self._unsupported("status", "starlink-grpc or rest")

    def latency_ms(self) -> float | None:
        raise self._unsupported("latency_ms", "starlink-grpc or rest")

    def drop_rate(self) -> float:
        raise self._unsupported("drop_rate", "starlink-grpc or rest")

    def obstruction(self) -> Obstruction:
        raise self._unsupported("obstruction", "starlink-grpc or rest")

    def alerts(self) -> list[str]:
        raise self._unsupported("alerts", "starlink-grpc or rest")

    def reboot(self) -> None:
        raise self._unsupported("reboot", "starlink-grpc or rest")
