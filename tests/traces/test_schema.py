"""The trace format: round trips, canonical form, and one clear error per kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.errors import BenchError
from bench.traces import read_trace, write_trace
from bench.traces.schema import content_hash
from tests.traces.conftest import CSV_HEADER, CSV_META, CSV_ROWS, small_trace


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip_keeps_table_meta_and_hash(tmp_path: Path, suffix: str) -> None:
    trace = small_trace()
    back = read_trace(write_trace(trace, tmp_path / f"t{suffix}"))
    pd.testing.assert_frame_equal(back.table, trace.table)
    assert back.meta == trace.meta
    assert back.meta.content_sha256 == content_hash(trace.table)


def test_hand_written_csv_reads_and_is_sorted(write_csv) -> None:
    lines = CSV_ROWS.splitlines(keepends=True)
    # links listed one after the other (down rows first, then up rows) is fine: order is per link
    body = CSV_HEADER + "".join(lines[0::2]) + "".join(lines[1::2])
    trace = read_trace(write_csv(body))
    assert list(trace.table["t_s"]) == [0, 0, 1, 1, 2, 2]
    assert list(trace.table["direction"]) == ["down", "up"] * 3
    assert trace.table["outage"].tolist() == [False, False, False, False, True, True]
    assert trace.table["rate_bps"].iloc[0] == 200_000_000
    assert trace.meta.source == "recorded" and trace.meta.time_zone == "Europe/Berlin"


def test_empty_rate_means_unlimited(write_csv) -> None:
    trace = read_trace(write_csv(CSV_HEADER + "0,lte,down,30,0,0,,false\n"))
    assert pd.isna(trace.table["rate_bps"].iloc[0])


def test_sidecar_metadata(tmp_path: Path) -> None:
    (tmp_path / "trip.meta.yaml").write_text(CSV_META.replace("# ", ""))
    (tmp_path / "trip.csv").write_text(CSV_HEADER + CSV_ROWS)
    assert read_trace(tmp_path / "trip.csv").meta.licence == "own measurement"


def _bad_row(row_index: int, column: str, value: str) -> str:
    lines = CSV_ROWS.splitlines()
    fields = lines[row_index].split(",")
    fields[CSV_HEADER.strip().split(",").index(column)] = value
    lines[row_index] = ",".join(fields)
    return CSV_HEADER + "\n".join(lines) + "\n"


META_LINES = len(CSV_META.splitlines())


@pytest.mark.parametrize(("row", "column", "value", "expect"), [
    (2, "delay_ms", "-3", "delay_ms is -3.0: expected one-way delay"),
    (3, "loss", "1.5", "loss fraction from 0 to 1"),
    (3, "loss", "25", "loss fraction from 0 to 1"),
    (4, "delay_ms", "", "empty, NaN or infinite"),
    (4, "delay_ms", "nan", "empty, NaN or infinite"),
    (1, "jitter_ms", "abc", "expected a number"),
    (5, "rate_bps", "0", "whole number of bit/s > 0"),
    (5, "rate_bps", "1.5", "whole number of bit/s > 0"),
    (0, "outage", "maybe", "true or false"),
    (0, "direction", "sideways", "'down' or 'up'"),
    (0, "link", "Star Link", "link name"),
    (2, "t_s", "0", "duplicate time for link starlink down"),
    (4, "t_s", "0.5", "unsorted time for link starlink down"),
])
def test_bad_cell_names_file_line_and_column(write_csv, row: int, column: str, value: str, expect: str) -> None:
    path = write_csv(_bad_row(row, column, value))
    with pytest.raises(BenchError) as err:
        read_trace(path)
    line = META_LINES + 1 + row + 1  # comment lines, header, 1-based row
    assert f"{path}:{line} column {column}" in str(err.value)
    assert expect in str(err.value)


@pytest.mark.parametrize(("header", "expect"), [
    ("t_s,link,direction,delay_s,loss,rate_bps,outage", "wrong unit or name: expected delay_ms"),
    ("t_s,link,direction,delay_ms,loss_pct,rate_bps,outage", "expected loss"),
    ("t_s,link,direction,delay_ms,loss,rate_mbps,outage", "expected rate_bps"),
    ("t_s,link,direction,delay_ms,loss,rate_bps,outage,colour", "unknown column colour"),
    ("t_s,link,direction,delay_ms,loss,outage", "missing required column rate_bps"),
    ("t_s,link,direction,delay_ms,delay_ms,loss,rate_bps,outage", "appears twice"),
])
def test_bad_columns(write_csv, header: str, expect: str) -> None:
    n = len(header.split(","))
    path = write_csv(header + "\n" + ",".join(["0", "starlink", "down"] + ["1"] * (n - 3)) + "\n")
    with pytest.raises(BenchError, match=expect) as err:
        read_trace(path)
    assert str(path) in str(err.value)


def test_extra_columns_are_kept(write_csv) -> None:
    body = CSV_HEADER.strip() + ",x_carried_bps\n" + "".join(
        line + ",1234\n" for line in CSV_ROWS.splitlines())
    trace = read_trace(write_csv(body))
    assert trace.table["x_carried_bps"].eq(1234.0).all()


def test_csv_from_another_tool_is_pointed_to_import(tmp_path: Path) -> None:
    path = tmp_path / "ping.csv"
    path.write_text(CSV_META + "time,rtt_ms\n1700000000.0,31.2\n")
    with pytest.raises(BenchError, match="skybench trace import") as err:
        read_trace(path)
    assert "not a skybench trace: its columns are time, rtt_ms" in str(err.value)


def test_csv_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(CSV_HEADER + CSV_ROWS)
    with pytest.raises(BenchError, match="no trace metadata"):
        read_trace(path)


@pytest.mark.parametrize(("meta", "expect"), [
    (CSV_META.replace("2025-01-30T18:02:49+01:00", "2025-01-30T18:02:49"), "metadata field start_time"),
    (CSV_META.replace("recorded", "measured"), "metadata field source"),
    (CSV_META.replace("Europe/Berlin", "Mars/Olympus"), "metadata field time_zone"),
    (CSV_META + "# licence_typo: x\n", "metadata field licence_typo"),
    (CSV_META + "# : : [\n", "not valid YAML"),
])
def test_bad_metadata(write_csv, meta: str, expect: str) -> None:
    with pytest.raises(BenchError, match=expect):
        read_trace(write_csv(CSV_HEADER + CSV_ROWS, meta=meta))


def test_empty_files(tmp_path: Path, write_csv) -> None:
    (tmp_path / "e.parquet").write_bytes(b"")
    with pytest.raises(BenchError, match="empty"):
        read_trace(tmp_path / "e.parquet")
    with pytest.raises(BenchError, match="no header row"):
        read_trace(write_csv(""))
    with pytest.raises(BenchError, match="no rows"):
        read_trace(write_csv(CSV_HEADER))


def test_truncated_parquet(tmp_path: Path) -> None:
    good = write_trace(small_trace(), tmp_path / "t.parquet").read_bytes()
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(BenchError, match="not a readable Parquet file") as err:
        read_trace(bad)
    assert str(bad) in str(err.value)


def test_parquet_edited_outside_is_caught_by_hash(tmp_path: Path) -> None:
    path = write_trace(small_trace(), tmp_path / "t.parquet")
    table = pq.read_table(path)
    frame = table.to_pandas()
    frame.loc[3, "delay_ms"] = 99.0
    import pyarrow as pa
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(table.schema.metadata),
                   path)
    with pytest.raises(BenchError, match="content_sha256"):
        read_trace(path)


def test_foreign_parquet_is_pointed_to_import(tmp_path: Path) -> None:
    path = tmp_path / "dish.parquet"
    pd.DataFrame({"dish_status.pop_ping_latency_ms": [25.0]}).to_parquet(path)
    with pytest.raises(BenchError, match="trace import"):
        read_trace(path)


def test_parquet_metadata_is_json(tmp_path: Path) -> None:
    path = write_trace(small_trace(), tmp_path / "t.parquet")
    meta = json.loads(pq.read_schema(path).metadata[b"skybench.trace"])
    assert meta["source"] == "synthetic" and len(meta["content_sha256"]) == 64
