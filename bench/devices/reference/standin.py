"""The reference router as a black box cabled to this host: a stand-in for a physical router on a
machine that has none (`scripts/black-box-router`).

    scripts/black-box-router start --lab docs/examples/black-box-lab.yaml   # until Ctrl-C / SIGTERM
    scripts/black-box-router start --lab ... --detach                       # in the background
    scripts/black-box-router stop

It reads the same `kind: hardware` lab file the bench will run with, and builds what that file's
cables lead to: a namespace `<prefix>-router` holding the reference router, whose ports are veth
pairs with their other ends in the host's root namespace under the names the lab file gives
(`dut.lan_interface`, `dut.ops_interface`, each WAN's `dut_interface`). Its WAN ports have the
lab's addresses for them (the .1 of each WAN's /29), its management faces (REST, SSH, SNMP) are on
its ops-LAN address, and the lab file's loopback power supply is served here, feeding it. The
bench then reaches it only through those cables and those faces, as it would a vendor's router.

Everything it creates is in a cleanup ledger (/run/skybench/labs) before it exists, and goes on
SIGTERM, Ctrl-C and exit; after a SIGKILL, `skybench lab clean` removes it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil

from bench.errors import BenchError
from bench.lab import addressing, hostif, netns
from bench.lab.labfile import load_lab
from bench.lab.model import LabConfig
from bench.lab.processes import NamespaceProcesses
from bench.lab.state import STATE_DIR, Ledger, new_prefix
from bench.lab.topology import TopologyPlan, WanPath, plan_topology
from bench.steps import step

PID_FILE = STATE_DIR.parent / "black-box-router.pid"
LOG_FILE = STATE_DIR.parent / "black-box-router.log"


class BlackBoxHost(NamespaceProcesses):
    """What the reference router needs of its surroundings (the part of a Lab it uses), for a
    router that is alone in its namespace with cables to the host."""

    def __init__(self, config: LabConfig) -> None:
        if config.kind != "hardware":
            raise BenchError("the black-box router needs a kind: hardware lab file (it builds what that file's cables lead to)",
                             where=str(config.source or "lab file"), fix="start from docs/examples/black-box-lab.yaml")
        if config.dut.ops_interface is None:
            raise BenchError("the reference router has a passengers' and an ops LAN port: the lab file must cable both",
                             where=f"{config.source}: dut.ops_interface", fix="name a host interface for its ops LAN port")
        self.config = config
        self.prefix = new_prefix()
        wans = sorted(config.wans, key=lambda w: w.priority)
        self.plan: TopologyPlan = plan_topology(
            self.prefix, [WanPath(w.name, w.kind, w.provider, w.priority, w.link.backend, addressing.wan_addresses(i))
                          for i, w in enumerate(wans)], reference_router=True)
        self.ledger = Ledger(prefix=self.prefix)
        self.router: Any = None
        self._stack = ExitStack()

    # -- what the router uses of a lab ------------------------------------------------------------
    def ns(self, role: str) -> str:
        if role != "router":
            raise BenchError(f"the black-box router has no {role!r} namespace: the rest is the bench's, across the cables")
        return self.plan.ns("router")

    # -- life ---------------------------------------------------------------------------------------
    def cables(self) -> list[tuple[str, str, str]]:
        """(router port, host end, lab-file field) of every cable."""
        dut = self.config.dut
        assert dut.lan_interface is not None and dut.ops_interface is not None
        out = [("lan-pass", dut.lan_interface, "dut.lan_interface"), ("lan-ops", dut.ops_interface, "dut.ops_interface")]
        for i, w in enumerate(self.config.wans):
            assert w.dut_interface is not None
            out.append((f"wan-{w.name}", w.dut_interface, f"wans[{i}].dut_interface"))
        return out

    def up(self, router_config: Any = None) -> BlackBoxHost:
        taken = [f"{field}: {host}" for _, host, field in self.cables() if hostif.inspect(host) is not None]
        if taken:
            raise BenchError(f"the host already has interfaces of these names: {', '.join(taken)}",
                             where=str(self.config.source), fix="another black-box router running? `scripts/black-box-router stop`")
        self.ledger.meta = {"name": f"black-box {self.config.dut.name}", "kind": "black-box router",
                            "source": str(self.config.source), "roles": {"router": self.ns("router")}}
        self.ledger.save()
        try:
            self._build()
            from bench.devices.reference.router import ReferenceRouter

            self.router = ReferenceRouter(self, router_config)  # type: ignore[arg-type]  # this host is its lab
            self.router.start()
            self._serve_supply()
        except BaseException:
            self.down()
            raise
        return self

    def _build(self) -> None:
        name = self.ns("router")
        with step("black-box router: namespace and cables", namespace=name):
            self.ledger.record("netns", name=name, role="router")
            netns.create(name)
            ports = {w.a.ifname: w.a.address for w in self.plan.wires if w.a.role == "router"}
            ports.update({w.b.ifname: w.b.address for w in self.plan.wires if w.b.role == "router"})
            with netns.ipr(name) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                for port, host_end, _ in self.cables():
                    ipr.link("add", ifname=port, kind="veth", peer={"ifname": host_end, "net_ns_fd": hostif.ROOT_NS})
                    idx = ipr.link_lookup(ifname=port)[0]
                    address = ports[port]
                    if address is not None:
                        ipr.addr("add", index=idx, address=str(address.ip), prefixlen=address.network.prefixlen)
                    ipr.link("set", index=idx, state="up")
                for route in self.plan.routes:
                    if route.role == "router":
                        dst = "0.0.0.0/0" if route.dst == "default" else str(route.dst)
                        ipr.route("replace", dst=dst, gateway=route.via)
            netns.sysctl(name, "net.ipv4.ip_forward", 1)
            from pyroute2 import IPRoute

            with IPRoute() as ipr:  # the host ends: up, as a cable's far end is
                for _, host_end, _ in self.cables():
                    ipr.link("set", index=ipr.link_lookup(ifname=host_end)[0], state="up")

    def _serve_supply(self) -> None:
        from bench.instruments.emulated.lab import serve_lab_instruments
        from bench.instruments.lab_binding import is_emulated

        supplies = [i for i in self.config.instruments if i.kind == "power_supply" and is_emulated(i)]
        if supplies:
            with step("black-box router: its supply", resource=supplies[0].resource):
                self._stack.enter_context(serve_lab_instruments(supplies[:1], power_target=self.router.power))

    def down(self) -> list[str]:
        if os.getpid() != self.ledger.owner_pid:
            return []
        self._stack.close()
        if self.router is not None:
            try:
                self.router.stop()
            except Exception as exc:  # noqa: BLE001 - the ledger teardown below still ends its processes
                print(f"stopping the reference router failed: {exc}", file=sys.stderr)
            self.router = None
        self._unplug()
        return self.ledger.teardown()

    def _unplug(self) -> None:
        """Delete the cables now (a veth pair goes with either end): the namespace's removal would
        take them too, but in the kernel's own time, after this process has moved on."""
        name = self.ns("router")
        if not netns.exists(name):
            return
        with netns.ipr(name) as ipr:
            for port, _, _ in self.cables():
                found = ipr.link_lookup(ifname=port)
                if found:
                    ipr.link("del", index=found[0])


def _serve(args: argparse.Namespace) -> int:
    config = load_lab(args.lab)
    router_config = None
    if args.router_config:
        from bench.devices.reference.config import load_router_config

        router_config = load_router_config(args.router_config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    host = BlackBoxHost(config)
    host.up(router_config)
    cables = ", ".join(f"{host_end} (its {port})" for port, host_end, _ in host.cables())
    print(f"black-box router up in namespace {host.ns('router')}: cables {cables}; management on "
          f"{addressing.ROUTER_OPS.ip} over its ops LAN", flush=True)
    try:
        stop.wait()
    finally:
        removed = host.down()
        print(f"black-box router down: removed {len(removed)} objects", flush=True)
    return 0


def _start_detached(args: argparse.Namespace) -> int:
    if _running_pid() is not None:
        print(f"a black-box router already runs (pid {_running_pid()}); `scripts/black-box-router stop` first", file=sys.stderr)
        return 1
    PID_FILE.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "bench.devices.reference.standin", "start", "--lab", str(args.lab)]
    if args.router_config:
        argv += ["--router-config", str(args.router_config)]
    with open(LOG_FILE, "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    PID_FILE.write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"the black-box router exited at start: see {LOG_FILE}", file=sys.stderr)
            PID_FILE.unlink(missing_ok=True)
            return 1
        if b"black-box router up" in LOG_FILE.read_bytes():
            print(f"black-box router running (pid {proc.pid}; log {LOG_FILE})")
            return 0
        time.sleep(0.2)
    print(f"the black-box router did not come up within 60 s: see {LOG_FILE}", file=sys.stderr)
    return 1


def _running_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text())
    except (OSError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def _stop() -> int:
    pid = _running_pid()
    if pid is None:
        print("no black-box router runs")
        PID_FILE.unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if psutil.pid_exists(pid):
        os.kill(pid, signal.SIGKILL)
        from bench.lab.state import clean_stale

        clean_stale()
    PID_FILE.unlink(missing_ok=True)
    print("black-box router stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="black-box-router", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="build the router and its cables; run until SIGTERM or Ctrl-C")
    start.add_argument("--lab", type=Path, required=True, help="the kind: hardware lab file the bench will use")
    start.add_argument("--router-config", type=Path, default=None, help="a router.yaml for the reference router")
    start.add_argument("--detach", action="store_true", help=f"run in the background (pid in {PID_FILE})")
    sub.add_parser("stop", help="stop a detached black-box router")
    args = ap.parse_args(argv)
    try:
        if args.command == "stop":
            return _stop()
        return _start_detached(args) if args.detach else _serve(args)
    except BenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
