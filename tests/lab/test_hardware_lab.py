"""A `kind: hardware` lab around a router cabled to this host: the black-box reference router
(bench/devices/reference/standin.py) stands in for the physical one. The lab takes the host ends
of its cables into its namespaces and hands them back exactly as found (name, MAC, MTU, up/down,
addresses) after a normal exit, Ctrl-C, and a SIGKILL followed by `skybench lab clean`; a
missing interface or one the host itself uses is refused before anything is touched."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pyroute2 import IPRoute

from bench.devices.drivers.factory import router_driver
from bench.devices.reference.standin import BlackBoxHost
from bench.errors import BenchError, HostError
from bench.lab import addressing, netns
from bench.lab.lab import Lab
from bench.lab.labfile import load_lab
from bench.procedures.steady import path_of
from bench.traffic.passenger import Passenger
from tests.conftest import REPO, skybench
from tests.hostsnap import host_snapshot

pytestmark = pytest.mark.lab

PREFIX = "sbt"  # the cables' host ends: sbt-lan, sbt-ops, sbt-oneweb, ...


def black_box_lab_file(directory: Path, prefix: str = PREFIX) -> Path:
    """docs/examples/black-box-lab.yaml with cables of this test's own names and no instruments."""
    data = yaml.safe_load((REPO / "docs" / "examples" / "black-box-lab.yaml").read_text())
    data["dut"]["lan_interface"], data["dut"]["ops_interface"] = f"{prefix}-lan", f"{prefix}-ops"
    for wan in data["wans"]:
        wan["dut_interface"] = f"{prefix}-{wan['name']}"
    data["instruments"] = []
    path = directory / "black-box.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def lab_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The black-box router up with its cables on the host, and the lab file that names them."""
    os.environ.setdefault("SKYBENCH_ROUTER_PASSWORD", "black-box-test")
    path = black_box_lab_file(tmp_path_factory.mktemp("hw"))
    box = BlackBoxHost(load_lab(path)).up()
    try:
        yield path
    finally:
        box.down()


def _set_host_end(name: str, *, mtu: int | None = None, up: bool | None = None) -> None:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        if mtu is not None:
            ipr.link("set", index=index, mtu=mtu)
        if up is not None:
            ipr.link("set", index=index, state="up" if up else "down")


def test_a_passenger_gets_online_through_the_cabled_router_and_the_cables_come_back(lab_file: Path) -> None:
    # A cable found down and with its own MTU is handed back down and with that MTU.
    _set_host_end(f"{PREFIX}-lte", mtu=1400, up=False)
    before = host_snapshot()
    try:
        config = load_lab(lab_file)
        with Lab(config) as lab:
            assert not any(name.startswith(f"{PREFIX}-") for name, *_ in host_snapshot().links), "the cables stayed on the host"
            with netns.ipr(lab.ns("passengers")) as ipr:
                assert ipr.link_lookup(ifname="wifi0"), "the LAN cable is not the passengers' wifi0"
            assert "router" not in lab.roles
            dut = router_driver(config, embedded=lab)
            try:
                assert dut.firmware().vendor == "skybench"  # over its ops LAN, from the bench's leased client
            finally:
                dut.close()
            with Passenger(lab, "hw") as p:
                p.board()
                assert p.online()
                assert path_of(lab, p.ns) == "oneweb"
        assert host_snapshot().diff(before) == {}
    finally:
        _set_host_end(f"{PREFIX}-lte", mtu=1500, up=True)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill-then-clean"])
def test_the_cables_come_back_after_an_interrupted_lab(lab_file: Path, how: str) -> None:
    before = host_snapshot()
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "lab", "up", "--lab", str(lab_file)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    assert proc.stdout is not None
    out = ""
    deadline = time.monotonic() + 120
    while "is up" not in out:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, f"skybench lab up exited: {out}"
        out += line
        assert time.monotonic() < deadline, f"the lab did not come up: {out}"
    assert not any(name.startswith(f"{PREFIX}-") for name, *_ in host_snapshot().links)
    if how in ("ctrl-c", "sigterm"):
        os.killpg(proc.pid, signal.SIGINT if how == "ctrl-c" else signal.SIGTERM)
        code = proc.wait(timeout=60)
        assert code in (0, 128 + signal.SIGTERM), proc.stdout.read()  # ended by itself, after its teardown
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert not any(name.startswith(f"{PREFIX}-") for name, *_ in host_snapshot().links), "killed, yet the cables came back by themselves"
        cleaned = skybench("lab", "clean")
        assert cleaned.returncode == 0 and f"host interface {PREFIX}-lan handed back" in cleaned.stdout, cleaned.stdout + cleaned.stderr
    assert host_snapshot().diff(before) == {}


def test_a_missing_interface_is_refused_before_anything_is_touched(lab_file: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(lab_file.read_text())
    data["wans"][1]["dut_interface"] = "sbt-nothere"
    bad = tmp_path / "missing.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    before = host_snapshot()
    with pytest.raises(HostError) as caught:
        Lab(load_lab(bad)).up()
    message = caught.value.message
    assert "wans[1].dut_interface: no interface 'sbt-nothere' on this host" in message and str(bad) in message
    assert "how to fix" in message
    assert host_snapshot().diff(before) == {}


def test_an_interface_the_host_uses_is_refused_and_doctor_says_so(lab_file: Path, tmp_path: Path) -> None:
    with IPRoute() as ipr:
        ipr.link("add", ifname="sbt-host0", kind="veth", peer={"ifname": "sbt-host1"})
        index = ipr.link_lookup(ifname="sbt-host0")[0]
        ipr.addr("add", index=index, address="192.0.2.77", prefixlen=32)
    try:
        data = yaml.safe_load(lab_file.read_text())
        data["dut"]["ops_interface"] = "sbt-host0"
        bad = tmp_path / "host-used.yaml"
        bad.write_text(yaml.safe_dump(data, sort_keys=False))
        before = host_snapshot()
        with pytest.raises(BenchError) as caught:
            Lab(load_lab(bad)).up()
        assert "dut.ops_interface: interface 'sbt-host0' is the host's own (192.0.2.77/32)" in caught.value.message
        assert host_snapshot().diff(before) == {}
        doctor = skybench("doctor", "--lab", str(bad))
        assert doctor.returncode == 1
        assert "cable sbt-host0 (dut.ops_interface)" in doctor.stdout and "the host uses it (192.0.2.77/32)" in doctor.stdout
        assert "cable sbt-lan (dut.lan_interface)" in doctor.stdout
    finally:
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname="sbt-host0")
            if found:
                ipr.link("del", index=found[0])


def _arp_seconds(ns: str, target: str) -> float:
    """How long namespace `ns` takes to learn `target`'s MAC (an ARP round trip, answered by any
    kernel whatever its firewall)."""
    with netns.ipr(ns) as ipr:
        for n in ipr.get_neighbours(dst=target):
            ipr.neigh("del", dst=target, ifindex=n["ifindex"])
    start = time.monotonic()

    def poke() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"", (target, 9))

    netns.run_in(ns, poke)
    while time.monotonic() - start < 5:
        with netns.ipr(ns) as ipr:
            if any(n.get_attr("NDA_LLADDR") and n["state"] not in (0x01, 0x20) for n in ipr.get_neighbours(dst=target)):
                return time.monotonic() - start
        time.sleep(0.002)
    raise AssertionError(f"{target} never answered ARP from {ns}")


def test_a_real_terminal_sits_behind_the_emulated_link(lab_file: Path, tmp_path: Path) -> None:
    """Real-terminal mode: the sky link bridges the DUT's WAN port and a real terminal's LAN port
    (here a namespace standing for a dish, at the address the router uses as that WAN's gateway)."""
    dish_ns, dish_cable = "sbtdish", "sbt-dish"
    data = yaml.safe_load(lab_file.read_text())
    data["wans"][1]["terminal"] = {"driver": "none", "interface": dish_cable}
    real = tmp_path / "real-terminal.yaml"
    real.write_text(yaml.safe_dump(data, sort_keys=False))
    gateway = str(addressing.wan_addresses(1).terminal_lan)  # the router's starlink gateway: the dish's LAN side
    router_port = str(addressing.wan_addresses(1).router.ip)
    netns.create(dish_ns)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=dish_cable, kind="veth", peer={"ifname": "lan", "net_ns_fd": dish_ns})
            ipr.link("set", index=ipr.link_lookup(ifname=dish_cable)[0], state="up")
        with netns.ipr(dish_ns) as ipr:
            idx = ipr.link_lookup(ifname="lan")[0]
            ip, prefix = gateway.split("/")
            ipr.addr("add", index=idx, address=ip, prefixlen=int(prefix))
            ipr.link("set", index=idx, state="up")
        before = host_snapshot()
        with Lab(load_lab(real)) as lab:
            assert "term-starlink" not in lab.roles and "sky-starlink" in lab.roles
            with netns.ipr(lab.ns("sky-starlink")) as ipr:
                assert ipr.link_lookup(ifname="term") and ipr.link_lookup(ifname="gnd")
            plain = min(_arp_seconds(dish_ns, router_port) for _ in range(3))
            lab.link("starlink").set_direction("uplink", delay="50ms")
            lab.link("starlink").set_direction("downlink", delay="50ms")
            delayed = min(_arp_seconds(dish_ns, router_port) for _ in range(3))
        print(f"\nARP from the dish to the DUT's WAN port: {plain * 1000:.1f} ms unimpaired, {delayed * 1000:.1f} ms with 50 ms each way")
        assert plain < 0.05 and 0.1 <= delayed < 0.2
        assert host_snapshot().diff(before) == {}
    finally:
        netns.remove(dish_ns)
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=dish_cable)
            if found:
                ipr.link("del", index=found[0])
