"""The lab's ground side: what a train reaches across its sky links, owned by the bench whatever
the DUT is (the embedded reference router or a router cabled to the host).

- `services`: one process with the origin (HTTP, bulk source/sink), the "whoami" echo on the
  origin and every WAN's probe target, the emulated payment provider and the phones'
  connectivity-check servers (bench/ground/services.py);
- `resolver`: dnsmasq on the ground's resolver address, answering every lab name
  (bench.lab.addressing.ground_names) and delegating the DNS-tunnel zone to the bypass witness;
  a DUT uses it as its upstream resolver (the embedded terminals hand it out by DHCP).

    ground = Ground(lab).start()      # Lab.up() does this after the sky links
    ground.stop()

Both processes are in the lab's cleanup ledger; their configuration and output files too.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.ground.resolver import render_resolver_config
from bench.lab import addressing, netns
from bench.steps import step
from bench.traffic.dns import ask_a_record

if TYPE_CHECKING:
    from bench.lab.lab import Lab

READY_TIMEOUT_S = 20.0


class Ground:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.name = "ground"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._outputs: list[IO[bytes]] = []
        self._files: list[dict[str, Any]] = []

    def _file(self, name: str) -> Path:
        path = Path(tempfile.gettempdir()) / f"skybench-{self.lab.prefix}-ground.{name}"
        self._files.append(self.lab.ledger.record("file", path=str(path)))
        return path

    def _spawn(self, name: str, argv: list[str]) -> Path:
        out = self._file(f"{name}.out")
        sink = open(out, "ab")
        self._outputs.append(sink)
        self._procs[name] = self.lab.popen("ground", argv, name=f"ground {name}", stdout=sink, stderr=subprocess.STDOUT)
        return out

    def start(self) -> Ground:
        wans = self.lab.plan.wans
        with step("ground side", origin=str(addressing.GROUND_SERVER.ip), resolver=str(addressing.RESOLVER),
                  payment=str(addressing.PAYMENT), probe_targets=",".join(str(w.addresses.probe_target) for w in wans)):
            try:
                argv = [sys.executable, "-m", "bench.ground.services", "--origin", str(addressing.GROUND_SERVER.ip),
                        "--payment", str(addressing.PAYMENT), "--check", str(addressing.CONNECTIVITY_CHECK),
                        "--probe-port", str(addressing.WHOAMI_PORT)]
                for wan in wans:
                    argv += ["--probe-target", str(wan.addresses.probe_target)]
                services_out = self._spawn("services", argv)
                conf = self._file("resolver.conf")
                log = self._file("resolver.log")
                conf.write_text(render_resolver_config(log))
                self._spawn("resolver", ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"])
                self._wait_ready(services_out)
            except BaseException:
                self.stop()
                raise
        return self

    def _wait_ready(self, services_out: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        probe_name = f"origin.{addressing.LAB_DOMAIN}"
        while True:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise BenchError(f"the ground's {name} exited with code {proc.returncode} while starting",
                                     where=f"namespace {self.lab.ns('ground')}",
                                     fix=f"see {self._output(name)} (removed when the lab goes down)")
            if b"ready" in services_out.read_bytes() and self._resolver_answers(probe_name):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"the ground side was not ready within {READY_TIMEOUT_S:.0f} s",
                                 where=f"namespace {self.lab.ns('ground')}", fix=f"see {services_out}")
            time.sleep(0.1)

    def _resolver_answers(self, name: str) -> bool:
        def ask() -> bool:
            try:
                return ask_a_record(str(addressing.RESOLVER), name, 0.5) == str(addressing.GROUND_SERVER.ip)
            except (OSError, BenchError, TimeoutError):
                return False

        return netns.run_in(self.lab.ns("ground"), ask)

    def _output(self, name: str) -> str:
        return str(Path(tempfile.gettempdir()) / f"skybench-{self.lab.prefix}-ground.{name}.out")

    def stop(self) -> None:
        for name in ("resolver", "services"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                self.lab.stop_process(proc)
        for sink in self._outputs:
            sink.close()
        self._outputs.clear()
        for entry in self._files:
            Path(entry["path"]).unlink(missing_ok=True)
            self.lab.ledger.forget(entry)
        self._files.clear()
