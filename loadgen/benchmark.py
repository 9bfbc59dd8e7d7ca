"""`skybench bench load`: how many passengers this machine generates, through the embedded lab
and against loopback (the same Locust load, no DUT, no macvlans, no sky links), side by side.

For each side: the Locust process's CPU time over the steady window (after the ramp) divided by
that window (its share of one core: a Locust process is one gevent thread, so never more than
one core), requests/s over the same window, and passengers per core = users / CPU share.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import psutil

from bench.lab import addressing, netns
from bench.lab.lab import Lab
from loadgen.ground.services import DOMAIN, PAYMENT_ADDRESS, GroundServices
from loadgen.lan import LanClient
from loadgen.runner import LoadRun, clients_needed
from loadgen.profile import load_profile
from loadgen.summary import seconds

PROFILE = "load-benchmark"
LOOPBACK_CLIENTS = IPv4Address("198.18.0.10")  # loopback baseline: client addresses on lo from here


def _measure(run: LoadRun, ramp_s: float, run_time_s: float, users: int) -> dict[str, Any]:
    """CPU share of the Locust process and request rate over the steady window."""
    time.sleep(ramp_s + 5)
    procs = [psutil.Process(pid) for pid in run.pids()]
    t0, c0 = time.monotonic(), sum(sum(p.cpu_times()[:2]) for p in procs)
    w0 = time.time()
    steady = max(10.0, run_time_s - ramp_s - 10)
    time.sleep(steady)
    t1, c1 = time.monotonic(), sum(sum(p.cpu_times()[:2]) for p in procs)
    w1 = time.time()
    run.wait()
    sec = seconds(run.out_dir)
    window = sec[(sec["time"] >= _ts(w0)) & (sec["time"] < _ts(w1))]
    share = (c1 - c0) / (t1 - t0)
    rps = float(window["requests"].sum()) / max(1.0, w1 - w0)
    peak_users = int(sec.groupby("time")["users"].sum().max()) if len(sec) else 0
    failures = int(window["failures"].sum())
    return {"users": users, "peak_users": peak_users, "requests_per_s": round(rps, 1), "failures_per_s": round(failures / max(1.0, w1 - w0), 2),
            "generator_cpu_share": round(share, 3), "passengers_per_core": round(users / share) if share > 0 else None,
            "window_s": round(w1 - w0, 1),
            "failures_by_class": {str(k): int(v) for k, v in window.groupby("cls")["failures"].sum().items() if v},
            "first_errors": [e["error"] for e in run.summary()["errors"][:3]]}


def _ts(t: float) -> Any:
    import pandas as pd

    return pd.Timestamp(int(t), unit="s", tz="UTC")


def run_load_benchmark(users: int = 1000, run_time_s: float = 60.0, spawn_rate: float = 100.0,
                       progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    profile = load_profile(PROFILE)
    ramp_s = users / spawn_rate
    total = max(run_time_s, ramp_s + 30)
    result: dict[str, Any] = {"profile": PROFILE, "cores": psutil.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="skybench-loadbench-") as tmp, Lab(router_config=_portal_exempt_config()) as lab:
        progress(f"lab {lab.prefix} up; leasing {users} passengers from the reference router")
        start = time.monotonic()
        with LoadRun(lab, profile, users=users, spawn_rate=spawn_rate, run_time_s=total, out_dir=Path(tmp) / "lab") as run:
            result["lab_setup_s"] = round(time.monotonic() - start, 1)
            progress(f"lab: {len(run.clients)} clients leased in {result['lab_setup_s']} s; measuring")
            result["lab"] = _measure(run, ramp_s, total, users)
        progress("loopback: same load, no DUT")
        result["loopback"] = _loopback(lab, profile, users, spawn_rate, total, ramp_s, Path(tmp) / "loopback")
    lab_r, loop_r = result["lab"], result["loopback"]
    result["lab_vs_loopback"] = {
        "requests_per_s": round(lab_r["requests_per_s"] / loop_r["requests_per_s"], 3) if loop_r["requests_per_s"] else None,
        "generator_cpu_share": round(lab_r["generator_cpu_share"] / loop_r["generator_cpu_share"], 3) if loop_r["generator_cpu_share"] else None,
    }
    return result


def _portal_exempt_config() -> Any:
    """The reference router with every address of its passenger pool exempt from the portal: the
    benchmark measures the generator and the lab's data path, not the portal (which takes logins
    one at a time; the boarding-storm test measures that)."""
    from bench.devices.reference.config import load_router_config

    config = load_router_config()
    first, last = config.dhcp.passenger_pool
    pool = [str(IPv4Address(n)) for n in range(int(first), int(last) + 1)]
    return config.override({"portal": {"exempt": [*(str(a) for a in config.portal.exempt), *pool]}})


def _loopback(lab: Lab, profile: Any, users: int, spawn_rate: float, total: float, ramp_s: float, out: Path) -> dict[str, Any]:
    """Servers and clients on one namespace's loopback: what the generator costs without the lab."""
    ns = lab.add_namespace("loopback")
    need = clients_needed(profile, users)
    clients: dict[str, list[LanClient]] = {"passenger": [], "ops": []}
    hosts = {f"{name}.{DOMAIN}": str(ip) for name, ip in addressing.ORIGIN_SERVICES.items()}
    hosts[f"pay.{DOMAIN}"] = PAYMENT_ADDRESS
    with netns.ipr(ns) as ipr:
        lo = ipr.link_lookup(ifname="lo")[0]
        for address in [*hosts.values()]:
            if address not in [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=lo)]:
                ipr.addr("add", index=lo, address=address, prefixlen=32)
        n = 0
        for kind in ("passenger", "ops"):
            for i in range(need[kind]):
                ip = str(LOOPBACK_CLIENTS + n)
                n += 1
                ipr.addr("add", index=lo, address=ip, prefixlen=32)
                clients[kind].append(LanClient(name=f"{kind} {i:04d}", kind=kind, namespace=ns, ifname="lo", mac="00:00:00:00:00:00",
                                               ip=ip, prefixlen=32, router=ip, dns=ip, table=0, lease_s=0.0))
    with GroundServices(lab, role="loopback") as ground:
        with LoadRun(lab, profile, users=users, spawn_rate=spawn_rate, run_time_s=total, out_dir=out, ground=ground,
                     role="loopback", clients=clients, hosts=hosts, behind_dut=False) as run:
            return _measure(run, ramp_s, total, users)
