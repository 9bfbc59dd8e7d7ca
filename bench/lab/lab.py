"""The Lab object: a lab you open as a context manager (or a pytest fixture).

    with Lab() as lab:                      # the embedded lab, default WANs
        lab.run_in("passengers", fn)        # code with sockets inside the passengers' LAN
        lab.popen("ground", ["iperf3", "-s"], name="iperf3")
    with Lab(load_lab("my-lab.yaml")):      # kind: hardware: the DUT is cabled to host interfaces
        ...

The embedded lab runs its own reference router in a namespace; a hardware lab takes the host
interfaces the lab file names (the cables to the DUT and to real terminals) into its namespaces
and builds the same passengers', ops, terminal, sky-link and ground namespaces around them.
Whatever it creates or takes is in its ledger before it exists (or moves), and is removed (or
handed back as it was) on exit, on Ctrl-C, on SIGTERM, and after a SIGKILL by the next lab that
starts (or `skybench lab clean`).
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import signal
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import psutil

from bench.errors import BenchError
from bench.lab import addressing, hostif, netns
from bench.lab.labfile import load_lab
from bench.lab.model import LabConfig
from bench.lab.processes import NamespaceProcesses
from bench.lab.state import Ledger, clean_stale, new_prefix
from bench.lab.topology import (SKY_GROUND_SIDE, SKY_TERMINAL_SIDE, TopologyPlan, WanPath, build_topology, plan_hardware_topology,
                                plan_topology)
from bench.link import EmulatedLink, open_link
from bench.signals import default_sigterm, exit_status, stop_on_signals
from bench.steps import step

log = logging.getLogger("skybench.lab")


def load_embedded_router_config(path: str | os.PathLike[str]) -> Any:
    """A configuration file for the embedded lab's reference router (`--router-config`), read and
    checked now; errors name the file and the field."""
    from bench.devices.reference.config import load_router_config

    return load_router_config(path)


class Lab(NamespaceProcesses):
    """One lab: its namespaces, wires, cables, addresses and processes."""

    def __init__(self, config: LabConfig | None = None, *, prefix: str | None = None,
                 router_config: Any = None) -> None:
        self.config = config if config is not None else load_lab(None)
        self.prefix = prefix or new_prefix()
        wans = sorted(self.config.wans, key=lambda w: w.priority)
        if len(wans) > addressing.MAX_WANS:
            raise BenchError(f"a lab holds at most {addressing.MAX_WANS} WANs, the lab file has {len(wans)}")
        paths = [WanPath(w.name, w.kind, w.provider, w.priority, w.link.backend, addressing.wan_addresses(i), w.real_terminal)
                 for i, w in enumerate(wans)]
        if self.config.kind == "hardware":
            dut = self.config.dut
            assert dut.lan_interface is not None  # the lab file's rules say so
            self.plan: TopologyPlan = plan_hardware_topology(
                self.prefix, paths, lan=dut.lan_interface, ops=dut.ops_interface,
                dut_ports={w.name: w.dut_interface for w in wans if w.dut_interface},
                terminal_ports={w.name: w.terminal.interface for w in wans if w.terminal.interface})
        else:
            self.plan = plan_topology(self.prefix, paths, reference_router=self.config.dut.driver == "embedded")
        self.ledger = Ledger(prefix=self.prefix)
        self._is_up = False
        self._restore_signals: Callable[[], None] | None = None
        self.links: dict[str, EmulatedLink] = {}
        # The reference onboard router (bench.devices.reference), when the DUT is the embedded one;
        # router_config (a RouterConfig) replaces its router.yaml.
        self._router_config = router_config
        self.router: Any = None
        self.ground: Any = None  # the ground side's services and resolver (bench.ground.Ground)
        # Emulated instruments (bench.instruments.lab_binding) for the lab file's loopback ones.
        self.instruments: dict[str, Any] = {}
        self._instrument_stack = ExitStack()
        self._lan_services: list[Any] = []  # hardware labs: the terminals' DHCP servers, the ops LAN's client

    # -- life cycle -----------------------------------------------------------------------------
    def up(self) -> Lab:
        if self._is_up:
            return self
        stale = clean_stale()
        if stale.removed:
            log.warning("removed leftovers of earlier labs: %s", ", ".join(stale.removed))
        if self.plan.cables:  # before anything is created: a missing or host-used cable is refused whole
            hostif.check_cables([(c.field, c.host_ifname) for c in self.plan.cables],
                                str(getattr(self.config, "source", None) or "lab file"))
        self._trap_sigterm()
        # A lab opened without `with` is still removed when the interpreter exits (normally, on
        # Ctrl-C, or on SIGTERM, which the trap turns into SystemExit).
        atexit.register(self.down)
        self.ledger.meta = {
            "name": self.config.name,
            "kind": self.config.kind,
            "source": str(getattr(self.config, "source", None) or "built-in embedded lab"),
            "roles": {role: self.plan.ns(role) for role in self.plan.roles},
            "wans": [w.name for w in self.plan.wans],
        }
        self.ledger.save()
        try:
            with step("lab up", prefix=self.prefix, lab=self.config.name):
                build_topology(self.plan, self.ledger)
                self._attach_links()
                self.ledger.meta["links"] = {name: link.backend_name for name, link in self.links.items()}
                self.ledger.save()
                from bench.ground import Ground

                self.ground = Ground(self).start()
                if not self.plan.router_in_lab:
                    self._serve_cabled_dut()
                if self.config.dut.driver == "embedded":
                    from bench.devices.reference import ReferenceRouter

                    self.router = ReferenceRouter(self, self._router_config)
                    self.router.start()
                if self.config.instruments:
                    from bench.instruments.lab_binding import serve_for_lab

                    self.instruments = serve_for_lab(self, self._instrument_stack)
        except BaseException:
            self.down()
            raise
        self._is_up = True
        return self

    def down(self) -> list[str]:
        if os.getpid() != self.ledger.owner_pid:
            return []  # a forked child's copy of this object owns nothing
        with step("lab down", prefix=self.prefix):
            try:
                self._instrument_stack.close()  # first: no instrument acts on the lab from here on
            except Exception as exc:  # noqa: BLE001 - their threads are daemons; the lab still goes
                log.warning("stopping the emulated instruments failed: %s", exc)
            self.instruments = {}
            # Each part stops on its own: one that fails must not keep the others (or the ledger
            # teardown below, which ends whatever is left) from going.
            for part in [*reversed(self._lan_services), self.router, self.ground]:
                if part is not None:
                    try:
                        part.stop()
                    except Exception as exc:  # noqa: BLE001
                        log.warning("stopping %s failed: %s", getattr(part, "name", part), exc)
            self._lan_services.clear()
            self.router = None
            self.ground = None
            for link in self.links.values():
                try:
                    link.close()
                except Exception as exc:  # noqa: BLE001 - the namespace teardown below still removes it
                    log.warning("closing %s failed: %s", link.name, exc)
            self.links.clear()
            removed = self.ledger.teardown()
        self._is_up = False
        self._restore_sigterm()
        atexit.unregister(self.down)
        return removed

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.down()

    def _trap_sigterm(self) -> None:
        # SIGTERM's default action kills the process without running `finally` blocks; turn it
        # into SystemExit so the teardown runs as on a normal exit. Where a caller already turns it
        # into an exception (the pytest plugin: the whole run stops), that stays.
        if default_sigterm():
            self._restore_signals = stop_on_signals(lambda signum: SystemExit(exit_status(signum)), signals=(signal.SIGTERM,))

    def _restore_sigterm(self) -> None:
        if self._restore_signals is not None:
            self._restore_signals()
            self._restore_signals = None

    def _attach_links(self) -> None:
        """Put an emulated link in each sky namespace (unimpaired until a test or trace sets it)."""
        from bench.link.lab_links import link_change_log

        for wan in self.plan.wans:
            link = open_link(self.plan.ns(wan.sky_role), SKY_TERMINAL_SIDE, SKY_GROUND_SIDE, backend=wan.backend)  # type: ignore[arg-type]
            self.links[wan.name] = link
            for direction, pid in link.pids().items():
                self.ledger.record("process", pid=pid, name=f"link engine {wan.name} {direction}", role=wan.sky_role, start=psutil.Process(pid).create_time())
        # What another process (`skybench link show|set`) needs to attach to each link, and the
        # change log it appends to (removed with the lab).
        self.ledger.meta["link_control"] = {name: link.address().model_dump() for name, link in self.links.items()}
        self.ledger.record("file", path=str(link_change_log(self.ledger)))

    def _serve_cabled_dut(self) -> None:
        """What a cabled DUT finds on its ports: a DHCP server behind each WAN port whose terminal
        the bench emulates (as a dish or modem hands out the WAN address), and on the ops LAN the
        bench's own client, leased by the DUT (the ops devices and an ops-LAN management face are
        reached from there)."""
        from bench.lab.lanservices import OpsLanClient, TerminalDhcp

        for wan in self.plan.wans:
            if not wan.real_terminal:
                self._lan_services.append(TerminalDhcp(self, wan).start())
        self._lan_services.append(OpsLanClient(self).start())

    def link(self, wan: str) -> EmulatedLink:
        """The emulated sky link of a WAN."""
        if wan not in self.links:
            raise BenchError(f"the lab has no WAN {wan!r}; it has: {', '.join(self.links) or 'none up'}")
        return self.links[wan]

    # -- what the ground sees --------------------------------------------------------------------
    def wan_at_ground(self, address: str) -> str | None:
        """The lab WAN a packet left the train by, from the source address the ground saw: the
        DUT's address on that WAN (the WAN's /29, handed out by its terminal) or the terminal's
        own sky-side address (a terminal that NATs). None: no WAN of this lab."""
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return None
        for wan in self.plan.wans:
            if ip in wan.addresses.router.network or ip == wan.addresses.terminal_sky.ip:
                return wan.name
        return None

    def wan_order(self) -> list[str]:
        """The lab file's WANs, most preferred first: the order a DUT is expected to use them in."""
        return [w.name for w in self.plan.wans]

    # -- using the lab --------------------------------------------------------------------------
    @property
    def roles(self) -> list[str]:
        return self.plan.roles

    def ns(self, role: str) -> str:
        """The namespace name of a role ("router", "ground", "sky-oneweb", ...)."""
        if role not in self.plan.roles:
            raise BenchError(f"the lab has no {role!r}; it has: {', '.join(self.plan.roles)}")
        return self.plan.ns(role)

    def add_namespace(self, role: str) -> str:
        """An extra namespace in this lab (e.g. a second passenger host), removed with the lab."""
        name = self.plan.ns(role)
        with step("add namespace", role=role, namespace=name):
            self.ledger.record("netns", name=name, role=role)
            netns.create(name)
            with netns.ipr(name) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        self.plan.extra_roles.append(role)
        return name

    def status(self) -> dict[str, Any]:
        return lab_status(self.ledger)


def lab_status(ledger: Ledger) -> dict[str, Any]:
    """Namespaces, interfaces and addresses of a lab, read from the kernel (for `lab status`)."""
    namespaces: dict[str, Any] = {}
    for entry in ledger.objects:
        if entry["kind"] != "netns" or not netns.exists(entry["name"]):
            continue
        interfaces = []
        with netns.ipr(entry["name"]) as ipr:
            addrs: dict[int, list[str]] = {}
            for a in ipr.get_addr(family=2):
                addrs.setdefault(a["index"], []).append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
            for link in ipr.get_links():
                interfaces.append(
                    {
                        "name": link.get_attr("IFLA_IFNAME"),
                        "kind": (link.get_attr("IFLA_LINKINFO") or {}).get_attr("IFLA_INFO_KIND") if link.get_attr("IFLA_LINKINFO") else None,
                        "state": link.get_attr("IFLA_OPERSTATE"),
                        "mac": link.get_attr("IFLA_ADDRESS"),
                        "addresses": addrs.get(link["index"], []),
                    }
                )
        namespaces[entry.get("role", entry["name"])] = {"namespace": entry["name"], "interfaces": interfaces}
    processes = [
        {"pid": e["pid"], "name": e.get("name"), "role": e.get("role")}
        for e in ledger.objects
        if e["kind"] == "process"
    ]
    return {
        "prefix": ledger.prefix,
        "owner_pid": ledger.owner_pid,
        "alive": ledger.owner_alive(),
        "meta": ledger.meta,
        "namespaces": namespaces,
        "processes": processes,
    }
