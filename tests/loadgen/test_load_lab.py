"""Passenger load through the embedded lab (reference router as DUT): hundreds of clients, each
with its own MAC and DHCP lease, run by Locust in its own process; figures read back from the
Parquet files the run streamed."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.lab.lab import Lab
from fixtures.passengers import Passengers
from loadgen.summary import quality, seconds

pytestmark = pytest.mark.lab


def test_mixed_profile_500_passengers(passengers: Passengers, lab: Lab) -> None:
    # 8 joins a second (500 in about a minute): the reference router's portal takes about 10
    # logins a second on this machine and collapses under retries well above that (docs/loadgen.md).
    run = passengers.run("mixed", users=500, spawn_rate=8, run_time_s=80)
    s = run.summary()
    print("\nmixed, 500 users:", {k: (v["requests"], v["failures"], round(v["latency_p95_ms"])) for k, v in s["classes"].items()})
    print("quality:", {k: (v["count"], round(v["p50"], 3), round(v["p95"], 3)) for k, v in s["quality"].items()})
    print("errors:", s["error_count"], s["errors"][:3])
    # Every class of the profile did its work.
    for cls in ("browsing", "messaging", "video", "call", "portal", "pos", "cctv", "conductor"):
        assert s["classes"][cls]["requests"] > 0, cls
    # 500 distinct clients were running at once (users counted per class, per second).
    sec = seconds(run.out_dir)
    peak = sec.groupby("time")["users"].sum().max()
    assert peak >= 480, peak
    # Every passenger went through the portal: distinct clients with a login time.
    q = quality(run.out_dir)
    logins = q[q["metric"] == "portal_login_s"]
    print(f"logins: {logins['client'].nunique()} distinct passengers, p50 {logins['value'].median():.2f} s")
    assert logins["client"].nunique() >= 400
    assert logins["value"].quantile(0.95) < 60  # generous: 2 shared, busy cores
    # Operational devices were served; the failure ratio stays low (free tier, unsaturated WAN).
    assert s["classes"]["pos"]["failures"] <= s["classes"]["pos"]["requests"] * 0.2
    assert s["classes"]["conductor"]["failure_ratio"] < 0.05
    assert s["classes"]["messaging"]["failure_ratio"] < 0.05
    assert s["quality"]["video.video_startup_s"]["count"] >= 10
    assert s["quality"]["call.call_loss_pct"]["p50"] < 5
    assert s["quality"]["cctv.cctv_loss_pct"]["max"] < 5
    # The router saw them as distinct clients: hundreds of sessions.
    sessions = lab.router.status()["sessions"] if lab.router else {}
    assert len(sessions) >= logins["client"].nunique()
    # The per-class plot the fixture attaches to the test's Allure result.
    passengers.attach_plots()
    png = run.out_dir / "classes.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_boarding_storm_logs_hundreds_in(passengers: Passengers, lab: Lab) -> None:
    before = len(lab.router.status()["sessions"]) if lab.router else 0
    run = passengers.run("boarding", users=302, spawn_rate=5, run_time_s=70)  # 300 passengers board in a minute
    q = quality(run.out_dir)
    logins = q[q["metric"] == "portal_login_s"]
    span = (logins["time"].max() - logins["time"].min()).total_seconds()
    print(f"\nboarding: {logins['client'].nunique()} logins in {span:.1f} s, p50 {logins['value'].median():.3f} s, "
          f"p95 {logins['value'].quantile(0.95):.3f} s")
    assert logins["client"].nunique() >= 270
    assert span < 90
    after = len(lab.router.status()["sessions"]) if lab.router else 0
    assert after - before >= 270


def test_distributed_master_and_two_workers(passengers: Passengers) -> None:
    run = passengers.run("mixed", users=40, spawn_rate=20, run_time_s=20, workers=2)
    sec = seconds(run.out_dir)
    workers = {p for p in sec["process"].unique() if p.startswith("worker-")}
    assert len(workers) == 2, sec["process"].unique()
    assert int(sec["requests"].sum()) > 50
    q = quality(run.out_dir)
    clients = q[q["metric"] == "portal_login_s"]["client"]
    assert clients.is_unique  # the workers shared the leases without handing one out twice


def test_no_dhcp_lease_names_the_passenger(lab: Lab) -> None:
    # A LAN without a DHCP server: a namespace of its own with a dangling veth as the "Wi-Fi".
    ns = lab.add_namespace("nodhcp")
    from bench.lab import netns

    with netns.ipr(ns) as ipr:
        ipr.link("add", ifname="wifi0", kind="veth", peer={"ifname": "air0"})
        for name in ("wifi0", "air0"):
            ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
    from loadgen.lan import attach_clients

    with pytest.raises(BenchError) as err:
        attach_clients(lab, "nodhcp", "wifi0", 2, kind="passenger", dhcp_timeout_s=4, dhcp_tries=1)
    assert "passenger 000" in err.value.message and "no DHCP lease" in err.value.message
    with netns.ipr(ns) as ipr:
        assert not [l for l in ipr.get_links() if l.get_attr("IFLA_IFNAME", "").startswith("p0")]  # removed again


def test_unreachable_portal_names_the_passenger(lab: Lab, ground_origin, tmp_path) -> None:
    from loadgen.runner import LoadRun

    if lab.router is None:
        pytest.skip("needs the reference router")
    routerd = [e for e in lab.ledger.objects if e["kind"] == "process" and e.get("name", "").endswith("routerd")]
    assert routerd
    from bench.lab import netns

    netns.kill_pids([routerd[0]["pid"]])  # the portal's server is gone; DHCP and DNS still answer
    try:
        run = LoadRun(lab, "boarding", users=5, spawn_rate=5, run_time_s=5, out_dir=tmp_path, ground=ground_origin)
        with pytest.raises(BenchError) as err:
            run.start()
        assert "passenger 0000" in err.value.message and "portal" in err.value.message
        assert run.clients == []  # released again
    finally:
        lab.router.restart()
