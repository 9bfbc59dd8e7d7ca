"""Benchmark (prints figures, asserts nothing about speed): what the failure capture costs.

TCP goodput passengers -> ground through the reference router with and without the ring-buffer
tcpdump in the router namespace, and the CPU seconds tcpdump used. Run as root:

    .venv/bin/python -m tests.reports.bench_capture_cost
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from bench.lab import addressing, netns
from bench.lab.lab import Lab
from reports.capture import RingCapture

SECONDS = 5


def goodput_mbps(lab: Lab) -> float:
    out = netns.run(lab.ns("passengers"), ["iperf3", "-c", str(addressing.GROUND_SERVER.ip), "-p", "5299", "-t", str(SECONDS), "-J"],
                    timeout=SECONDS + 30).stdout
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    with Lab() as lab:
        server = lab.popen("ground", ["iperf3", "-s", "-p", "5299", "-B", str(addressing.GROUND_SERVER.ip)], name="iperf3",
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            plain = [goodput_mbps(lab) for _ in range(2)]
            capture = RingCapture(lab, role="passengers").start()
            try:
                captured = [goodput_mbps(lab) for _ in range(2)]
                assert capture._proc is not None
                cpu = cpu_seconds(capture._proc.pid)
                files = capture.stop()
                size = sum(p.stat().st_size for p in files)
            finally:
                capture.remove()
        finally:
            netns.kill_pids([server.pid])
    print(f"goodput without capture: {', '.join(f'{x:.0f}' for x in plain)} Mbit/s")
    print(f"goodput with capture:    {', '.join(f'{x:.0f}' for x in captured)} Mbit/s")
    print(f"tcpdump CPU: {cpu:.2f} s over {2 * SECONDS} s of traffic; ring on disk at the end: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
