"""The reference router's management faces besides its REST API: SSH (bench.devices.reference
.sshface) and SNMP (snmpd, bench.devices.reference.snmpface), both on the ops-LAN address, so the
generic SSH and SNMP drivers drive the reference router as they drive a vendor's.

Credentials come from the lab file's `dut.credentials`: the user name (root when none is given)
and where the password is (`password_env` / `password_file`). When the lab file names no password
source, the password is the environment variable SKYBENCH_ROUTER_PASSWORD; when that is not set
either, the router makes a random one and sets the variable in the bench process, so the bench's
own drivers (and a lab file naming that variable) log in, and no fixed password exists.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from typing import TYPE_CHECKING

from bench.devices.reference import snmpface
from bench.errors import BenchError
from bench.lab.model import Credentials, LabConfig

if TYPE_CHECKING:
    from bench.devices.reference.router import ReferenceRouter

DEFAULT_PASSWORD_ENV = "SKYBENCH_ROUTER_PASSWORD"
DEFAULT_USER = "root"
FACE_PROCESSES = ("ssh face", "snmpd")
READY_TIMEOUT_S = 15.0


def face_credentials(lab: LabConfig) -> Credentials:
    """Who may log in to the faces and where the password is (never the password itself)."""
    given = lab.dut.credentials
    user = given.username or DEFAULT_USER
    if given.password_env or given.password_file:
        return Credentials(username=user, password_env=given.password_env, password_file=given.password_file)
    if not os.environ.get(DEFAULT_PASSWORD_ENV):
        os.environ[DEFAULT_PASSWORD_ENV] = secrets.token_urlsafe(18)
    return Credentials(username=user, password_env=DEFAULT_PASSWORD_ENV)


def start_faces(router: ReferenceRouter) -> None:
    """Start the SSH face and snmpd in the router namespace and wait until both answer."""
    plan = router.plan
    assert plan is not None
    credentials = face_credentials(router.lab.config)
    user = credentials.username or DEFAULT_USER
    secret = credentials.password()
    if not secret:
        raise BenchError("the reference router's SSH/SNMP password is empty", where="dut.credentials",
                         fix="put a non-empty password in the variable or file the lab file names")
    source = (["--password-env", credentials.password_env] if credentials.password_env
              else ["--password-file", str(credentials.password_file)])
    router._spawn("router", "ssh face", [sys.executable, "-m", "bench.devices.reference.sshface",
                                         str(plan.plan_file), "--user", user, *source])
    conf = plan.file("snmpd.conf")
    conf.touch(mode=0o600)  # it holds the community and the USM pass phrase
    conf.chmod(0o600)
    conf.write_text(snmpface.render_config(plan, user, secret))
    router._spawn("router", "snmpd", snmpface.argv(conf))
    _wait_ready(router)


def _wait_ready(router: ReferenceRouter) -> None:
    plan = router.plan
    assert plan is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    markers = {"ssh face": b"ready", "snmpd": b"NET-SNMP version"}
    while True:
        waiting = []
        for name, marker in markers.items():
            proc = router._procs.get(name)
            output = plan.file(f"{name.replace(' ', '-')}.out")
            if proc is None or proc.poll() is not None:
                raise BenchError(f"the reference router's {name} exited while starting",
                                 where=f"namespace {plan.namespace}",
                                 fix=f"see {output} (it is removed when the lab goes down)")
            if marker not in (output.read_bytes() if output.exists() else b""):
                waiting.append(name)
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"the reference router's {', '.join(waiting)} did not start within {READY_TIMEOUT_S:.0f} s",
                             where=f"namespace {plan.namespace}", fix="see its .out file next to the router's plan")
        time.sleep(0.1)
