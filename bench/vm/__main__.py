"""`python -m bench.vm [options] -- COMMAND...`: run COMMAND in the netem VM, exit with its code.

Example (the netem conformance tests against a real kernel netem):
    python -m bench.vm -- python -m pytest tests/link -m netem -p no:cacheprovider
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from bench.errors import BenchError
from bench.vm.initramfs import MARKER
from bench.vm.runner import GUEST_CPUS, netem_vm_available, run_in_vm


class _Terminated(BaseException):
    pass


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vm", description=__doc__.splitlines()[0])
    parser.add_argument("--cwd", type=Path, default=Path.cwd(), help="directory to run in (default: here)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before the VM is killed")
    parser.add_argument("--share", type=Path, default=None, help="writable directory the guest sees at the same path")
    parser.add_argument("--cpus", type=int, default=GUEST_CPUS)
    parser.add_argument("--check", action="store_true", help="only say whether the VM can run here")
    parser.add_argument("-q", "--quiet", action="store_true", help="print the output at the end, not live")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.check:
        ok, reason = netem_vm_available()
        print(("ok: " if ok else "not available: ") + reason)
        return 0 if ok else 1
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")

    showing = False

    def live(line: str) -> None:
        # Only the command's own output: from the start marker to the exit marker.
        nonlocal showing
        if line.startswith(MARKER):
            showing = line.endswith(" start")
        elif showing:
            print(line, flush=True)

    # A SIGTERM (CI job timeout, `kill`) unwinds like Ctrl-C, so the VM and temp files go too.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        result = run_in_vm(
            command, cwd=args.cwd.resolve(), timeout_s=args.timeout, share_dir=args.share,
            cpus=args.cpus, on_line=None if args.quiet else live,
        )
    except BenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the VM was stopped", file=sys.stderr)
        return 130
    except _Terminated:
        print("terminated: the VM was stopped", file=sys.stderr)
        return 143
    if args.quiet:
        sys.stdout.write(result.output)
    boot = f"{result.boot_s:.1f} s to init, " if result.boot_s is not None else ""
    print(
        f"[vm] kernel {result.kernel_version}: exit {result.exit_code} after {result.duration_s:.1f} s ({boot}TCG)",
        file=sys.stderr,
    )
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
