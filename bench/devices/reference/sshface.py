"""The reference router's SSH face: a real SSH server on the ops-LAN address, port 22, whose
commands are answered by the OpenWrt face (bench.devices.reference.openwrt_face) from the
router's real state. Started by the bench inside the router namespace (lab.popen, in the ledger):

    python -m bench.devices.reference.sshface <plan.json> --user root --password-env VAR
                                              [--password-file PATH] [--port 22]

The server is asyncssh, not OpenSSH's sshd: sshd checks passwords only against the host's user
database (PAM / shadow), so a bench password would mean adding a user to, or changing root's
password on, the machine the lab runs on; asyncssh checks the lab file's credentials itself. The
SSH protocol, key exchange, ciphers and channels are asyncssh's real implementation. The host key
is made at start and lives in memory only (a new one each start, as after a re-flash).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncssh

from bench.devices.reference.openwrt_face import OpenWrtShell
from bench.devices.reference.plan import RouterPlan

DEFAULT_PORT = 22


def _secret(args: argparse.Namespace) -> str:
    if args.password_file:
        return Path(args.password_file).read_text().strip()
    value = os.environ.get(args.password_env or "")
    if not value:
        raise SystemExit(f"sshface: the environment variable {args.password_env} holding the password is not set")
    return value


async def serve(plan: RouterPlan, user: str, secret: str, port: int) -> None:
    shell = OpenWrtShell(plan)
    loop = asyncio.get_running_loop()

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True  # always ask for a password, also for unknown users (no user probing)

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == user and password == secret

    async def handle(process: asyncssh.SSHServerProcess) -> None:
        command = process.command
        if not command:
            process.stderr.write("this router answers commands only: ssh root@router 'ubus call system board'\n")
            process.exit(1)
            return
        # The shell blocks on the status API and the kernel: keep the event loop free.
        result = await loop.run_in_executor(None, shell.run, command)
        process.stdout.write(result.out)
        process.stderr.write(result.err)
        process.exit(result.status)

    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(Server, plan.ops_address, port, server_host_keys=[key],
                                          process_factory=handle, encoding="utf-8")
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"ready: ssh on {plan.ops_address}:{port}, user {user}, host key {key.get_fingerprint()}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="sshface")
    parser.add_argument("plan")
    parser.add_argument("--user", default="root")
    parser.add_argument("--password-env")
    parser.add_argument("--password-file")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    plan = RouterPlan.model_validate_json(Path(args.plan).read_text())
    asyncio.run(serve(plan, args.user, _secret(args), args.port))


if __name__ == "__main__":
    main(sys.argv[1:])
