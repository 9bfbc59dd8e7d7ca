"""The netem VM runner, end to end: a real qemu guest, the real Debian kernel, real sch_netem.

One guest boot runs guest_netem_probe.py (pyroute2 + netem + a UDP ping-pong) with the host's
venv Python; two short boots check exit-code reporting and the timeout. Without qemu these tests
skip with the install hint, except under CI=true where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.errors import HostError
from bench.vm import VmResult, VmTimeoutError, netem_vm_available, run_in_vm
from bench.vm.initramfs import build_initramfs
from bench.vm.kernel import DEFAULT_MODULES, GuestKernel, guest_kernel
from bench.vm.runner import OWNER_FILE, RUN_DIR_PREFIX, hidden_host_paths, sweep_stale_run_dirs
from tests.hostsnap import HostSnapshot, host_snapshot

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("guest_netem_probe.py")
DEBIAN_RELEASE = re.compile(r"^\d+\.\d+\.\d+-\d+-amd64$")
NETEM_DELAY_MS = 20.0


def require_vm() -> None:
    ok, reason = netem_vm_available()
    if ok:
        return
    message = f"the netem VM cannot run on this host: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class ProbeRun:
    result: VmResult
    data: dict[str, Any] | None
    host_before: HostSnapshot
    host_after: HostSnapshot

    def explain(self) -> str:
        return f"guest exit {self.result.exit_code}; console:\n{self.result.console[-4000:]}"


@pytest.fixture(scope="session")
def kernel() -> GuestKernel:
    require_vm()
    return guest_kernel()


@pytest.fixture(scope="session")
def probe_run(kernel: GuestKernel) -> Iterator[ProbeRun]:
    """The one heavy boot: netem set up and measured inside the guest."""
    with tempfile.TemporaryDirectory(prefix="skybench-vm-test-") as share_dir:
        share = Path(share_dir)
        out = share / "probe.json"
        before = host_snapshot()
        result = run_in_vm([sys.executable, str(PROBE), "--out", str(out)], cwd=REPO, share_dir=share, timeout_s=300)
        after = host_snapshot()
        data = json.loads(out.read_text()) if out.exists() else None
        yield ProbeRun(result, data, before, after)


def test_guest_runs_the_debian_kernel(probe_run: ProbeRun, kernel: GuestKernel) -> None:
    assert probe_run.result.exit_code == 0 and probe_run.data is not None, probe_run.explain()
    assert DEBIAN_RELEASE.match(probe_run.data["uname_r"]), probe_run.data["uname_r"]
    assert probe_run.data["uname_r"] == probe_run.result.kernel_version == kernel.release


def test_pyroute2_adds_netem_on_a_veth_between_namespaces(probe_run: ProbeRun) -> None:
    assert probe_run.data is not None, probe_run.explain()
    netem = [q for q in probe_run.data["qdiscs"] if q["kind"] == "netem"]
    assert len(netem) == 1, probe_run.data["qdiscs"]
    settings = netem[0]["settings"]
    # What the kernel reports back, not what was asked: the qdisc really has these parameters.
    assert settings["delay_us"] == pytest.approx(NETEM_DELAY_MS * 1000, rel=0.01)
    assert settings["loss_pct"] == pytest.approx(10, abs=0.01)
    assert probe_run.data["namespaces_left"] == []


def test_udp_ping_pong_shows_the_delay_and_some_loss(probe_run: ProbeRun) -> None:
    assert probe_run.data is not None, probe_run.explain()
    baseline, netem = probe_run.data["baseline"], probe_run.data["netem"]
    print(
        f"\nRTT baseline median {baseline['median_ms']:.2f} ms; netem delay 20 ms: median "
        f"{netem['median_ms']:.2f} ms, min {netem['min_ms']:.2f} ms, lost {netem['lost']}/{netem['sent']}"
    )
    # Without netem the veth answers far below the delay, so the delay below comes from netem.
    assert baseline["lost"] == 0 and baseline["median_ms"] < NETEM_DELAY_MS / 2
    assert netem["median_ms"] >= NETEM_DELAY_MS
    assert netem["min_ms"] >= NETEM_DELAY_MS * 0.99  # netem never sends early (1 % for clock granularity)
    assert netem["median_ms"] < NETEM_DELAY_MS * 3  # TCG adds 1-2 ms, not tens
    # 10 % of 200: P(no loss) = 0.9**200 < 1e-9; 60 would be 10 standard deviations out.
    assert 1 <= netem["lost"] <= 60


def test_the_vm_leaves_the_host_network_alone(probe_run: ProbeRun) -> None:
    # Links, addresses and routes of the root namespace (the namespace list is left out: other
    # test runs on the host may be building labs at the same time).
    diff = probe_run.host_before.diff(probe_run.host_after)
    assert {k: v for k, v in diff.items() if k != "namespaces"} == {}


def test_nonzero_exit_code_and_output_come_back(kernel: GuestKernel) -> None:
    result = run_in_vm(["sh", "-c", "echo to-stdout; echo to-stderr >&2; pwd; exit 3"], cwd=REPO, timeout_s=120)
    assert result.exit_code == 3, result.console
    assert result.output.splitlines() == ["to-stdout", "to-stderr", str(REPO)]
    assert result.boot_s is not None and 0 < result.boot_s < result.duration_s
    print(f"\nboot to /init {result.boot_s:.2f} s, whole run {result.duration_s:.2f} s")


def test_a_checkout_under_the_hosts_tmp_is_seen_in_the_guest(kernel: GuestKernel) -> None:
    # A CI clone in /tmp: the guest's own tmpfs /tmp would hide it (the VM tests then failed with
    # "cannot cd"). The guest sees the host's directory at its path, read-only, and its /tmp
    # around it stays the guest's own, writable.
    with tempfile.TemporaryDirectory(prefix="skybench-vm-checkout-", dir="/tmp") as checkout:
        (Path(checkout) / "marker.txt").write_text("from the host\n")
        script = "pwd; cat marker.txt; touch here 2>/dev/null || echo read-only; touch /tmp/own && echo tmp-writable"
        result = run_in_vm(["sh", "-c", script], cwd=Path(checkout), timeout_s=120)
    assert result.exit_code == 0, result.console
    assert result.output.splitlines() == [checkout, "from the host", "read-only", "tmp-writable"]


def test_only_paths_the_guests_tmpfs_would_hide_are_shown_again() -> None:
    assert hidden_host_paths([Path("/tmp/ci/clone"), Path("/tmp/ci/clone/.venv"), Path("/usr"), Path("/run/x")]) == [
        "/run/x", "/tmp/ci/clone"]
    assert hidden_host_paths([REPO]) == ([] if REPO.parts[1] not in ("tmp", "run") else [str(REPO)])
    with pytest.raises(HostError, match="the directory the guest must see /tmp/a b"):
        hidden_host_paths([Path("/tmp/a b")])


def test_timeout_kills_qemu_and_removes_temp_files(kernel: GuestKernel) -> None:
    temp = Path(tempfile.gettempdir())
    before = set(temp.glob("skybench-vm-*"))
    with pytest.raises(VmTimeoutError) as caught:
        run_in_vm(["sleep", "600"], cwd=REPO, timeout_s=8)
    assert "did not finish within 8 s" in caught.value.what
    assert "start" in caught.value.console  # it did boot and start the command before the kill
    qemus = [p for p in psutil.Process().children(recursive=True) if "qemu" in p.name()]
    assert qemus == []
    assert set(temp.glob("skybench-vm-*")) - before == set()


def test_missing_qemu_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no qemu on it
    with pytest.raises(HostError) as caught:
        run_in_vm(["true"], cwd=REPO)
    assert "qemu-system-x86_64 is not installed" in caught.value.message
    assert "scripts/install-system-deps.sh" in caught.value.message
    ok, reason = netem_vm_available()
    assert not ok and "install-system-deps.sh" in reason


def test_modules_load_after_their_dependencies(kernel: GuestKernel) -> None:
    order = kernel.load_order(DEFAULT_MODULES)
    for position, name in enumerate(order):
        for dep in kernel.modules[name].depends:
            assert dep in kernel.builtin or order.index(dep) < position, (name, dep, order)
    # Read from the real .ko files' .modinfo: 9p needs the 9p transport core and netfs in 6.1.
    assert {"9pnet", "netfs"} <= set(kernel.modules["9p"].depends)
    assert {"stp", "llc"} <= set(kernel.modules["bridge"].depends) | set(kernel.modules["stp"].depends)
    assert "sch_netem" in order and "veth" in order


def test_second_resolution_uses_the_cache(kernel: GuestKernel) -> None:
    manifest = kernel.directory / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    again = guest_kernel()
    assert again.directory == kernel.directory
    assert manifest.stat().st_mtime_ns == stamp  # nothing re-downloaded or re-extracted


def test_initramfs_is_a_cpio_archive_the_cpio_tool_reads(kernel: GuestKernel, tmp_path: Path) -> None:
    archive = tmp_path / "initramfs.cpio"
    order = build_initramfs(kernel, DEFAULT_MODULES, archive)
    listing = subprocess.run(["cpio", "-it", "--quiet"], stdin=archive.open("rb"), capture_output=True, text=True, check=True)
    names = set(listing.stdout.split())
    assert {"init", "bin/busybox", "dev/console", "lib/modules/load-order"} <= names
    assert {f"lib/modules/{m}.ko" for m in order} <= names


def test_run_dirs_of_killed_bench_processes_are_swept() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs (a recycled pid fails the start-time check instead)
    stale = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    live = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    foreign = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))  # no owner file: not ours to remove
    try:
        (stale / OWNER_FILE).write_text(f"{dead.pid} 12345.00")
        (live / OWNER_FILE).write_text(f"{os.getpid()} {psutil.Process().create_time():.2f}")
        removed = sweep_stale_run_dirs()
        assert stale in removed and not stale.exists()
        assert live.exists() and foreign.exists()
    finally:
        for directory in (stale, live, foreign):
            shutil.rmtree(directory, ignore_errors=True)


def test_missing_apt_without_a_cached_kernel_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is not None:
        (tools / "qemu-system-x86_64").symlink_to(qemu)  # so the failure is the kernel, not qemu
    monkeypatch.setenv("PATH", str(tools))  # no apt-cache, apt-get or dpkg-deb
    monkeypatch.setenv("SKYBENCH_VM_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(HostError) as caught:
        guest_kernel()
    assert "`apt-cache` is not installed" in caught.value.message
    assert "scripts/install-system-deps.sh" in caught.value.message
