"""The reference router as the bench drives it: start, stop, restart with another configuration,
read its status. The Lab starts it after the links and the ground side when the lab file's DUT
driver is `embedded` and stops it first on the way down (`lab.router`).

Processes (each in the lab's cleanup ledger): routerd, dnsmasq and the management faces in the
router namespace. The ground it talks to (probe echo, payment provider, upstream resolver) is the
lab's (bench.ground). The router's
files (plan, ruleset, dnsmasq config and leases, event log, process output) are
`/tmp/skybench-<prefix>-router.<name>`, each in the ledger before it exists, removed on stop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from bench.devices.reference import dnsmasq, nftables, routing, shaping
from bench.devices.reference.config import RouterConfig, load_router_config
from bench.devices.reference.faces import FACE_PROCESSES, start_faces
from bench.devices.reference.plan import RUN_FILES, RouterPlan, make_plan
from bench.errors import BenchError
from bench.lab import netns
from bench.steps import recorded, step
from bench.traffic.dns import ask_a_record

if TYPE_CHECKING:
    from bench.lab.lab import Lab

T = TypeVar("T")
START_TIMEOUT_S = 20.0


class ReferenceRouter:
    def __init__(self, lab: Lab, config: RouterConfig | None = None) -> None:
        self.lab = lab
        self.name = "reference-router"
        self.config = config or load_router_config()
        self.plan: RouterPlan | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._files: list[dict[str, Any]] = []  # ledger entries of the router's files
        self._power: Any = None  # RouterPower, made when a supply is bound to the router

    # -- life cycle -----------------------------------------------------------------------------
    @recorded("start")
    def start(self) -> None:
        if self.plan is not None:
            return
        prefix = str(Path(tempfile.gettempdir()) / f"skybench-{self.lab.prefix}-router")
        plan = make_plan(self.lab.plan, self.config, prefix)
        self.plan = plan
        try:
            for name in RUN_FILES:
                self._files.append(self.lab.ledger.record("file", path=str(plan.file(name))))
            plan.plan_file.write_text(plan.model_dump_json(indent=1))
            self._install_data_path(plan)
            conf = plan.file("dnsmasq.conf")
            conf.write_text(dnsmasq.render_config(plan))
            self._spawn("router", "dnsmasq", dnsmasq.argv(conf))
            self._spawn("router", "routerd", [sys.executable, "-m", "bench.devices.reference.daemon", str(plan.plan_file)])
            self._wait_ready()
            start_faces(self)  # SSH and SNMP on the ops LAN (bench.devices.reference.faces)
        except BaseException:
            self.stop()
            raise
        if self._power is not None:  # a supply is bound: watch its feed again (after a restart)
            self._power.open()

    @property
    def power(self) -> Any:
        """The router's supply input (a PowerTarget, bench.devices.reference.power)."""
        if self._power is None:
            from bench.devices.reference.power import RouterPower

            self._power = RouterPower(self)
        return self._power

    @recorded("stop")
    def stop(self) -> None:
        if self._power is not None:  # no boot may start while (or after) the router is taken down
            self._power.close()
        for name in (*FACE_PROCESSES, "routerd", "dnsmasq"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            self.lab.stop_process(proc)
        for f in self._logs:
            f.close()
        self._logs.clear()
        plan, self.plan = self.plan, None
        if plan is not None and netns.exists(plan.namespace):
            self._remove_data_path(plan)
        for entry in self._files:
            Path(entry["path"]).unlink(missing_ok=True)
            self.lab.ledger.forget(entry)
        self._files.clear()

    # -- power (driven by bench.devices.reference.power) --------------------------------------
    def power_off(self) -> None:
        """What a power loss does: routerd, dnsmasq and the faces die at once (SIGKILL: no shutdown, no
        flash write), every interface goes down, and what the kernel held in RAM is gone
        (nftables ruleset with its sets and quotas, HTB, policy routes, conntrack, leases in
        /tmp). What stays is the router's configuration and its flash (flash.json)."""
        plan = self.plan
        assert plan is not None, "the reference router is not running"
        with step(f"{self.name}: power off", namespace=plan.namespace):
            # Everything stops at once: every process killed and every link down before anything
            # is waited for or cleaned up.
            dead = [proc for name in (*FACE_PROCESSES, "routerd", "dnsmasq") if (proc := self._procs.pop(name, None))]
            for proc in dead:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            with netns.ipr(plan.namespace) as ipr:  # the ports first, loopback last
                for link in sorted(ipr.get_links(), key=lambda link: link.get_attr("IFLA_IFNAME") == "lo"):
                    ipr.link("set", index=link["index"], state="down")
            for proc in dead:
                proc.wait(timeout=5)
                self.lab.ledger.forget_process(proc.pid)
            self._remove_data_path(plan)
            netns.run_in(plan.namespace, _flush_conntrack)
            plan.file("dnsmasq.leases").unlink(missing_ok=True)

    def boot(self) -> None:
        """Power is back and the boot time has passed: interfaces up, the configuration applied
        again (static routes, data path), dnsmasq and routerd started; routerd reads its flash."""
        plan = self.plan
        assert plan is not None, "the reference router is not running"
        with step(f"{self.name}: boot", namespace=plan.namespace):
            with netns.ipr(plan.namespace) as ipr:
                for link in sorted(ipr.get_links(), key=lambda link: link.get_attr("IFLA_IFNAME") != "lo"):
                    ipr.link("set", index=link["index"], state="up")
                for route in self.lab.plan.routes:  # the router's static routes, as configured
                    if route.role == "router" and route.dst != "default":
                        ipr.route("replace", dst=str(route.dst), gateway=route.via)
            self._install_data_path(plan)
            self._spawn("router", "dnsmasq", dnsmasq.argv(plan.file("dnsmasq.conf")))
            self._spawn("router", "routerd", [sys.executable, "-m", "bench.devices.reference.daemon", str(plan.plan_file)])
            self._wait_ready()
            start_faces(self)

    def restart(self, config: RouterConfig | None = None) -> None:
        """Stop and start again, with another configuration if given (sessions start afresh)."""
        with step(f"{self.name}: restart", changed=config is not None and config != self.config):
            self.stop()
            if config is not None:
                self.config = config
            self.start()

    # -- setup pieces -----------------------------------------------------------------------------
    def _spawn(self, role: str, name: str, argv: list[str]) -> None:
        assert self.plan is not None
        log = open(self._output_path(name), "ab")  # appended: each boot's output is kept
        self._logs.append(log)
        self._procs[name] = self.lab.popen(role, argv, name=f"{self.name} {name}", stdout=log, stderr=subprocess.STDOUT)

    def _install_data_path(self, plan: RouterPlan) -> None:
        ns = plan.namespace
        best = {tc: plan.class_order(tc)[0] for tc in ("passengers", "ops")}
        with step("policy routing", wans=",".join(w.name for w in plan.wans)):
            routing.relax_reverse_path_filter(plan)
            with netns.ipr(ns) as ipr:
                routing.install_wan_tables(ipr, plan)
                routing.set_main_default(ipr, plan.wan(best["passengers"]))
        with step("nftables ruleset", table=nftables.TABLE):
            marks = {plan.passenger_if: plan.wan(best["passengers"]).mark, plan.ops_if: plan.wan(best["ops"]).mark}
            nftables.apply_in_namespace(ns, nftables.render_ruleset(plan, marks), plan.file("ruleset.nft"))
        with step("htb", ports=",".join([w.ifname for w in plan.wans] + [plan.passenger_if])):
            with netns.ipr(ns) as ipr:
                for wan in plan.wans:
                    shaping.shape_wan(ipr, wan, plan.config)
                shaping.shape_passenger_lan(ipr, plan.passenger_if)

    def _remove_data_path(self, plan: RouterPlan) -> None:
        with step("remove data path", namespace=plan.namespace):
            netns.run(plan.namespace, ["nft", "delete", "table", "ip", nftables.TABLE], check=False)
            with netns.ipr(plan.namespace) as ipr:
                for ifname in [w.ifname for w in plan.wans] + [plan.passenger_if]:
                    shaping._remove_root(ipr, ipr.link_lookup(ifname=ifname)[0])
                routing.remove_wan_tables(ipr, plan)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise BenchError(
                        f"{name} exited with code {proc.returncode} while the reference router started",
                        where=f"namespace {self.lab.ns('router')}",
                        fix=f"see {self._output_path(name)} (it is removed when the lab goes down)",
                    )
            try:
                self.status()
                if self._dns_answers():
                    return
            except (OSError, BenchError) as exc:
                last = exc
            time.sleep(0.1)
        raise BenchError(f"routerd or dnsmasq were not ready within {START_TIMEOUT_S:.0f} s ({last})",
                         where=f"namespace {self.lab.ns('router')}", fix=f"see {self._output_path('routerd')}")

    def _dns_answers(self) -> bool:
        """dnsmasq answers the portal's name on both LAN addresses. Ready means serving: routerd's
        API alone said nothing of the resolver, which is what a passenger asks first after a boot."""
        assert self.plan is not None
        plan = self.plan
        portal = f"portal.{plan.config.portal.domain}"

        def ask() -> bool:
            return all(ask_a_record(server, portal, 0.5) == plan.passenger_address
                       for server in (plan.passenger_address, plan.ops_address))

        return netns.run_in(plan.namespace, ask)

    def _output_path(self, name: str) -> Path | None:
        return self.plan.file(f"{name.replace(' ', '-')}.out") if self.plan else None

    # -- observation ----------------------------------------------------------------------------
    def api(self, path: str, timeout_s: float = 5.0) -> Any:
        """GET a status API path from inside the router namespace (its loopback)."""
        assert self.plan is not None, "the reference router is not running"
        url = f"http://127.0.0.1:{self.plan.portal_port}{path}"

        def get() -> Any:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                return json.loads(resp.read())

        return self.lab.run_in("router", get)

    def status(self) -> dict[str, Any]:
        return self.api("/api/status")

    def events(self, since: float = 0.0, event: str | None = None) -> list[dict[str, Any]]:
        return self.api(f"/api/logs?since={since}" + (f"&event={event}" if event else ""))

    def wait_for(self, what: str, predicate: Callable[[dict[str, Any]], T], timeout_s: float, poll_s: float = 0.1) -> T:
        """Poll the status until predicate(status) is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate(self.status())
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {what} did not happen within {timeout_s:.1f} s")
            time.sleep(poll_s)

    def nft(self, *args: str) -> str:
        """`nft` output inside the router namespace (for tests and debugging)."""
        assert self.plan is not None
        return netns.run(self.plan.namespace, ["nft", *args]).stdout

    def htb_stats(self, ifname: str) -> dict[str, dict[str, int]]:
        assert self.plan is not None
        with netns.ipr(self.plan.namespace) as ipr:
            return shaping.class_stats(ipr, ifname)


def _flush_conntrack() -> None:
    from pyroute2 import Conntrack

    ct = Conntrack()
    try:
        ct.flush()
    finally:
        ct.close()
