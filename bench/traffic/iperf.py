"""iperf3 through the lab: servers on the ground, clients in any lab namespace (a passenger's, a
terminal's), goodput from iperf3's own JSON report.

    with IperfServers(lab, "198.19.0.1", count=2) as servers:
        r = iperf_client(lab, passenger.ns, servers.ports[0], "198.19.0.1", seconds=8, reverse=True)
        r.goodput_bps          # payload bits/s the receiver got, after the omitted slow start

iperf3 serves one test at a time, so parallel clients each get a server (a port) of their own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.lab import netns
from bench.steps import step
from bench.traffic import processes

if TYPE_CHECKING:
    from bench.lab.lab import Lab

FIRST_PORT = 5201
READY_TIMEOUT_S = 10.0


def iperf3() -> str:
    path = shutil.which("iperf3")
    if path is None:
        raise BenchError("iperf3 is not installed (the suites measure goodput with it)", fix="apt-get install iperf3")
    return path


@dataclass
class IperfResult:
    goodput_bps: float  # payload bits/s at the receiver over the measured (not omitted) seconds
    sender_bps: float
    seconds: float
    retransmits: int | None
    reverse: bool
    raw: dict[str, Any]


class IperfServers:
    """`count` iperf3 servers on one address of a role's namespace (ground by default)."""

    def __init__(self, lab: Lab, address: str, count: int = 1, role: str = "ground", first_port: int = FIRST_PORT) -> None:
        self.lab = lab
        self.address = address
        self.role = role
        self.ports = [first_port + i for i in range(count)]
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> IperfServers:
        try:
            with step("iperf3 servers", role=self.role, address=self.address, ports=",".join(map(str, self.ports))):
                for port in self.ports:
                    self._procs.append(processes.start(
                        self.lab, self.lab.ns(self.role), [iperf3(), "-s", "-B", self.address, "-p", str(port)],
                        name=f"iperf3 server {self.address}:{port}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                self._wait_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self) -> None:
        import socket
        import time

        def listening() -> bool:
            for port in self.ports:
                try:
                    socket.create_connection((self.address, port), timeout=0.5).close()
                except OSError:
                    return False
            return True

        deadline = time.monotonic() + READY_TIMEOUT_S
        while not netns.run_in(self.lab.ns(self.role), listening):
            if time.monotonic() > deadline:
                raise BenchError(f"iperf3 servers on {self.address} not listening within {READY_TIMEOUT_S:.0f} s",
                                 where=f"namespace {self.lab.ns(self.role)}")
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self._procs:
            processes.stop(self.lab, proc)
        self._procs.clear()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def iperf_client(lab: Lab, ns: str, port: int, server: str, *, seconds: float, reverse: bool = False,
                 omit_s: float = 2.0, streams: int = 1, udp_bps: int | None = None, bind: str | None = None) -> IperfResult:
    """One iperf3 test from namespace `ns` (a full namespace name) to `server:port`.
    reverse: the server sends (downlink). The first `omit_s` seconds (slow start) are left out."""
    argv = [iperf3(), "-c", server, "-p", str(port), "-t", f"{seconds:g}", "-O", f"{omit_s:g}", "-P", str(streams), "-J"]
    if reverse:
        argv.append("-R")
    if udp_bps is not None:
        argv += ["-u", "-b", str(udp_bps)]
    if bind is not None:
        argv += ["-B", bind]
    with step("iperf3", ns=ns, server=f"{server}:{port}", seconds=seconds, reverse=reverse, streams=streams) as rec:
        proc = processes.start(lab, ns, argv, name=f"iperf3 client {server}:{port}",
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=seconds + omit_s + 30)
        except subprocess.TimeoutExpired:
            processes.stop(lab, proc)
            raise BenchError(f"iperf3 to {server}:{port} did not finish", where=f"namespace {ns}") from None
        finally:
            processes.stop(lab, proc)
        try:
            report = json.loads(out)
        except json.JSONDecodeError:
            raise BenchError(f"iperf3 gave no report: {err.decode(errors='replace').strip()[:300]}", where=f"namespace {ns}") from None
        if "error" in report:
            raise BenchError(f"iperf3 to {server}:{port}: {report['error']}", where=f"namespace {ns}",
                             fix="is the path up (portal session, WAN, link outage)?")
        end = report["end"]
        if udp_bps is not None:
            received = end["sum"]["bits_per_second"] * (1 - end["sum"].get("lost_percent", 0) / 100)
            sent, span, retr = end["sum"]["bits_per_second"], end["sum"]["seconds"], None
        else:
            received = end["sum_received"]["bits_per_second"]
            sent, span, retr = end["sum_sent"]["bits_per_second"], end["sum_received"]["seconds"], end["sum_sent"].get("retransmits")
        rec["result"] = f"{received / 1e6:.2f} Mbit/s"
        return IperfResult(received, sent, span, retr, reverse, report)

