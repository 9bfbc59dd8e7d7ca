"""The embedded lab comes up, carries traffic, goes down, and never leaves anything behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import psutil
import pytest

from bench.lab import addressing, netns
from bench.lab.lab import Lab
from bench.lab.reach import EchoServer, tcp_echo_rtts
from bench.lab.state import STATE_DIR
from tests.conftest import REPO, skybench
from tests.hostsnap import HostSnapshot, host_snapshot

pytestmark = pytest.mark.lab

GROUND = str(addressing.GROUND_SERVER.ip)


def _traffic(lab: Lab, count: int = 10) -> list[float]:
    with EchoServer(lab.ns("ground"), GROUND):
        return tcp_echo_rtts(lab.ns("passengers"), GROUND, count=count)


def test_lab_up_carries_traffic_and_down_leaves_nothing(untouched_host: HostSnapshot) -> None:
    with Lab() as lab:
        assert all(netns.exists(lab.ns(r)) for r in lab.roles)
        assert len(_traffic(lab)) == 10
        names = [lab.ns(r) for r in lab.roles]
        assert lab.ledger.path.exists()
    assert not any(netns.exists(n) for n in names)
    assert not lab.ledger.path.exists()


def test_two_labs_side_by_side(untouched_host: HostSnapshot) -> None:
    with Lab() as one, Lab() as two:
        assert one.prefix != two.prefix
        assert not set(map(one.ns, one.roles)) & set(map(two.ns, two.roles))
        # The same addresses live in both labs without colliding: each lab is its own world.
        assert len(_traffic(one)) == 10 and len(_traffic(two)) == 10
        two_names = [two.ns(r) for r in two.roles]
    assert not any(netns.exists(n) for n in two_names)


def test_a_failure_while_building_removes_what_was_built(untouched_host: HostSnapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab()

    def broken_links() -> None:
        raise RuntimeError("link emulator failed to start")

    monkeypatch.setattr(lab, "_attach_links", broken_links)
    with pytest.raises(RuntimeError):
        lab.up()
    assert not any(netns.exists(lab.ns(r)) for r in lab.roles)
    assert not lab.ledger.path.exists()


# The keeper takes Ctrl-C as a terminal would deliver it: a test run started in the background
# of a non-interactive shell (`... &`) inherits SIGINT ignored, and Python then never raises
# KeyboardInterrupt, so the SIGINT case would wait forever for a keeper that cannot hear it.
KEEPER = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from bench.lab.lab import Lab
lab = Lab().up()
lab.popen("ground", ["sleep", "300"], name="sleeper")
print(lab.prefix, flush=True)
time.sleep(300)
"""


def _start_keeper() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", KEEPER], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    prefix = proc.stdout.readline().strip()
    assert prefix.startswith("sb"), f"the lab did not come up (exit {proc.poll()})"
    return proc, prefix


def _sleepers(prefix: str) -> list[int]:
    ledger = json.loads((STATE_DIR / f"{prefix}.json").read_text())
    return [e["pid"] for e in ledger["objects"] if e["kind"] == "process"]


def test_sigkill_then_lab_clean_restores_the_host() -> None:
    before = host_snapshot()
    proc, prefix = _start_keeper()
    sleeper = _sleepers(prefix)[0]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # Killed without a chance to clean: its namespaces and process are still there...
    assert any(n.startswith(prefix) for n in netns.list_names())
    assert psutil.pid_exists(sleeper)
    result = skybench("lab", "clean", check=True)
    assert f"namespace {prefix}-router" in result.stdout
    # ...and `skybench lab clean` leaves the host exactly as before.
    assert not before.diff(host_snapshot())
    assert not psutil.pid_exists(sleeper) or psutil.Process(sleeper).status() == psutil.STATUS_ZOMBIE
    assert not (STATE_DIR / f"{prefix}.json").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_tear_the_lab_down(sig: signal.Signals) -> None:
    before = host_snapshot()
    proc, prefix = _start_keeper()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()  # the lab it left is the next lab's to remove; the keeper must not outlive the test
        proc.wait()
        raise
    assert not before.diff(host_snapshot())
    assert not (STATE_DIR / f"{prefix}.json").exists()


def test_the_next_lab_removes_a_killed_labs_leftovers(untouched_host: HostSnapshot) -> None:
    proc, prefix = _start_keeper()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    with Lab():
        assert not any(n.startswith(prefix) for n in netns.list_names())


def test_cli_lab_up_status_down(untouched_host: HostSnapshot) -> None:
    up = skybench("lab", "up", "--detach", check=True)
    prefix = up.stdout.split(" is up")[0].split()[-1]
    status = json.loads(skybench("lab", "status", "--json", check=True).stdout)
    lab = next(lab for lab in status["labs"] if lab["prefix"] == prefix)
    assert lab["alive"]
    router = lab["namespaces"]["router"]
    assert router["namespace"] == f"{lab['prefix']}-router"
    addresses = {a for i in router["interfaces"] for a in i["addresses"]}
    assert f"{addressing.ROUTER_PASSENGER.ip}/21" in addresses
    assert set(lab["meta"]["wans"]) == {"oneweb", "starlink", "lte"}
    down = skybench("lab", "down", lab["prefix"], check=True)
    assert "removed" in down.stdout
    after = json.loads(skybench("lab", "status", "--json", check=True).stdout)
    assert prefix not in [lab["prefix"] for lab in after["labs"]]
