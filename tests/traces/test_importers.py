"""Importers: the real recordings in tests/data/recordings and small files written here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.errors import BenchError
from bench.traces import read_trace, write_trace
from bench.traces.importers import IMPORTERS, import_trace
from bench.traces.importers.starlink_dish import DEFAULT_RATE_DOWN_BPS, DEFAULT_RATE_UP_BPS
from tests.traces.conftest import AUTOBAHN, FJORD_2024, FJORD_2025


def test_registry_has_every_kind() -> None:
    assert set(IMPORTERS) == {"starlink-dish", "ping", "iperf3-json", "throughput-csv", "mahimahi"}
    with pytest.raises(BenchError, match="use one of: iperf3-json, mahimahi"):
        import_trace("pcap", FJORD_2024)


# --- starlink-dish ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [FJORD_2024, FJORD_2025], ids=["2024-12-12", "2025-01-30"])
def test_fjordlink_dumps_import_to_valid_traces(path: Path, tmp_path: Path) -> None:
    source = pd.read_parquet(path)
    trace = import_trace("starlink-dish", path)
    down = trace.rows("starlink", "down")
    assert len(down) == len(source) == 3600
    rtt = source["dish_status.pop_ping_latency_ms"].to_numpy()
    connected = (source["dish_status.state"] == "CONNECTED").to_numpy()
    # one-way delay is half the dish's round trip, wherever the dish was connected
    np.testing.assert_allclose(down["delay_ms"].to_numpy()[connected], rtt[connected] / 2)
    # the pings' round-trip drop rate, split so that both directions together lose as much
    up = trace.rows("starlink", "up")
    drop = source["dish_status.pop_ping_drop_rate"].clip(0, 1).to_numpy()
    np.testing.assert_allclose(1 - (1 - down["loss"].to_numpy()) * (1 - up["loss"].to_numpy()), drop, atol=1e-9)
    np.testing.assert_allclose(down["loss"], up["loss"])
    assert down["outage"].sum() == (~connected).sum()
    # carried throughput is kept, never used as the rate
    np.testing.assert_allclose(down["x_carried_bps"], source["dish_status.downlink_throughput_bps"])
    assert (down["rate_bps"] == DEFAULT_RATE_DOWN_BPS).all()
    assert (trace.rows("starlink", "up")["rate_bps"] == DEFAULT_RATE_UP_BPS).all()
    assert 3600 < trace.duration_s < 3650
    assert trace.meta.licence == "CC-BY-4.0" and "FjordLink" in trace.meta.attribution
    assert trace.meta.source == "recorded" and trace.meta.importer == "starlink-dish"
    assert trace.meta.links["starlink"].carried[0].p50_bps < 100_000  # an idle link: kbit/s, not capacity
    assert str(trace.meta.start_time.utcoffset()) == "1:00:00"
    back = read_trace(write_trace(trace, tmp_path / "dish.parquet"))
    assert back.meta.content_sha256 == trace.meta.content_sha256


def test_fjordlink_obstructed_second_is_an_outage() -> None:
    source = pd.read_parquet(FJORD_2025)
    row = int(np.flatnonzero(source["dish_status.state"] != "CONNECTED")[0])
    down = import_trace("starlink-dish", FJORD_2025).rows("starlink", "down")
    assert down["outage"].iloc[row] and not down["outage"].iloc[row - 1]
    assert down["delay_ms"].iloc[row] == down["delay_ms"].iloc[row - 1]  # held, not invented


def test_dish_rate_from_user_option() -> None:
    trace = import_trace("starlink-dish", FJORD_2024, rate_down_bps=100_000_000, rate_up_bps=20_000_000,
                         link="sat1", licence="test")
    assert trace.links == ["sat1"]
    assert (trace.rows("sat1", "down")["rate_bps"] == 100_000_000).all()
    assert trace.meta.links["sat1"].rate_origin == "user option"
    assert trace.meta.licence == "test"


GRPC_TOOLS_STATUS = """datetimestamp_utc,id,hardware_version,software_version,state,uptime,snr,seconds_to_first_nonempty_slot,pop_ping_drop_rate,downlink_throughput_bps,uplink_throughput_bps,pop_ping_latency_ms,alerts,fraction_obstructed,currently_obstructed,seconds_obstructed,obstruction_duration,obstruction_interval,direction_azimuth,direction_elevation,is_snr_above_noise_floor
2024-03-01T10:00:00,ut01,rev4,2024.02.1,CONNECTED,1000,,0.0,0.0,12000.5,3000.2,31.0,0,0.001,False,,,,10.0,60.0,True
2024-03-01T10:00:01,ut01,rev4,2024.02.1,CONNECTED,1001,,0.0,0.25,13000.5,3100.2,35.0,0,0.001,False,,,,10.0,60.0,True
2024-03-01T10:00:02,ut01,rev4,2024.02.1,CONNECTED,1002,,0.0,0.0,13000.5,3100.2,33.0,0,0.001,True,,,,10.0,60.0,True
2024-03-01T10:00:03,,,,DISH_UNREACHABLE
2024-03-01T10:00:04,ut01,rev4,2024.02.1,SEARCHING,1004,,0.0,1.0,0,0,,0,0.001,False,,,,10.0,60.0,True
2024-03-01T10:00:05,ut01,rev4,2024.02.1,CONNECTED,1005,,0.0,0.0,13000.5,3100.2,29.0,0,0.001,False,,,,10.0,60.0,True
"""

GRPC_TOOLS_BULK = """datetimestamp_utc,pop_ping_drop_rate,pop_ping_latency_ms,downlink_throughput_bps,uplink_throughput_bps,snr,scheduled,obstructed
2024-03-01T10:00:01,0.0,30.0,1000.0,500.0,,True,False
2024-03-01T10:00:02,1.0,,0.0,0.0,,False,False
2024-03-01T10:00:03,0.0,40.0,1000.0,500.0,,True,False
"""


def test_starlink_grpc_tools_status_csv(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_text(GRPC_TOOLS_STATUS)
    trace = import_trace("starlink-dish", path, licence="own measurement")
    down = trace.rows("starlink", "down")
    assert down["outage"].tolist() == [False, False, True, True, True, False]  # obstructed, unreachable, searching
    assert down["delay_ms"].tolist() == [15.5, 17.5, 17.5, 17.5, 17.5, 14.5]
    assert down["loss"].tolist() == pytest.approx([0.0, 1 - 0.75 ** 0.5, 0.0, 1.0, 1.0, 0.0])  # 25 % of round trips lost
    assert trace.meta.start_time.isoformat() == "2024-03-01T10:00:00+00:00"  # naive times are UTC
    assert trace.meta.licence == "own measurement"


def test_starlink_grpc_tools_bulk_history_csv(tmp_path: Path) -> None:
    path = tmp_path / "bulk.csv"
    path.write_text(GRPC_TOOLS_BULK)
    down = import_trace("starlink-dish", path).rows("starlink", "down")
    assert down["outage"].tolist() == [False, True, False]
    assert down["delay_ms"].tolist() == [15.0, 15.0, 20.0]


def test_dish_import_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(BenchError, match="not a Starlink dish status dump"):
        import_trace("starlink-dish", path)
    path.write_text(GRPC_TOOLS_BULK.replace("30.0", "thirty"))
    with pytest.raises(BenchError, match="pop_ping_latency_ms is 'thirty'"):
        import_trace("starlink-dish", path)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(FJORD_2024.read_bytes()[:5000])
    with pytest.raises(BenchError, match="cannot read the dish dump"):
        import_trace("starlink-dish", bad)


# --- ping ---------------------------------------------------------------------------------------

def _ping_output(replies: dict[int, float], t0: float = 1_700_000_000.0, interval: float = 0.2) -> str:
    lines = ["PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data."]
    for seq in range(1, max(replies) + 1):
        if seq in replies:
            rtt = replies[seq]
            lines.append(f"[{t0 + seq * interval + rtt / 1000:.6f}] 64 bytes from 10.0.0.1: icmp_seq={seq} ttl=57 "
                         f"time={rtt} ms")
    lines.append("--- 10.0.0.1 ping statistics ---")
    return "\n".join(lines) + "\n"


def test_ping_dash_d_output(tmp_path: Path) -> None:
    # 5 probes/s for 4 s; second 1 loses one of five; second 2 loses all (outage)
    replies = {seq: 40.0 + (seq % 5) for seq in range(1, 21)}
    del replies[7]
    for seq in range(11, 16):
        del replies[seq]
    path = tmp_path / "ping.txt"
    path.write_text(_ping_output(replies))
    down = import_trace("ping", path).rows("wan", "down")
    assert down["t_s"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert down["loss"].tolist() == pytest.approx([0.0, 0.2, 1.0, 0.0])
    assert down["outage"].tolist() == [False, False, True, False]
    assert down["delay_ms"].iloc[0] == pytest.approx(21.0)  # median RTT 42 / 2
    assert down["delay_ms"].iloc[2] == down["delay_ms"].iloc[1]
    assert down["jitter_ms"].iloc[0] > 0
    assert down["rate_bps"].isna().all()  # ping knows nothing of capacity


def test_ping_csv(tmp_path: Path) -> None:
    path = tmp_path / "ping.csv"
    rows = ["time,rtt_ms"] + [f"{1_700_000_000 + i * 0.5},{'' if 4 <= i < 8 else 30 + i}" for i in range(12)]
    path.write_text("\n".join(rows) + "\n")
    trace = import_trace("ping", path, rate_down_bps=50_000_000, rate_up_bps=10_000_000, link="lte")
    down = trace.rows("lte", "down")
    assert down["outage"].tolist() == [False, False, True, True, False, False]
    assert down["loss"].tolist() == [0, 0, 1, 1, 0, 0]
    assert (down["rate_bps"] == 50_000_000).all()
    path.write_text("time,rtt_ms\n1700000000,30\n1700000001,fast\n")
    with pytest.raises(BenchError, match=r"ping.csv:3 column rtt_ms"):
        import_trace("ping", path)


def test_ping_garbage(tmp_path: Path) -> None:
    path = tmp_path / "ping.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(BenchError, match="no timestamped ping replies"):
        import_trace("ping", path)


# --- iperf3 ---------------------------------------------------------------------------------

def _iperf3(rates: list[float], *, reverse: bool = False, udp: bool = False, rtt_us: int = 60_000) -> dict:
    intervals = []
    for i, bps in enumerate(rates):
        stream = {"socket": 5, "start": float(i), "end": float(i + 1), "bits_per_second": bps,
                  "sender": not reverse}
        if not udp and not reverse:
            stream["rtt"] = rtt_us
        total = {"start": float(i), "end": float(i + 1), "seconds": 1.0, "bits_per_second": bps}
        if udp:
            total.update(lost_percent=2.0, jitter_ms=0.8)
        intervals.append({"streams": [stream], "sum": total})
    return {"start": {"timestamp": {"time": "Tue, 01 Apr 2025 10:00:00 GMT", "timesecs": 1743501600},
                      "test_start": {"protocol": "UDP" if udp else "TCP", "reverse": int(reverse)}},
            "intervals": intervals, "end": {}}


def test_iperf3_tcp_upload(tmp_path: Path) -> None:
    path = tmp_path / "up.json"
    path.write_text(json.dumps(_iperf3([20e6, 18.5e6, 0.0, 19e6])))
    trace = import_trace("iperf3-json", path)
    up = trace.rows("wan", "up")
    assert up["rate_bps"].tolist() == [20_000_000, 18_500_000, 18_500_000, 19_000_000]
    assert up["outage"].tolist() == [False, False, True, False]
    assert up["delay_ms"].tolist() == [30.0] * 4  # 60 ms RTT / 2
    assert trace.rows("wan", "down").empty
    assert trace.meta.start_time.isoformat() == "2025-04-01T10:00:00+00:00"


def test_iperf3_reverse_udp_needs_delay(tmp_path: Path) -> None:
    path = tmp_path / "down.json"
    path.write_text(json.dumps(_iperf3([100e6, 90e6], reverse=True, udp=True)))
    with pytest.raises(BenchError, match="--delay-ms"):
        import_trace("iperf3-json", path)
    down = import_trace("iperf3-json", path, delay_ms=25).rows("wan", "down")
    assert down["loss"].tolist() == [0.02, 0.02] and down["jitter_ms"].tolist() == [0.8, 0.8]
    assert down["delay_ms"].tolist() == [25.0, 25.0]


def test_iperf3_error_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"start": {}, "intervals": [], "error": "unable to connect to server"}))
    with pytest.raises(BenchError, match="unable to connect"):
        import_trace("iperf3-json", path)
    path.write_text("{not json")
    with pytest.raises(BenchError, match="not a JSON file"):
        import_trace("iperf3-json", path)


# --- throughput-csv ---------------------------------------------------------------------------

def test_autobahn_recording(tmp_path: Path) -> None:
    source = pd.read_csv(AUTOBAHN)
    trace = import_trace("throughput-csv", AUTOBAHN)
    down, up = trace.rows("starlink", "down"), trace.rows("starlink", "up")
    assert len(down) == len(source) - 1  # one repeated timestamp dropped
    assert down["outage"].sum() == (source["download"] == 0).sum()
    assert up["outage"].sum() == (source["upload"] == 0).sum()
    live = down.loc[~down["outage"], "rate_bps"]
    assert 210e6 < live.median() < 225e6  # the recording's median downlink, 218 Mbit/s
    assert (down["rate_bps"] > 0).all()
    assert down["speed_kmh"].max() > 120 and down["km"].is_monotonic_increasing
    assert np.diff(down["t_s"]).max() < 2.0  # gaps closed
    assert trace.meta.licence == "CC-BY-SA-4.0" and "Laniewski" in trace.meta.attribution
    assert any("share-alike" in n for n in trace.meta.notes)
    assert any("gap" in n for n in trace.meta.notes)
    # longest zero run of the recording survives as an outage of the same length
    runs = (down["outage"] != down["outage"].shift()).cumsum()[down["outage"]].value_counts()
    assert runs.max() == 14
    kept = import_trace("throughput-csv", AUTOBAHN, close_gaps=False).rows("starlink", "down")
    assert np.diff(kept["t_s"]).max() > 2000
    write_trace(trace, tmp_path / "autobahn.parquet")


def test_generic_throughput_csv(tmp_path: Path) -> None:
    path = tmp_path / "tp.csv"
    path.write_text("time,down_mbps,up_mbps\n2025-05-01T08:00:00Z,100,10\n2025-05-01T08:00:01Z,0,0\n"
                    "2025-05-01T08:00:02Z,80.5,9\n")
    trace = import_trace("throughput-csv", path, delay_ms=40, link="oneweb", provider="oneweb")
    down = trace.rows("oneweb", "down")
    assert down["rate_bps"].tolist() == [100_000_000, 100_000_000, 80_500_000]
    assert down["outage"].tolist() == [False, True, False]
    assert (down["delay_ms"] == 40).all()
    assert trace.meta.licence == "unspecified"
    path.write_text("time,down_mbps\n2025-05-01T08:00:00Z,-1\n")
    with pytest.raises(BenchError, match=r"tp.csv:2 column down_mbps"):
        import_trace("throughput-csv", path)


# --- mahimahi ---------------------------------------------------------------------------------

def test_mahimahi_trace(tmp_path: Path) -> None:
    path = tmp_path / "link.down"
    # 12 Mbit/s for 1 s (1000 opportunities), nothing for 1 s, then 2 opportunities per ms for 1 s
    stamps = list(range(1, 1001)) + [t for t in range(2001, 3001) for _ in (0, 1)]
    path.write_text("\n".join(map(str, stamps)) + "\n")
    trace = import_trace("mahimahi", path, delay_ms=20)
    down = trace.rows("wan", "down")
    assert down["rate_bps"].tolist() == [12_000_000, 12_000_000, 24_000_000]
    assert down["outage"].tolist() == [False, True, False]
    assert trace.rows("wan", "up").empty
    fine = import_trace("mahimahi", path, interval_s=0.5).rows("wan", "down")
    assert len(fine) == 6 and fine["outage"].sum() == 2
    path.write_text("1\n2\nx\n")
    with pytest.raises(BenchError, match=r"link.down:3"):
        import_trace("mahimahi", path)
    path.write_text("5\n3\n")
    with pytest.raises(BenchError, match="before the previous one"):
        import_trace("mahimahi", path)


@pytest.mark.parametrize("kind", sorted(IMPORTERS))
def test_every_importer_gives_bench_error_on_binary_garbage(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(BenchError):
        import_trace(kind, path)
