"""Run commands in a throwaway qemu guest whose kernel has sch_netem (the bench hosts' kernels may not).

`run_in_vm(argv, cwd=...)` boots Debian's stock kernel under TCG with the host root shared
read-only, runs the command there with the host's Python environment and returns its exit code and
output; `netem_vm_available()` says whether that can work here. See docs/netem-vm.md.
"""

from bench.vm.runner import VmResult, VmTimeoutError, netem_vm_available, run_in_vm

__all__ = ["VmResult", "VmTimeoutError", "netem_vm_available", "run_in_vm"]
