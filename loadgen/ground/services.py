"""Start and stop the load generator's ground side: the origin process and an iperf3 server, both
in the lab's ground namespace through `lab.popen` (so they are in its cleanup ledger), bound only
to the ground's lab addresses (bench.lab.addressing.ORIGIN_SERVICES), plus this run's TLS files.

    with GroundServices(lab) as ground:
        ground.ca_file        # the CA that POS terminals trust
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.lab import addressing
from bench.steps import recorded
from loadgen.ground.config import GroundConfig
from loadgen.ground.tls import TlsFiles, make_ca_and_server

if TYPE_CHECKING:
    from bench.lab.lab import Lab

DOMAIN = addressing.LAB_DOMAIN
PAYMENT_ADDRESS = str(addressing.PAYMENT)  # the ground's payment provider (bench.ground)
IPERF_PORT = 5201
READY_TIMEOUT_S = 15.0
FILE_NAMES = ("ground.json", "ca.pem", "server.pem", "server.key", "origin.out", "iperf3.out")


class GroundServices:
    def __init__(self, lab: Lab, role: str = "ground") -> None:
        self.lab = lab
        self.role = role  # the namespace the servers run in (the loopback benchmark uses its own)
        self.name = "loadgen ground" if role == "ground" else f"loadgen ground ({role})"
        self.base = Path(tempfile.gettempdir()) / f"skybench-{lab.prefix}-loadgen-{role}"
        self._entries: list[dict[str, Any]] = []
        self._procs: list[Any] = []
        self._logs: list[IO[bytes]] = []
        self.config: GroundConfig | None = None

    def file(self, name: str) -> Path:
        return Path(f"{self.base}.{name}")

    @property
    def ca_file(self) -> Path:
        return self.file("ca.pem")

    def __enter__(self) -> GroundServices:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @recorded("start")
    def start(self) -> None:
        try:
            for name in FILE_NAMES:
                self._entries.append(self.lab.ledger.record("file", path=str(self.file(name))))
            services = {name: str(ip) for name, ip in addressing.ORIGIN_SERVICES.items()}
            self.config = GroundConfig(domain=DOMAIN, services=services, payment_address=PAYMENT_ADDRESS,
                                       cert_file=str(self.file("server.pem")), key_file=str(self.file("server.key")))
            make_ca_and_server([f"pay.{DOMAIN}", f"ops-api.{DOMAIN}"],
                               TlsFiles(self.ca_file, self.file("server.pem"), self.file("server.key")))
            self.file("ground.json").write_text(self.config.model_dump_json())
            self._spawn("origin", [sys.executable, "-m", "loadgen.ground.server", str(self.file("ground.json"))])
            iperf3 = shutil.which("iperf3")
            if iperf3 is None:
                raise BenchError("iperf3 is not installed (the ground's raw-throughput server)", fix="apt-get install iperf3")
            self._spawn("iperf3", [iperf3, "-s", "-B", services["speed"], "-p", str(IPERF_PORT)])
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.file(f"{name}.out"), "wb")
        self._logs.append(log)
        self._procs.append(self.lab.popen(self.role, argv, name=f"{self.name} {name}", stdout=log, stderr=subprocess.STDOUT))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise BenchError(f"a ground server exited with code {proc.returncode} while starting: "
                                     f"{self.file('origin.out').read_text(errors='replace')[-2000:]}",
                                     where=f"namespace {self.lab.ns(self.role)}", fix="see the output above")
            if b"ready" in self.file("origin.out").read_bytes():
                return
            time.sleep(0.05)
        raise BenchError(f"the ground origin was not ready within {READY_TIMEOUT_S:.0f} s", where=f"namespace {self.lab.ns(self.role)}")

    @recorded("stop")
    def stop(self) -> None:
        for proc in self._procs:
            self.lab.stop_process(proc)
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        for entry in self._entries:
            Path(entry["path"]).unlink(missing_ok=True)
            self.lab.ledger.forget(entry)
        self._entries.clear()
