"""Run Locust against the lab: lease the clients, start the Locust process(es) in the lab's
passengers namespace, let the profile ramp to `users` at `spawn_rate`, stop after `run_time_s`,
clean up. The pytest fixture `passengers` and `skybench bench load` drive this.

    with LoadRun(lab, "day-peak", users=500, spawn_rate=50, run_time_s=60, out_dir=out) as run:
        run.wait()
    run.summary()

Locust runs in processes of its own (its gevent monkey-patching stays there), distributed as a
master and `workers` workers when workers > 0 (they share the leased clients). A run is bounded:
DHCP, the portal check and Locust itself each have a deadline; past it the processes are killed.
"""

from __future__ import annotations

import http.client
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlparse

from bench.errors import BenchError
from bench.lab import netns
from bench.steps import recorded, step
from bench.traffic.dns import ask_a_record
from bench.traffic.journey import Reply, journey_for
from loadgen.ground.services import DOMAIN, GroundServices
from loadgen.lan import LanClient, attach_clients, detach_clients
from loadgen.plan import RunPlan
from loadgen.profile import Profile, load_profile
from loadgen.summary import summarize
from loadgen.users import USER_CLASSES

if TYPE_CHECKING:
    from bench.lab.lab import Lab

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
MASTER_PORT = 5557
START_MARGIN_S = 60.0  # Locust start-up and ramp on top of the run time before a run counts as hung


def clients_needed(profile: Profile, users: int, workers: int = 0) -> dict[str, int]:
    """How many passenger and ops clients a run of `users` users needs (Locust gives fixed-count
    classes their count first and shares the rest by weight, rounding up)."""
    need = {"passenger": 0, "ops": 0}
    fixed = profile.fixed_users()
    if fixed > users:
        raise BenchError(f"profile {profile.name!r} has {fixed} fixed-count devices but the run has only {users} users",
                         fix=f"run at least {fixed} users")
    weights = {n: m.weight for n, m in profile.classes.items() if m.weight}
    total_weight = sum(weights.values())
    for name, mix in profile.classes.items():
        kind = USER_CLASSES[name].kind
        if mix.count is not None:
            need[kind] += mix.count
        elif total_weight:
            need[kind] += math.ceil((users - fixed) * (mix.weight or 0) / total_weight)
    # Workers get their clients as every n-th of the list; uneven splits need a little slack.
    return {k: (v + (workers if v else 0)) for k, v in need.items()}


class LoadRun:
    def __init__(self, lab: Lab, profile: str | Path | Profile, *, users: int, spawn_rate: float, run_time_s: float,
                 out_dir: Path, workers: int = 0, ground: GroundServices | None = None, dhcp_timeout_s: float = 20.0,
                 behind_dut: bool = True, role: str = "passengers", clients: dict[str, list[LanClient]] | None = None,
                 hosts: dict[str, str] | None = None) -> None:
        self.lab = lab
        self.name = "loadgen"
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        if users < 1:
            raise BenchError(f"users must be at least 1, not {users}")
        self.users, self.spawn_rate, self.run_time_s, self.workers = users, spawn_rate, run_time_s, workers
        self.out_dir = Path(out_dir)
        self.dhcp_timeout_s = dhcp_timeout_s
        self.behind_dut = behind_dut  # False: the loopback baseline (no DUT, so no portal to pass)
        self.role = role  # where Locust runs
        self._given = clients  # clients made by the caller (the loopback baseline) instead of leased
        self.hosts = hosts or {}
        self._ground, self._own_ground = ground, ground is None
        self.clients: list[LanClient] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._plan_entry: dict[str, Any] | None = None
        self.started_at: float | None = None

    def __enter__(self) -> LoadRun:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def plan_file(self) -> Path:
        return self.out_dir / "plan.json"

    # -- life -----------------------------------------------------------------------------------
    @recorded("start")
    def start(self) -> None:
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if self._ground is None:
                self._ground = GroundServices(self.lab)
                self._ground.start()
            need = clients_needed(self.profile, self.users, self.workers)
            passengers: list[LanClient] = list((self._given or {}).get("passenger", []))
            ops: list[LanClient] = list((self._given or {}).get("ops", []))
            if self._given is not None:
                need = {"passenger": 0, "ops": 0}
            if need["passenger"]:
                passengers = attach_clients(self.lab, "passengers", "wifi0", need["passenger"], kind="passenger", dhcp_timeout_s=self.dhcp_timeout_s)
                self.clients += passengers
                if self.behind_dut:
                    self._check_portal(passengers[0])
            if need["ops"]:
                ops = attach_clients(self.lab, "ops", "ops0", need["ops"], kind="ops", dhcp_timeout_s=self.dhcp_timeout_s)
                self.clients += ops
            dut = self.lab.config.profile
            plan = RunPlan(profile=self.profile, portal=dut.portal if self.behind_dut else None, portal_source=dut.source, passengers=passengers, ops=ops,
                           out_dir=str(self.out_dir), workers=self.workers, domain=DOMAIN, ca_file=str(self._ground.ca_file),
                           hosts=self.hosts)
            self.plan_file.write_text(plan.model_dump_json())
            self._start_locust()
        except BaseException:
            self.stop()
            raise

    def _check_portal(self, client: LanClient) -> None:
        """Before hundreds of users try: does a passenger's captive check get an answer the DUT
        profile knows (captive, or already online)?"""
        journey = journey_for(self.lab.config.profile)

        def send(step_name: str, method: str, url: str, body: bytes | None, headers: dict[str, str], ok: object) -> Reply:
            u = urlparse(url)
            host = u.hostname or ""
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((client.ip, 0))
                address = host if host.replace(".", "").isdigit() else ask_a_record(client.dns, host, 3.0, s)
            conn = http.client.HTTPConnection(address, u.port or 80, timeout=5, source_address=(client.ip, 0))
            try:
                conn.request(method, (u.path or "/") + (f"?{u.query}" if u.query else ""), body=body, headers={"Host": host, **headers})
                resp = conn.getresponse()
                return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
            finally:
                conn.close()

        with step("portal check", client=client.name, url=self.lab.config.profile.portal.detect.url) as rec:
            try:
                check = netns.run_in(client.namespace, lambda: journey.check(send))
            except (OSError, BenchError) as exc:
                raise BenchError(f"the captive check failed: {exc}", where=f"{client.name} ({client.ip}, {client.mac})",
                                 fix="is the DUT's portal (and its DNS) up on the passenger LAN, as its profile describes?") from None
            rec["result"] = check.state

    def _locust(self, role: str, extra: list[str]) -> None:
        log = open(self.out_dir / f"locust-{role}.log", "wb")
        self._logs.append(log)
        argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING", "--skip-log-setup", *extra]
        env = {**os.environ, "SKYBENCH_LOADGEN_PLAN": str(self.plan_file), "SKYBENCH_LOADGEN_ROLE": role.split("-")[0]}
        self._procs.append(self.lab.popen(self.role, argv, name=f"loadgen locust {role}", env=env, stdout=log, stderr=subprocess.STDOUT))

    def _start_locust(self) -> None:
        common = ["--headless", "-u", str(self.users), "-r", str(self.spawn_rate), "-t", f"{max(1, int(self.run_time_s))}s",
                  "--stop-timeout", "5", "--only-summary"]
        with step("start locust", users=self.users, spawn_rate=self.spawn_rate, run_time_s=self.run_time_s, workers=self.workers):
            if self.workers:
                self._locust("master", [*common, "--master", "--expect-workers", str(self.workers), "--master-bind-host", "127.0.0.1",
                                        "--master-bind-port", str(MASTER_PORT)])
                for i in range(self.workers):
                    self._locust(f"worker-{i}", ["--worker", "--master-host", "127.0.0.1", "--master-port", str(MASTER_PORT)])
            else:
                self._locust("local", common)
        self.started_at = time.monotonic()

    @recorded("wait")
    def wait(self) -> int:
        """Until Locust ends (run time, then stop); kill it if it overruns. Returns its exit code."""
        deadline = (self.started_at or time.monotonic()) + self.run_time_s + START_MARGIN_S + self.users / max(self.spawn_rate, 0.1)
        main = self._procs[0]
        while main.poll() is None:
            if time.monotonic() > deadline:
                self._kill()
                raise BenchError(f"Locust did not end within {deadline - (self.started_at or 0):.0f} s of starting; killed",
                                 where=f"namespace {self.lab.ns(self.role)}", fix=f"see {self.out_dir}/locust-*.log")
            time.sleep(0.2)
        for proc in self._procs[1:]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        return main.returncode

    def _kill(self) -> None:
        for proc in self._procs:
            self.lab.stop_process(proc)
        self._procs.clear()

    @recorded("stop")
    def stop(self) -> None:
        self._kill()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self.clients:
            detach_clients(self.lab, self.clients)
            self.clients = []
        if self._own_ground and self._ground is not None:
            self._ground.stop()
            self._ground = None

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.poll() is None]

    def summary(self) -> dict[str, Any]:
        return summarize(self.out_dir)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.out_dir.glob("locust-*.log")))
