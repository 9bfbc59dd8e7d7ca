"""Start the embedded lab's terminal status services: one per WAN, in the terminal's namespace.

    with start_terminal_services(lab) as terminals:
        terminals.endpoint("starlink")   # ("198.18.16.10", 9200, "starlink-grpc")

Each service listens on its terminal's LAN address (the router reaches it on its WAN port, as a
real dish at 192.168.100.1:9200) and serves what a feed thread in the bench process derives from
the WAN's sky link every `period_s`: the link's impairment spec for latency, loss and outages,
and the terminal's sky-side interface counters for throughput. So what the router meets on the
wire and what the terminal's API says come from one source.

A reboot asked through a terminal's API is carried out by the feed: the terminal reports BOOTING
and its link is cut for `boot_s`, then restored (unless the link was already in an outage).
"""

from __future__ import annotations

import logging
import select
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyroute2 import NetNS

from bench.errors import BenchError
from bench.devices.terminals.derive import StatusDeriver
from bench.devices.terminals.status_file import StatusFiles
from bench.steps import step

if TYPE_CHECKING:
    from bench.lab.lab import Lab

log = logging.getLogger("skybench.terminals")

STARLINK_PORT = 9200  # where a real dish serves its gRPC API (192.168.100.1:9200)
HTTP_PORT = 80
SKY_PORT = "sat0"  # the terminal's interface towards the sky link (bench/lab/topology.py)
READY_TIMEOUT_S = 15.0


def service_for(provider: str) -> tuple[str, int]:
    """(protocol, port) of a provider's terminal status service."""
    return ("starlink-grpc", STARLINK_PORT) if provider == "starlink" else ("http", HTTP_PORT)


@dataclass
class _Terminal:
    wan: str
    provider: str
    role: str
    address: str
    protocol: str
    port: int
    files: StatusFiles
    deriver: StatusDeriver
    process: subprocess.Popen[bytes] | None = None
    netlink: Any = None
    booting_cut: bool = False  # the feed cut the link for a reboot and must restore it


class TerminalServices:
    def __init__(self, lab: Lab, *, period_s: float = 0.25, boot_s: float = 3.0) -> None:
        self.lab = lab
        self.period_s = period_s
        self.boot_s = boot_s
        self.directory = Path(tempfile.gettempdir())
        self.terminals: dict[str, _Terminal] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ledger_entries: list[dict[str, Any]] = []
        self.feed_errors: list[str] = []
        now = time.time()
        for wan in lab.plan.wans:
            protocol, port = service_for(wan.provider)
            name = f"{lab.prefix}-{wan.name}"
            self.terminals[wan.name] = _Terminal(
                wan=wan.name, provider=wan.provider, role=wan.terminal_role,
                address=str(wan.addresses.terminal_lan.ip), protocol=protocol, port=port,
                files=StatusFiles(self.directory, name),
                deriver=StatusDeriver(provider=wan.provider, device_id=f"ut-{name}", boot_at=now),
            )

    def endpoint(self, wan: str) -> tuple[str, int, str]:
        t = self.terminals[wan]
        return t.address, t.port, t.protocol

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> TerminalServices:
        try:
            with step("terminal services: start", wans=",".join(self.terminals)):
                for t in self.terminals.values():
                    for path in t.files.paths:
                        self._ledger_entries.append(self.lab.ledger.record("file", path=str(path)))
                    t.netlink = NetNS(self.lab.ns(t.role), flags=0)
                    self._tick(t)  # the first status exists before the service answers
                for t in self.terminals.values():
                    self._start_service(t)
                self._thread = threading.Thread(target=self._feed, name="terminal-feed", daemon=True)
                self._thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_service(self, t: _Terminal) -> None:
        argv = [sys.executable, "-m", "bench.devices.terminals.serve", "--protocol", t.protocol,
                "--address", t.address, "--port", str(t.port), "--state-dir", str(self.directory),
                "--name", t.files.status.name.removesuffix(".status.json")]
        # stderr to a log file, not a pipe nobody reads: a full pipe would block the service.
        log_path = t.files.server_log
        with log_path.open("ab") as log:
            t.process = self.lab.popen(t.role, argv, name=f"terminal status {t.wan} ({t.protocol})",
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        ready, _, _ = select.select([t.process.stdout], [], [], READY_TIMEOUT_S)
        line = t.process.stdout.readline() if ready else b""  # type: ignore[union-attr]
        if line.strip() != b"ready":
            t.process.kill()
            t.process.communicate(timeout=5)
            err = log_path.read_text(errors="replace").strip()
            raise BenchError(
                f"the {t.wan} terminal's {t.protocol} status service did not start: {err[-500:] or 'no output'}",
                where=f"namespace {self.lab.ns(t.role)}, {t.address}:{t.port}",
                fix="run `skybench lab clean` and retry; if it persists, run the command by hand: " + " ".join(argv),
            )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with step("terminal services: stop"):
            for t in self.terminals.values():
                if t.process is not None and t.process.poll() is None:
                    t.process.terminate()
                    try:
                        t.process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        t.process.kill()
                        t.process.wait()
                if t.process is not None and t.process.stdout:
                    t.process.stdout.close()
                if t.netlink is not None:
                    t.netlink.close()
                    t.netlink = None
                for path in t.files.paths:
                    path.unlink(missing_ok=True)
            for entry in self._ledger_entries:
                self.lab.ledger.forget(entry)
            self._ledger_entries.clear()

    def __enter__(self) -> TerminalServices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the feed ---------------------------------------------------------------------------------
    def _feed(self) -> None:
        while not self._stop.wait(self.period_s):
            for t in self.terminals.values():
                try:
                    self._tick(t)
                except Exception as exc:  # noqa: BLE001 - one bad sample must not stop the others
                    message = f"{t.wan}: {type(exc).__name__}: {exc}"
                    if not self.feed_errors or self.feed_errors[-1] != message:
                        log.warning("terminal feed: %s", message)
                    self.feed_errors.append(message)

    def _tick(self, t: _Terminal) -> None:
        now = time.time()
        link = self.lab.link(t.wan)
        if t.files.take_reboot_request():
            with step(f"terminal {t.wan}: reboot", boot_s=self.boot_s):
                t.deriver.reboot(now, self.boot_s)
                spec = link.spec
                if not (spec.uplink.outage or spec.downlink.outage):
                    link.outage(True)
                    t.booting_cut = True
        elif t.booting_cut and not t.deriver.booting(now):
            with step(f"terminal {t.wan}: booted"):
                link.outage(False)
                t.booting_cut = False
        (sky,) = t.netlink.get_links(ifname=SKY_PORT)
        sampled_at = time.time()  # next to the counter read: a delay before it must not skew rates
        stats = sky.get_attr("IFLA_STATS64")
        status = t.deriver.update(link.spec, sampled_at, int(stats["rx_bytes"]), int(stats["tx_bytes"]))
        t.files.write(status)


def start_terminal_services(lab: Lab, *, period_s: float = 0.25, boot_s: float = 3.0) -> TerminalServices:
    """Start one status service per WAN terminal of a running lab (stop() or `with` removes them)."""
    return TerminalServices(lab, period_s=period_s, boot_s=boot_s).start()
