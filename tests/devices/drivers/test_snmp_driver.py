"""The SNMP drivers against Debian's real snmpd, run inside a namespace of our own so the
interfaces it reports are ones the test creates, switches and sends traffic through.

    <prefix>-snmp-dut:  wan-starlink (198.51.100.1/24), lo (snmpd on 127.0.0.1:16161)
    <prefix>-snmp-peer: peer0 (198.51.100.2/24), sends the traffic the counters must show

The driver itself runs inside the dut namespace through InNamespace (a worker process there).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from bench.devices.drivers.base import DeviceError, DeviceTarget
from bench.devices.drivers.factory import build
from bench.devices.protocols import TerminalState, UnsupportedByDriver
from bench.lab import netns
from bench.lab.model import Credentials
from bench.lab.state import new_prefix

pytestmark = pytest.mark.lab
T = TypeVar("T")

SNMPD = "/usr/sbin/snmpd"
PORT = 16161
COMMUNITY_ENV = "SKYBENCH_TEST_SNMP_COMMUNITY"
V3_PASSWORD_ENV = "SKYBENCH_TEST_SNMP_V3_PASSWORD"


@dataclass
class SnmpBed:
    dut: str
    peer: str
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def bed() -> Iterator[SnmpBed]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create namespaces")
    if not Path(SNMPD).exists():
        pytest.skip("snmpd is not installed (scripts/install-system-deps.sh installs it)")
    prefix = new_prefix()
    dut, peer = f"{prefix}-snmp-dut", f"{prefix}-snmp-peer"
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-snmpd-"))
    (workdir / "snmpd.conf").write_text(
        "rocommunity s3cret-community 127.0.0.1\n"
        'createUser benchuser SHA "v3-pass-phrase" AES "v3-pass-phrase"\n'
        "rouser benchuser priv\n"
        "sysDescr Linux train-router 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 x86_64\n"
    )
    proc = None
    log = (workdir / "snmpd.log").open("wb")
    try:
        for name in (dut, peer):
            netns.create(name)
            with netns.ipr(name) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        with netns.ipr(dut) as ipr:
            ipr.link("add", ifname="wan-starlink", kind="veth", peer={"ifname": "peer0", "net_ns_fd": peer})
        for name, ifname, address in ((dut, "wan-starlink", "198.51.100.1"), (peer, "peer0", "198.51.100.2")):
            with netns.ipr(name) as ipr:
                index = ipr.link_lookup(ifname=ifname)[0]
                ipr.addr("add", index=index, address=address, prefixlen=24)
                ipr.link("set", index=index, state="up")
        proc = netns.popen(dut, [SNMPD, "-f", "-C", "-c", str(workdir / "snmpd.conf"), "-Le", "-I", "-smux",
                                 f"udp:127.0.0.1:{PORT}"],
                           env={**os.environ, "SNMP_PERSISTENT_DIR": str(workdir / "persist")},
                           # A file, not a pipe: nobody reads snmpd's log while it runs, and a full pipe
                           # would block the agent mid-answer (seen in CI as timeouts on later tests).
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        yield SnmpBed(dut, peer, proc)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        print((workdir / "snmpd.log").read_text(errors="replace")[-4000:])  # shown by pytest on failure
        for name in (dut, peer):
            netns.remove(name)
        shutil.rmtree(workdir, ignore_errors=True)


def _target(name: str, *, user: str | None = None, env: str = COMMUNITY_ENV, port: int = PORT,
            timeout_s: float = 2.0) -> DeviceTarget:
    return DeviceTarget(name=name, driver="snmp", address="127.0.0.1", port=port, timeout_s=timeout_s,
                        credentials=Credentials(username=user, password_env=env))


def eventually(read: Callable[[], T], ok: Callable[[T], bool], timeout_s: float = 15.0) -> T:
    """snmpd caches interface tables for a few seconds; poll until the change shows."""
    deadline = time.monotonic() + timeout_s
    value = read()
    while not ok(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMMUNITY_ENV, "s3cret-community")
    monkeypatch.setenv(V3_PASSWORD_ENV, "v3-pass-phrase")


def _send_udp(ns: str, dst: str, count: int, size: int) -> None:
    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(count):
                s.sendto(b"x" * size, (dst, 9))

    netns.run_in(ns, send)


def test_router_interfaces_state_and_counters(bed: SnmpBed, secrets: None) -> None:
    with build("router-snmp", _target("train-router"), netns=bed.dut) as router:
        assert eventually(lambda: router.wans(), lambda w: bool(w), timeout_s=10)  # snmpd is up
        fw = router.firmware()
        assert (fw.vendor, fw.version) == ("Linux", "6.1.0-28-amd64")
        (wan,) = router.wans()
        assert (wan.name, wan.interface, wan.address, wan.up) == ("starlink", "wan-starlink", "198.51.100.1", True)

        _send_udp(bed.peer, "198.51.100.1", count=2000, size=1000)
        after = eventually(lambda: router.wans()[0], lambda w: (w.rx_bytes or 0) - (wan.rx_bytes or 0) >= 2_000_000)
        assert (after.rx_bytes or 0) - (wan.rx_bytes or 0) >= 2000 * 1000  # payloads alone; headers come on top

        with netns.ipr(bed.dut) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="wan-starlink")[0], state="down")
        try:
            assert eventually(lambda: router.wans()[0], lambda w: not w.up).up is False
        finally:
            with netns.ipr(bed.dut) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="wan-starlink")[0], state="up")
        with pytest.raises(UnsupportedByDriver, match="driver: ssh or rest"):
            router.portal_sessions()


def test_terminal_over_snmpv3(bed: SnmpBed, secrets: None) -> None:
    target = _target("oneweb-terminal", user="benchuser", env=V3_PASSWORD_ENV)
    with build("terminal-snmp", target, netns=bed.dut) as terminal:
        assert eventually(terminal.state, lambda s: s is TerminalState.CONNECTED) is TerminalState.CONNECTED
        assert terminal.uptime_s() >= 0
        terminal.throughput()  # starts the measurement
        _send_udp(bed.peer, "198.51.100.1", count=1000, size=1000)
        seen = eventually(terminal.throughput, lambda t: t.downlink_bps > 0)
        assert seen.downlink_bps > 0
        with pytest.raises(UnsupportedByDriver):
            terminal.latency_ms()


def test_wrong_v3_password_is_a_refused_login(bed: SnmpBed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(V3_PASSWORD_ENV, "not-the-pass-phrase")
    target = _target("oneweb-terminal", user="benchuser", env=V3_PASSWORD_ENV)
    with build("router-snmp", target, netns=bed.dut) as router, pytest.raises(DeviceError) as err:
        router.firmware()
    text = str(err.value)
    assert "benchuser" in text and "not-the-pass-phrase" not in text and "driver snmp" in text


def test_wrong_community_or_no_agent_times_out_clearly(bed: SnmpBed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMMUNITY_ENV, "guess")
    with build("router-snmp", _target("train-router", timeout_s=0.5), netns=bed.dut) as router, \
            pytest.raises(DeviceError) as err:
        router.firmware()
    text = str(err.value)
    assert "no SNMP answer within 0.5 s" in text and "127.0.0.1:16161" in text and "community" in text
