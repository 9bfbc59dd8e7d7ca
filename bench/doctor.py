"""`skybench doctor`: can this host run the bench, and with which link backend?

Each check says what it found and, when something is missing, how to fix it. Probes that need
kernel features run inside a throwaway namespace, never in the host's root namespace.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bench.errors import BenchError
from bench.lab import netns, state
from bench.lab.model import LabConfig
from bench.link.backend import kernel_has_netem, select_backend

Status = Literal["ok", "info", "warn", "fail"]
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
SYSTEM_DEPS_HINT = "run `scripts/install-system-deps.sh` as root"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def _capabilities() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def check_python() -> Check:
    v = sys.version_info
    ok = v >= (3, 11)
    return Check("python", "ok" if ok else "fail", f"Python {v.major}.{v.minor}.{v.micro}", "" if ok else "install Python 3.11 or newer")


def check_privileges() -> Check:
    caps = _capabilities()
    need = (1 << CAP_NET_ADMIN) | (1 << CAP_SYS_ADMIN)
    if os.geteuid() == 0 or caps & need == need:
        return Check("privileges", "ok", "root" if os.geteuid() == 0 else "CAP_NET_ADMIN and CAP_SYS_ADMIN")
    return Check("privileges", "fail", "not root and without CAP_NET_ADMIN/CAP_SYS_ADMIN", "run the bench as root (sudo)")


def check_namespaces_and_veth() -> list[Check]:
    name = f"{state.new_prefix()}-doctor"
    try:
        netns.create(name)
    except (BenchError, OSError) as exc:
        return [Check("network namespaces", "fail", str(exc).splitlines()[0], "run as root on a kernel with CONFIG_NET_NS")]
    checks = [Check("network namespaces", "ok", "can create and remove named namespaces")]
    try:
        with netns.ipr(name) as ipr:
            ipr.link("add", ifname="dr0", kind="veth", peer={"ifname": "dr1"})
            ipr.link("add", ifname="drbr", kind="bridge")
        checks.append(Check("veth and bridge", "ok", "veth pairs and bridges can be created"))
    except Exception as exc:  # any netlink refusal means the feature is missing
        checks.append(Check("veth and bridge", "fail", f"the kernel refused: {exc}", "load the veth and bridge modules (modprobe veth bridge)"))
    finally:
        netns.remove(name)
    return checks


def check_link_backend(config: LabConfig) -> list[Check]:
    has_netem, why = kernel_has_netem()
    checks = [
        Check(
            "netem in the kernel",
            "ok" if has_netem else "info",
            ("yes: " if has_netem else "missing: ") + why,
            "" if has_netem else "nothing to do: the userspace link emulator is used instead",
        )
    ]
    for wan in config.wans:
        try:
            backend, _ = select_backend(wan.link.backend)
            checks.append(Check(f"link backend {wan.name}", "ok", f"{wan.link.backend} -> {backend}"))
        except BenchError as exc:
            checks.append(Check(f"link backend {wan.name}", "fail", exc.what, exc.fix or ""))
    return checks


def check_tool(binary: str, purpose: str, *, required: bool) -> Check:
    path = shutil.which(binary)
    if path:
        return Check(binary, "ok", f"{path} ({purpose})")
    return Check(binary, "fail" if required else "warn", f"not installed: needed for {purpose}", SYSTEM_DEPS_HINT)


def check_netem_vm() -> Check:
    from bench.vm import netem_vm_available

    ok, reason = netem_vm_available()
    return Check("netem verification VM", "ok" if ok else "warn", reason, "" if ok else SYSTEM_DEPS_HINT)


def check_ports(ports: tuple[int, ...] = (5025, 5026)) -> Check:
    busy = []
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    if busy:
        return Check("loopback ports", "warn", f"busy: {busy} (emulated instruments use them)", "stop what listens there, or set other ports in the lab file")
    return Check("loopback ports", "ok", f"free: {list(ports)} (emulated SCPI instruments)")


def check_leftovers() -> Check:
    stale = [led.prefix for led in state.ledgers() if not led.owner_alive()]
    live = [led.prefix for led in state.ledgers() if led.owner_alive()]
    orphans = [n for n in netns.list_names() if state.NS_NAME_RE.match(n) and state.NS_NAME_RE.match(n).group(1) not in live]  # type: ignore[union-attr]
    if stale or orphans:
        return Check("leftovers", "warn", f"labs whose owner died: {stale or 'none'}; unclaimed namespaces: {orphans or 'none'}", "run `skybench lab clean`")
    return Check("leftovers", "ok", f"none ({len(live)} lab(s) running)")


def check_cables(config: LabConfig) -> list[Check]:
    """Each host interface a hardware lab file names: there, with carrier, its MTU, and not the
    host's own (no address or route of the host's goes through it)."""
    from bench.lab import hostif

    checks = []
    for field, name in config.cables():
        iface = hostif.inspect(name)
        label = f"cable {name} ({field})"
        if iface is None:
            checks.append(Check(label, "fail", "no such interface on this host",
                                "cable the NIC and check its name with `ip link`, or correct the lab file"))
        elif iface.used_by_host:
            used = ", ".join([f"{a}/{p}" for a, p in iface.addresses] + [f"route {r}" for r in iface.routes])
            checks.append(Check(label, "fail", f"the host uses it ({used}): the bench would cut the host off by taking it",
                                "name an interface cabled to the DUT (or a terminal) only, with none of the host's addresses"))
        elif not iface.carrier:
            checks.append(Check(label, "warn", f"no carrier (MTU {iface.mtu}, {'up' if iface.up else 'down'})",
                                "is the DUT (or terminal) at the other end powered and cabled?"))
        else:
            checks.append(Check(label, "ok", f"carrier, MTU {iface.mtu}, {iface.kind or 'physical'}, {iface.mac}"))
    return checks


def run_checks(config: LabConfig) -> list[Check]:
    checks: list[Check] = [check_python(), check_privileges()]
    if checks[-1].status == "fail":
        return checks  # every probe below needs the privileges
    checks += check_namespaces_and_veth()
    checks += check_link_backend(config)
    tools: list[tuple[str, str, bool]] = [
        ("iperf3", "throughput tests", True),
        ("nft", "the reference router's NAT, portal and quotas", True),
        ("dnsmasq", "the reference router's DHCP and DNS", True),
    ]
    checks += [check_tool(b, p, required=r) for b, p, r in tools]
    probes: list[Callable[[], Check]] = [check_netem_vm, check_ports, check_leftovers]
    checks += [probe() for probe in probes]
    checks += check_cables(config)
    return checks
