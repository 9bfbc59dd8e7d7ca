"""Run one command inside a throwaway qemu guest that has a real kernel netem.

The guest boots Debian's stock kernel under TCG (no KVM: the stock kernel hangs under KVM on the
bench hosts), sees the host's root file system read-only over 9p, chroots into it and runs the
command with the host's own Python environment. One writable 9p share carries the job in and the
exit code and any result files out. The guest has no network card (`-nic none`), so nothing it
does reaches the host's network.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.errors import BenchError, HostError
from bench.vm.initramfs import (
    CONTROL_DIR_PREFIX, HOSTROOT_TAG, MARKER, SHARE_TAG, build_initramfs, find_static_busybox,
)
from bench.vm.kernel import (
    DEFAULT_MODULES, INSTALL_HINT, cached_kernels, guest_kernel, resolve_package,
)

QEMU = "qemu-system-x86_64"
GUEST_MEMORY_MB = 1024
# One vCPU: under TCG a second one made RTT figures noisier, not faster.
GUEST_CPUS = 1
INIT_MARKER = f"{MARKER}: init"
TAIL_LINES = 40
RUN_DIR_PREFIX = "skybench-vm-"
OWNER_FILE = "owner"
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class VmResult:
    exit_code: int
    output: str  # what the command printed (stdout and stderr interleaved, as on a terminal)
    duration_s: float  # qemu start to qemu exit
    kernel_version: str  # `uname -r` of the guest
    boot_s: float | None = None  # qemu start to the guest's /init running
    console: str = ""  # the whole serial console, kernel messages included


class VmTimeoutError(BenchError):
    """The command did not finish in time; qemu was killed. Carries what was printed so far."""

    def __init__(self, what: str, *, console: str, fix: str) -> None:
        super().__init__(what, where="qemu guest", fix=fix)
        self.console = console


def qemu_binary() -> str:
    path = shutil.which(QEMU)
    if path is None:
        raise HostError(f"{QEMU} is not installed (needed to verify netem in a VM)", fix=INSTALL_HINT)
    return path


def default_env() -> dict[str, str]:
    """The guest command's environment: clean, with this interpreter's environment first on PATH."""
    return {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/tmp",  # the shared root is read-only; /tmp is the guest's tmpfs
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "PYTHONUNBUFFERED": "1",  # the console is the output channel: no block buffering
        "PYTHONDONTWRITEBYTECODE": "1",  # read-only root: do not even try
        "SKYBENCH_IN_VM": "1",
    }


def _job_script(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    lines = ["# written by bench.vm.runner; run by the guest's /init inside the chroot"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    lines.append(f"cd {shlex.quote(str(cwd))} || {{ echo 'cannot cd to {cwd} in the guest' >&2; exit 125; }}")
    lines.append("exec " + " ".join(shlex.quote(a) for a in argv))
    return "\n".join(lines) + "\n"


def _check_share_path(share: Path, what: str = "the VM share path") -> None:
    # The path goes through a shell `.`-sourced file and mount(8); keep it boring.
    if not re.fullmatch(r"/[A-Za-z0-9._/+-]*", str(share)):
        raise HostError(
            f"{what} {share} has characters the guest's init cannot handle",
            fix="use a directory path made of letters, digits and . _ - + /",
        )


def hidden_host_paths(paths: Iterable[Path]) -> list[str]:
    """The paths among `paths` that the guest's own /tmp and /run tmpfs would hide (a checkout or
    virtualenv under /tmp), outermost first; the guest's init shows each again at its own path."""
    hidden: list[Path] = []
    for path in sorted({p.resolve() for p in paths}, key=lambda p: len(p.parts)):
        if path.parts[1:2] in (("tmp",), ("run",)) and len(path.parts) > 2 and not any(path.is_relative_to(h) for h in hidden):
            _check_share_path(path, "the directory the guest must see")
            hidden.append(path)
    return [str(p) for p in hidden]


def qemu_command(*, kernel_image: Path, initramfs: Path, share: Path, nonce: str, cpus: int, memory_mb: int) -> list[str]:
    p9 = "security_model=none,multidevs=remap"
    return [
        qemu_binary(),
        "-machine", "pc,accel=tcg", "-cpu", "max", "-smp", str(cpus), "-m", str(memory_mb),
        "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio",
        "-nic", "none", "-no-reboot",
        "-kernel", str(kernel_image), "-initrd", str(initramfs),
        "-virtfs", f"local,path=/,mount_tag={HOSTROOT_TAG},{p9},readonly=on",
        "-virtfs", f"local,path={share},mount_tag={SHARE_TAG},{p9}",
        "-append", f"console=ttyS0 panic=-1 quiet loglevel=3 -- {nonce}",
    ]


def run_in_vm(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 900,
    share_dir: Path | None = None,
    modules: Iterable[str] = DEFAULT_MODULES,
    cpus: int = GUEST_CPUS,
    memory_mb: int = GUEST_MEMORY_MB,
    on_line: Callable[[str], None] | None = None,
) -> VmResult:
    """Boot a guest, run `argv` in `cwd` (a path on the host root) and return how it went.

    `env` adds to (and overrides) `default_env()`. The guest sees the host root read-only; it
    can write to its tmpfs /tmp and /run, and to `share_dir` (default: a temporary directory
    removed afterwards), which it sees at the same path as the host and finds in
    $SKYBENCH_VM_SHARE. `on_line` gets each console line as it arrives (for live output).
    Raises VmTimeoutError after `timeout_s` (qemu is killed), HostError when qemu, busybox or
    the kernel are missing or the guest fails before the command runs.
    """
    if not argv:
        raise BenchError("run_in_vm needs a command to run")
    qemu_binary()
    find_static_busybox()
    kernel = guest_kernel(modules)
    nonce = secrets.token_hex(8)
    sweep_stale_run_dirs()
    run_dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    (run_dir / OWNER_FILE).write_text(_owner_stamp(os.getpid()) or "")
    share = (share_dir or run_dir / "share").resolve()
    control = share / f"{CONTROL_DIR_PREFIX}{nonce}"
    proc: subprocess.Popen[bytes] | None = None
    try:
        _check_share_path(share)
        control.mkdir(parents=True)
        initramfs = run_dir / "initramfs.cpio"
        build_initramfs(kernel, modules, initramfs)
        full_env = {**default_env(), **(env or {}), "SKYBENCH_VM_SHARE": str(share)}
        (control / "job.sh").write_text(_job_script(argv, cwd, full_env))
        keep = hidden_host_paths([cwd, Path(sys.prefix)])
        (control / "job.conf").write_text(f"SHARE_DIR={shlex.quote(str(share))}\nKEEP={shlex.quote(' '.join(keep))}\n")

        command = qemu_command(
            kernel_image=kernel.boot_image, initramfs=initramfs, share=share, nonce=nonce,
            cpus=cpus, memory_mb=memory_mb,
        )
        stderr_path = run_dir / "qemu.stderr"
        started = time.monotonic()
        with open(stderr_path, "wb") as stderr:
            # Own session: qemu is not hit by a terminal Ctrl-C meant for us, and we kill it by pid.
            proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
        console = _ConsoleReader(proc, started, on_line)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            console.join()
            raise VmTimeoutError(
                f"the command did not finish within {timeout_s:.0f} s; the VM was stopped\n"
                + _tail(console.text()),
                console=console.text(),
                fix="raise the timeout, or look at the console output above for where it hung",
            ) from None
        console.join()
        duration = time.monotonic() - started
        text = console.text()
        exit_code = _exit_code(control, text, nonce)
        if exit_code is None:
            raise HostError(
                "the guest stopped before reporting the command's exit code"
                f" (qemu exit status {proc.returncode})\n" + _tail(text)
                + _tail(stderr_path.read_text(errors="replace"), label="qemu stderr"),
                where="qemu guest",
                fix="see the console output above; a missing kernel module or a full guest memory are common causes",
            )
        return VmResult(
            exit_code=exit_code,
            output=_command_output(text, nonce),
            duration_s=duration,
            kernel_version=kernel.release,
            boot_s=console.init_seen_s,
            console=text,
        )
    finally:
        if proc is not None and proc.poll() is None:
            _kill(proc)  # Ctrl-C or any other error while the guest runs
        shutil.rmtree(control, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


class _ConsoleReader:
    """Collects qemu's serial console from its stdout in a thread, noting when /init started."""

    def __init__(self, proc: subprocess.Popen[bytes], started: float, on_line: Callable[[str], None] | None) -> None:
        self.lines: list[str] = []
        self.init_seen_s: float | None = None
        self._started = started
        self._on_line = on_line
        self._stream = proc.stdout
        self._thread = threading.Thread(target=self._read, name="vm-console", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._stream is not None
        for raw in self._stream:
            line = raw.decode("utf-8", "replace").rstrip("\r\n").replace("\r", "")
            if self.init_seen_s is None and line == INIT_MARKER:
                self.init_seen_s = time.monotonic() - self._started
            self.lines.append(line)
            if self._on_line is not None:
                self._on_line(line)

    def join(self) -> None:
        self._thread.join(timeout=10)

    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")


def _owner_stamp(pid: int) -> str | None:
    try:
        return f"{pid} {psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return None


def sweep_stale_run_dirs() -> list[Path]:
    """Remove run directories left by a bench process that was SIGKILLed (its qemu died with it)."""
    removed = []
    for directory in Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*"):
        try:
            stamp = (directory / OWNER_FILE).read_text().strip()
            pid = int(stamp.split()[0])
        except (OSError, ValueError, IndexError):
            continue  # not a run directory of ours (or one being created right now)
        if _owner_stamp(pid) != stamp:
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


def _die_with_parent() -> None:
    """In the qemu child before exec: SIGKILL it if the bench dies without cleaning up (SIGKILL,
    a crash), since its own session keeps it out of reach of the terminal's signals."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _exit_code(control: Path, console: str, nonce: str) -> int | None:
    try:
        return int((control / "exit_code").read_text().strip())
    except (OSError, ValueError):
        pass
    # The share file is the primary channel; the console marker covers a share that failed late.
    match = re.search(rf"^{MARKER}-{nonce} exit=(\d+)$", console, re.MULTILINE)
    return int(match.group(1)) if match else None


def _command_output(console: str, nonce: str) -> str:
    start = f"{MARKER}-{nonce} start\n"
    begin = console.find(start)
    if begin == -1:
        return ""
    body = console[begin + len(start):]
    end = re.search(rf"^{MARKER}-{nonce} exit=\d+$", body, re.MULTILINE)
    return body[: end.start()] if end else body


def _tail(text: str, *, label: str = "guest console") -> str:
    lines = text.rstrip("\n").splitlines()[-TAIL_LINES:]
    if not lines:
        return ""
    return f"--- last lines of the {label} ---\n" + "\n".join(lines) + "\n"


def netem_vm_available() -> tuple[bool, str]:
    """Whether `run_in_vm` can work on this host, and why (not): cheap, downloads nothing."""
    try:
        qemu = qemu_binary()
        find_static_busybox()
    except HostError as exc:
        return False, exc.message
    cached = [k for k in cached_kernels() if k.covers(DEFAULT_MODULES)]
    try:
        package = resolve_package()
    except HostError as exc:
        if cached:
            return True, f"{qemu}; guest kernel {cached[0].release} (cached; apt cannot resolve a newer one)"
        return False, exc.message
    if any(k.package == package for k in cached):
        return True, f"{qemu}; guest kernel {package.name} {package.version} (cached)"
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            return False, HostError(f"`{tool}` is not installed", fix=INSTALL_HINT).message
    return True, f"{qemu}; guest kernel {package.name} {package.version} is downloaded on first use"
