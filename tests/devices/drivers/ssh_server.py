"""A real SSH server (asyncssh) on a loopback port, with the OpenWrt shell TEST DOUBLE behind it.

The SSH protocol, key exchange, password authentication and channels are asyncssh's real server;
only the commands' answers come from the double. `drop_next_command()` makes the server abort the
connection when the next command arrives: a management link lost in the middle of a call.
"""

from __future__ import annotations

import asyncio
import threading

import asyncssh

from tests.devices.drivers.router_double import OpenWrtShellDouble


class SshServerDouble:
    def __init__(self, shell: OpenWrtShellDouble, *, username: str, password: str, host: str = "127.0.0.1") -> None:
        self.shell = shell
        self.username = username
        self.password = password
        self.host = host
        self.port = 0
        self.logins_refused = 0
        self.connections_accepted = 0
        self._drop_next = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ssh-server-double", daemon=True)
        self._server: asyncssh.SSHAcceptor | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> SshServerDouble:
        self._thread.start()
        self._server = self._submit(self._start())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _start(self) -> asyncssh.SSHAcceptor:
        key = asyncssh.generate_private_key("ssh-ed25519")
        owner = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                owner.connections_accepted += 1

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                ok = username == owner.username and password == owner.password
                owner.logins_refused += 0 if ok else 1
                return ok

        return await asyncssh.create_server(
            Server, self.host, 0, server_host_keys=[key], process_factory=self._handle,
        )

    async def _handle(self, process: asyncssh.SSHServerProcess) -> None:
        if self._drop_next:
            self._drop_next -= 1
            process.channel.get_connection().abort()  # the link dies mid-call: no reply, no close
            return
        out, err, status = self.shell.run(process.command or "")
        process.stdout.write(out)
        process.stderr.write(err)
        process.exit(status)

    def drop_next_command(self, times: int = 1) -> None:
        self._drop_next = times

    def _submit(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def stop(self) -> None:
        if self._server is not None:
            server = self._server

            async def close() -> None:
                server.close()
                await server.wait_closed()

            self._submit(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SshServerDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

