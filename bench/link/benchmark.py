"""`skybench bench link`: the userspace backend measured against a plain kernel bridge, same run.

    .venv/bin/python -m bench.link.benchmark [--json] [--seconds 4] [--netem-vm]

`run_link_benchmark()` returns a dict and prints nothing (the CLI renders it); `main()` prints a
table. Traffic runs between two end namespaces of a throwaway testbed (bench.link.testbed): iperf3
for TCP and for UDP load, Python UDP probes with timestamps for one-way delay and paced UDP for
rate accuracy. With netem available (not on this machine), a netem column is measured too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psutil

from bench.link.api import open_link
from bench.link.backend import kernel_has_netem
from bench.link.bridge import create_bridge, remove_bridge
from bench.link.model import Impairment, LinkSpec
from bench.lab import netns
from bench.link.probe import TCP_PAYLOAD_SHARE, UDP_FRAME_OVERHEAD, paced_udp_goodput, udp_probes
from bench.link.testbed import Testbed, testbed

IPERF_PORT = 5201
UDP_PAYLOAD = 1458
UDP_PAYLOAD_SHARE = UDP_PAYLOAD / (UDP_PAYLOAD + UDP_FRAME_OVERHEAD)


def _iperf3(bed: Testbed, *args: str, seconds: float) -> dict[str, Any]:
    server = netns.popen(bed.host_b, ["iperf3", "-s", "-1", "-p", str(IPERF_PORT)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        proc = netns.run(bed.host_a, ["iperf3", "-c", bed.host_b_ip, "-p", str(IPERF_PORT), "-J",
                                      "-t", f"{seconds:g}", "-O", "1", *args],
                         timeout=seconds + 30)
        return json.loads(proc.stdout)
    finally:
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _tcp(bed: Testbed, seconds: float) -> dict[str, float]:
    out = _iperf3(bed, seconds=seconds)
    received = out["end"]["sum_received"]
    return {
        "mbit_s": received["bits_per_second"] / 1e6,
        "retransmits": out["end"]["sum_sent"].get("retransmits", 0),
        # Full frames carry 1448 payload bytes: packets per second on the wire.
        "kpps": received["bits_per_second"] / 8 / 1448 / 1e3,
    }


def _cpu_during(pids: dict[str, int], fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run fn; return its result and each process's CPU use (percent of one core) meanwhile."""
    procs = {d: psutil.Process(p) for d, p in pids.items()}
    before = {d: sum(p.cpu_times()[:2]) for d, p in procs.items()}
    start = time.monotonic()
    result = fn()
    wall = time.monotonic() - start
    return result, {d: round(100 * (sum(p.cpu_times()[:2]) - before[d]) / wall, 1) for d, p in procs.items()}


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(pick(0.5), 3), "p99": round(pick(0.99), 3), "max": round(ordered[-1], 3)}


def _delay_error_at_load(bed: Testbed, set_delay_ms: float, load_mbit: float, seconds: float) -> dict[str, float]:
    """One-way delay error of timestamped probes while iperf3 pushes UDP through the link."""
    server = netns.popen(bed.host_b, ["iperf3", "-s", "-1", "-p", str(IPERF_PORT)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    load = netns.popen(bed.host_a, ["iperf3", "-c", bed.host_b_ip, "-p", str(IPERF_PORT), "-u",
                                    "-b", f"{load_mbit:g}M", "-l", str(UDP_PAYLOAD), "-t", f"{seconds + 1:g}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        probes = udp_probes(bed.host_a, bed.host_b, bed.host_b_ip, count=int(seconds * 1000), interval_s=0.001)
    finally:
        for proc in (load, server):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    errors = [d - set_delay_ms for d in probes.delays_ms]
    return {**_percentiles(errors), "lost": probes.sent - probes.received}


def _update_latency(link: Any, bed: Testbed, updates: int = 200) -> dict[str, float]:
    """API call -> engine applying it (the next packet gets the new values), with traffic flowing."""
    from bench.link.userspace import UserspaceBackend

    applied: list[float] = []
    call: list[float] = []
    backend = link.backend

    def churn() -> None:
        for i in range(updates):
            start = time.monotonic()
            link.set_direction("uplink", delay=f"{5 + i % 5}ms")
            end = time.monotonic()
            call.append((end - start) * 1000)
            if isinstance(backend, UserspaceBackend) and backend.last_update_at is not None:
                applied.append((backend.last_update_at - start) * 1000)
            time.sleep(0.005)

    udp_probes(bed.host_a, bed.host_b, bed.host_b_ip, count=updates * 6, interval_s=0.001,
               during=(0.0, churn), drain_s=0.1)
    result = {f"call_ms_{k}": v for k, v in _percentiles(call).items()}
    if applied:
        result.update({f"applied_ms_{k}": v for k, v in _percentiles(applied).items()})
    return result


def _rate_accuracy(link: Any, bed: Testbed, rates_mbit: list[int], seconds: float) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for mbit in rates_mbit:
        rate = mbit * 10**6
        link.set(LinkSpec(uplink=Impairment(rate_bps=rate, delay_ms=5), downlink=Impairment(delay_ms=5)))
        tcp = _tcp(bed, seconds)
        before = link.counters().uplink.dropped_queue_full
        udp = paced_udp_goodput(bed.host_a, bed.host_b, bed.host_b_ip, offered_bps=rate * 1.1,
                                seconds=seconds, payload=UDP_PAYLOAD)
        drops = link.counters().uplink.dropped_queue_full - before
        found[f"{mbit}mbit"] = {
            "tcp_mbit_s": round(tcp["mbit_s"], 2),
            "tcp_pct_of_best": round(100 * tcp["mbit_s"] * 1e6 / (rate * TCP_PAYLOAD_SHARE), 1),
            "udp_mbit_s": round(udp / 1e6, 2),
            "udp_pct_of_best": round(100 * udp / (rate * UDP_PAYLOAD_SHARE), 1),
            "udp_offered_pct": 110,
            "queue_drops": drops,
        }
    return found


def _measure_link(bed: Testbed, backend: str, seconds: float, rates: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with open_link(bed.sky, bed.term_if, bed.gnd_if, backend=backend) as link:  # type: ignore[arg-type]
        pids = link.pids()
        run_tcp = lambda: _tcp(bed, seconds)  # noqa: E731
        if pids:
            out["tcp_unshaped"], out["tcp_unshaped"]["cpu_pct"] = _cpu_during(pids, run_tcp)
        else:
            out["tcp_unshaped"] = run_tcp()
        shaped = Impairment(rate_bps=10**9, delay_ms=20)
        link.set(LinkSpec(uplink=shaped, downlink=shaped))
        out["tcp_1gbit_20ms"] = run_tcp()
        link.set(LinkSpec(uplink=Impairment(rate_bps=150 * 10**6, delay_ms=20), downlink=Impairment(delay_ms=20)))
        if pids:
            out["tcp_150mbit"], out["tcp_150mbit"]["cpu_pct"] = _cpu_during(pids, run_tcp)
        out["rate_accuracy"] = _rate_accuracy(link, bed, rates, seconds)
        link.set(LinkSpec(uplink=Impairment(delay_ms=10), downlink=Impairment(delay_ms=10)))
        out["delay_error_ms_at_200mbit"] = _delay_error_at_load(bed, 10.0, 200, seconds)
        out["update_latency"] = _update_latency(link, bed)
    return out


def _measure_kernel_bridge(bed: Testbed, seconds: float) -> dict[str, Any]:
    create_bridge(bed.sky, bed.term_if, bed.gnd_if)
    try:
        return {
            "tcp_unshaped": _tcp(bed, seconds),
            "delay_error_ms_at_200mbit": _delay_error_at_load(bed, 0.0, 200, seconds),
        }
    finally:
        remove_bridge(bed.sky)


def _three_links(seconds: float) -> dict[str, Any]:
    """OneWeb, Starlink and LTE at once, each in its own testbed, TCP uplink and downlink-shaped."""
    rates = {"oneweb": (20, 150), "starlink": (15, 200), "lte": (10, 50)}  # uplink, downlink Mbit/s
    found: dict[str, Any] = {}
    beds: list[Any] = []
    links: list[Any] = []
    try:
        for name, (up, down) in rates.items():
            cm = testbed()
            bed = cm.__enter__()
            beds.append(cm)
            spec = LinkSpec(uplink=Impairment(rate_bps=up * 10**6, delay_ms=20),
                            downlink=Impairment(rate_bps=down * 10**6, delay_ms=20))
            links.append((name, bed, open_link(bed.sky, "term", "gnd", backend="userspace", spec=spec), down))
        servers = [netns.popen(bed.host_a, ["iperf3", "-s", "-1", "-p", str(IPERF_PORT)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _, bed, _, _ in links]
        time.sleep(0.3)
        # Downlink (ground -> onboard) is the heavy direction: TCP from each ground host.
        clients = [(name, down, netns.popen(bed.host_b, ["iperf3", "-c", bed.host_a_ip, "-p", str(IPERF_PORT),
                                                        "-J", "-t", f"{seconds:g}", "-O", "1"],
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
                   for name, bed, _, down in links]
        for name, down, proc in clients:
            out, _ = proc.communicate(timeout=seconds + 30)
            mbit = json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6
            found[name] = {"downlink_set_mbit": down, "tcp_mbit_s": round(mbit, 1),
                           "pct_of_best": round(100 * mbit / (down * TCP_PAYLOAD_SHARE), 1)}
        for server in servers:
            server.wait(timeout=5)
    finally:
        for _, _, link, _ in links:
            link.close()
        for cm in beds:
            cm.__exit__(None, None, None)
    return found


def run_link_benchmark(*, seconds: float = 4.0, rates_mbit: list[int] | None = None,
                       progress: Callable[[str], None] | None = None, netem_vm: bool = False) -> dict[str, Any]:
    """Measure the kernel bridge and the link backends side by side; return the figures.

    `progress` gets a short line as each part starts. `netem_vm` adds a netem column measured
    inside the qemu VM (bench.vm), with its own kernel-bridge baseline from the same VM run.
    """
    say = progress or (lambda _msg: None)
    if shutil.which("iperf3") is None:
        from bench.errors import HostError

        raise HostError("iperf3 is not installed", fix="apt-get install iperf3")
    rates = rates_mbit or [20, 100, 200]
    has_netem, netem_reason = kernel_has_netem()
    result: dict[str, Any] = {
        "host": {"cpus": psutil.cpu_count(), "load_avg_1m": round(psutil.getloadavg()[0], 2),
                 "netem": has_netem, "netem_reason": netem_reason},
        "settings": {"seconds": seconds, "frame_bytes": 1514, "offloads": "off"},
    }
    with testbed() as bed:
        say("kernel bridge (baseline)")
        result["kernel_bridge"] = _measure_kernel_bridge(bed, seconds)
        say("userspace backend")
        result["userspace"] = _measure_link(bed, "userspace", seconds, rates)
        if has_netem:
            say("netem backend")
            result["netem"] = _measure_link(bed, "netem", seconds, rates)
    say("three links at once (userspace)")
    result["three_links_userspace"] = _three_links(seconds)
    if netem_vm:
        say("netem inside the qemu VM (TCG: a few minutes)")
        from bench.link.vm_benchmark import netem_in_vm

        result["netem_vm"] = netem_in_vm(seconds=seconds, rates_mbit=rates)
    kernel_tcp = result["kernel_bridge"]["tcp_unshaped"]["mbit_s"]
    result["userspace"]["tcp_unshaped"]["ratio_to_kernel"] = round(
        result["userspace"]["tcp_unshaped"]["mbit_s"] / kernel_tcp, 3)
    result["host"]["load_avg_1m_after"] = round(psutil.getloadavg()[0], 2)
    return result


def _table(result: dict[str, Any]) -> str:
    lines = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            lines.append(f"{prefix:<60} {value:.2f}" if isinstance(value, float) else f"{prefix:<60} {value}")

    walk("", result)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark the link emulator against a kernel bridge")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each throughput run")
    parser.add_argument("--netem-vm", action="store_true",
                        help="add a netem column measured inside the qemu VM (bench.vm; TCG, a few minutes)")
    args = parser.parse_args(argv)
    result = run_link_benchmark(seconds=args.seconds, netem_vm=args.netem_vm,
                                progress=lambda msg: print(f"... {msg}", file=sys.stderr, flush=True))
    print(json.dumps(result, indent=1) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
