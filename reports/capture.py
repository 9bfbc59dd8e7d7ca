"""Packet capture of the DUT's WAN and LAN traffic during a lab test, kept only if it fails.

The bench captures on its own side of the DUT's cables, whatever the DUT is: the passengers' and
ops LANs and each WAN's terminal port (``DutCapture``: one ``tcpdump -i any`` per namespace,
started with ``Lab.popen``, in the lab's cleanup ledger like every lab process), in
ring-buffer mode (``-C``/``-W``: at most ``files`` x ``file_mb`` MB on disk, the oldest packets
overwritten), headers only (``snaplen`` bytes a packet), so a long test costs bounded disk and
tcpdump's C loop costs little CPU. The Linux "cooked v2" link type keeps each packet's interface
index; the index-to-name map of the namespace (``interfaces()``) is attached beside the capture,
since a reader's own host would name the indexes wrongly.

At the test's end the capture stops; a failed test gets the ring's files (oldest first), a
passed test's files are deleted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.errors import BenchError

TCPDUMP = "tcpdump"


class RingCapture:
    """A ring-buffer capture of one lab namespace's interfaces."""

    def __init__(self, lab: Any, *, role: str, files: int = 2, file_mb: int = 4, snaplen: int = 200,
                 name: str = "capture") -> None:
        self.lab = lab
        self.role = role
        self.files = files
        self.file_mb = file_mb
        self.snaplen = snaplen
        self.base = Path(tempfile.gettempdir()) / f"skybench-{lab.prefix}-{name}-{os.getpid()}-{time.monotonic_ns()}.pcap"
        self._proc: subprocess.Popen[bytes] | None = None
        self._entries: list[dict[str, Any]] = []
        self._stderr: Path = self.base.with_suffix(".err")

    @staticmethod
    def available() -> bool:
        return shutil.which(TCPDUMP) is not None

    def ring_files(self) -> list[Path]:
        """The ring's files, oldest first (tcpdump numbers them 0..files-1 and reuses them)."""
        found = [self.base.with_name(f"{self.base.name}{i}") for i in range(self.files)]
        found = [p for p in found if p.exists() and p.stat().st_size > 0]
        return sorted(found, key=lambda p: p.stat().st_mtime_ns)

    def start(self, timeout_s: float = 5.0) -> RingCapture:
        if not self.available():
            raise BenchError("tcpdump is not installed: no packet capture of failed tests",
                             fix="install the system packages: scripts/install-system-deps.sh (tcpdump)")
        ledger = self.lab.ledger
        # In the ledger before they exist: a killed run's leftovers are removed by the next lab.
        for path in [*(self.base.with_name(f"{self.base.name}{i}") for i in range(self.files)), self._stderr]:
            self._entries.append(ledger.record("file", path=str(path)))
        # --immediate-mode: packets are handed over one by one, not in TPACKET_V3 blocks that a
        # SIGTERM would drop unwritten (the last second before a failure is the one that matters).
        argv = [TCPDUMP, "-i", "any", "-y", "LINUX_SLL2", "-n", "-p", "-s", str(self.snaplen), "-U", "--immediate-mode",
                "-C", str(self.file_mb), "-W", str(self.files), "-Z", "root", "-w", str(self.base)]
        with open(self._stderr, "wb") as err:
            self._proc = self.lab.popen(self.role, argv, name="packet capture", stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout_s
        while b"listening on" not in self._stderr.read_bytes():
            if self._proc.poll() is not None:
                message = self._stderr.read_text(errors="replace").strip()
                self.stop()
                raise BenchError(f"tcpdump exited at start: {message}", where=f"namespace {self.lab.ns(self.role)}",
                                 fix="check that tcpdump runs as root on this host")
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"tcpdump did not start capturing within {timeout_s:.0f} s",
                                 where=f"namespace {self.lab.ns(self.role)}")
            time.sleep(0.02)
        return self

    def interfaces(self) -> dict[int, str]:
        """{interface index: name} in the captured namespace (to read the capture's SLL2 indexes)."""
        from bench.lab import netns

        with netns.ipr(self.lab.ns(self.role)) as ipr:
            return {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}

    def stop(self) -> list[Path]:
        """End the capture (tcpdump flushes on SIGTERM); returns the ring's files, oldest first."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for entry in [e for e in self.lab.ledger.objects if e["kind"] == "process" and e.get("pid") == proc.pid]:
                self.lab.ledger.forget(entry)
        return self.ring_files()

    def remove(self) -> None:
        """Delete the ring's files (and forget them in the ledger)."""
        self.stop()
        for entry in self._entries:
            Path(entry["path"]).unlink(missing_ok=True)
            self.lab.ledger.forget(entry)
        self._entries.clear()

    def __enter__(self) -> RingCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()


class DutCapture:
    """The DUT's traffic on the bench's side of its cables: a RingCapture in the passengers' and
    ops LANs' namespaces and in each WAN's terminal namespace."""

    def __init__(self, lab: Any, *, files: int = 2, file_mb: int = 2) -> None:
        roles = ["passengers", "ops", *(w.terminal_role for w in lab.plan.wans)]
        self.rings = [RingCapture(lab, role=role, files=files, file_mb=file_mb, name=f"capture-{role}") for role in roles]

    def start(self) -> DutCapture:
        try:
            for ring in self.rings:
                ring.start()
        except BaseException:
            self.remove()
            raise
        return self

    def stop(self) -> list[tuple[str, list[Path], dict[int, str]]]:
        """(namespace role, its ring's files oldest first, its interface names by index) per ring."""
        out = []
        for ring in self.rings:
            interfaces = ring.interfaces()
            out.append((ring.role, ring.stop(), interfaces))
        return out

    def remove(self) -> None:
        for ring in self.rings:
            ring.remove()
