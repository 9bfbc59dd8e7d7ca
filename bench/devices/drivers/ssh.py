"""SSH driver for OpenWrt-style routers: ubus, uci, mwan3, openNDS and logread over one session.

The driver runs the router's own commands (see bench/devices/drivers/openwrt.py for what it reads)
over a paramiko connection opened on first use and kept for the driver's life. A connection that
breaks is reopened once for reads (Driver.call); reboot and apply_config are never repeated.
"""

from __future__ import annotations

import socket
from datetime import datetime

import paramiko

from bench.devices.drivers import openwrt
from bench.devices.drivers.base import ConnectionLost, DeviceTarget, Driver
from bench.devices.protocols import (
    Client,
    Firmware,
    LogEntry,
    PortalSession,
    RouterConfig,
    TrafficClass,
    WanState,
)
from bench.steps import recorded, step

DEFAULT_POLICIES: dict[str, str] = {"passenger": "passenger", "operational": "operational"}


class _AcceptAndRecord(paramiko.MissingHostKeyPolicy):
    """Bench routers are re-flashed often, so their host keys change; accept, but put the
    fingerprint in the step log so a swapped device can be spotted afterwards."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        with step("ssh host key", host=hostname, type=key.get_name(), sha256=key.fingerprint):
            pass


class OpenWrtSshRouter(Driver):
    """An OnboardRouter reached over SSH."""

    driver_name = "ssh"

    def __init__(self, target: DeviceTarget, *, policies: dict[str, str] | None = None) -> None:
        super().__init__(target)
        self.policies = {**DEFAULT_POLICIES, **(policies or {})}
        self._client: paramiko.SSHClient | None = None

    # -- transport --------------------------------------------------------------------------------
    def _connect(self) -> paramiko.SSHClient:
        if self._client is not None and self._client.get_transport() is not None \
                and self._client.get_transport().is_active():  # type: ignore[union-attr]
            return self._client
        self._reconnect()
        t = self.target
        user = t.credentials.username or "root"
        password = t.credentials.password()
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_AcceptAndRecord())
        try:
            client.connect(
                t.address, port=t.port, username=user, password=password,
                timeout=t.timeout_s, banner_timeout=t.timeout_s, auth_timeout=t.timeout_s,
                # Without a password configured, keys from ssh-agent or ~/.ssh are tried instead.
                look_for_keys=password is None, allow_agent=password is None,
            )
        except paramiko.AuthenticationException:
            client.close()
            source = (f"the environment variable {t.credentials.password_env}" if t.credentials.password_env
                      else f"the file {t.credentials.password_file}" if t.credentials.password_file
                      else "ssh-agent / ~/.ssh keys (no password configured)")
            raise self.error(
                f"the router refused the login of user {user!r}",
                f"check credentials.username in the lab file and the password in {source}",
            ) from None
        except (TimeoutError, socket.timeout):
            client.close()
            raise self.error(
                f"no answer within {t.timeout_s:g} s",
                "check the address and port in the lab file, that the router is powered and cabled, "
                "and that its SSH server (dropbear) runs",
            ) from None
        except ConnectionRefusedError:
            client.close()
            raise self.error(
                f"connection refused on port {t.port}",
                "the router is up but nothing listens there: check the port and that dropbear runs",
            ) from None
        except paramiko.SSHException as exc:
            client.close()
            raise self.error(
                f"SSH handshake failed: {exc}",
                "check that the port belongs to an SSH server (not HTTP or telnet)",
            ) from None
        except OSError as exc:
            client.close()
            # paramiko reports a refused port as NoValidConnectionsError, one cause per address.
            causes = list(getattr(exc, "errors", {}).values()) or [exc]
            if all(isinstance(c, ConnectionRefusedError) for c in causes):
                raise self.error(
                    f"connection refused on port {t.port}",
                    "the router is up but nothing listens there: check the port and that dropbear runs",
                ) from None
            raise self.error(
                f"cannot reach the router: {exc.strerror or exc}",
                "check the address in the lab file and the bench host's route to it",
            ) from None
        self._client = client
        return client

    def _reconnect(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def run(self, command: str, *, idempotent: bool = True, check: bool = True) -> str:
        """Run one command on the router and return its standard output."""

        def once() -> str:
            client = self._connect()
            try:
                _, stdout, stderr = client.exec_command(command, timeout=self.target.timeout_s)
                out = stdout.read().decode(errors="replace")
                err = stderr.read().decode(errors="replace")
                status = stdout.channel.recv_exit_status()
            except (TimeoutError, socket.timeout):
                raise self.error(
                    f"`{command}` gave no answer within {self.target.timeout_s:g} s",
                    "the router is overloaded or the command hangs; log in by hand and run it",
                ) from None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise ConnectionLost(f"{type(exc).__name__}: {exc}") from None
            if status == -1:  # the channel closed without an exit status: the session died
                raise ConnectionLost("the SSH channel closed without an exit status")
            if check and status != 0:
                raise self.error(
                    f"`{command}` failed (exit {status}): {(err or out).strip()[:300]}",
                    "check that the package providing it is installed on the router (docs/devices.md "
                    "lists what the ssh driver needs: ubus, uci, mwan3, openNDS, logread)",
                )
            return out

        return self.call(f"`{command}`", once, idempotent=idempotent)

    def _parsed(self, command: str, parse):  # type: ignore[no-untyped-def]
        text = self.run(command)
        try:
            return parse(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise self.unexpected(f"`{command}`", str(exc)) from None

    # -- OnboardRouter ----------------------------------------------------------------------------
    def _policies(self) -> dict[str, list[tuple[str, int]]]:
        return self._parsed("mwan3 policies", openwrt.mwan3_policies)

    def _active_for(self, policies: dict[str, list[tuple[str, int]]], traffic_class: str) -> str | None:
        wanted = self.policies.get(traffic_class, traffic_class)
        if wanted in policies:
            members = policies[wanted]
        elif len(policies) == 1:
            members = next(iter(policies.values()))
        else:
            raise self.error(
                f"mwan3 has no policy {wanted!r} for {traffic_class} traffic; it has: {', '.join(policies) or 'none'}",
                f"name the mwan3 policy for {traffic_class} traffic {wanted!r} on the router",
            )
        if not members:
            return None
        return max(members, key=lambda m: m[1])[0]  # max keeps the first of equals: mwan3's order

    @recorded()
    def wans(self) -> list[WanState]:
        dump = self._parsed("ubus call network.interface dump", openwrt.interface_dump)
        mwan3 = self._parsed("ubus call mwan3 status", openwrt.mwan3_interfaces)
        stats = self._parsed("ubus call network.device status", openwrt.device_statistics)
        policies = self._policies()
        active = {w for cls in self.policies if (w := self._active_for(policies, cls)) is not None}
        return openwrt.wan_states(dump, mwan3, stats, active)

    @recorded()
    def active_wan(self, traffic_class: TrafficClass = "passenger") -> str | None:
        return self._active_for(self._policies(), traffic_class)

    @recorded()
    def clients(self) -> list[Client]:
        return self._parsed("cat /tmp/dhcp.leases", openwrt.leases)

    @recorded()
    def portal_sessions(self) -> list[PortalSession]:
        return self._parsed("ndsctl json", openwrt.ndsctl_sessions)

    @recorded()
    def firmware(self) -> Firmware:
        return self._parsed("ubus call system board", openwrt.board)

    @recorded()
    @recorded()
    def uptime_s(self) -> float:
        return self._parsed("ubus call system info", openwrt.system_uptime)

    def logs_since(self, since: datetime) -> list[LogEntry]:
        # logread prints the router's local time without a zone; compare in the same terms.
        local_since = since.astimezone().replace(tzinfo=None) if since.tzinfo else since
        return [e for e in self._parsed("logread", openwrt.logread) if e.time >= local_since]

    @recorded()
    def reboot(self) -> None:
        # The router may cut the session before it answers; that is the reboot working.
        try:
            self.run("reboot", idempotent=False, check=False)
        except Exception as exc:  # noqa: BLE001 - only a lost session is expected here
            if "connection was lost" not in str(exc):
                raise
        self._reconnect()

    @recorded()
    def apply_config(self, config: RouterConfig) -> None:
        try:
            commands = openwrt.uci_set_commands(config)
        except ValueError as exc:
            raise self.error(str(exc), "write keys as package.section.option, e.g. mwan3.starlink.down") from None
        self.run(" && ".join(commands), idempotent=False)
