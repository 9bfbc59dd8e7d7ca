"""`skybench trace ...` as a user runs it: import, info, plot, generate, replay (dry run) and the
bad-input paths of replay and verify (one message naming file, row and column; no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import skybench
from tests.traces.conftest import CSV_HEADER, CSV_META, FJORD_2025


def test_import_info_plot_generate(tmp_path: Path) -> None:
    out = tmp_path / "fjord.parquet"
    done = skybench("trace", "import", "starlink-dish", str(FJORD_2025), "-o", str(out), "--rate-down", "200mbit")
    assert done.returncode == 0, done.stderr
    info = json.loads(skybench("trace", "info", str(out), "--json", check=True).stdout)
    assert info["links"]["starlink"]["down"]["rate_bps"]["p50"] == 200e6
    assert info["links"]["starlink"]["down"]["outages"]["count"] == 1
    table = skybench("trace", "info", str(out), check=True).stdout
    assert "starlink" in table and "CC-BY-4.0" in table
    png = tmp_path / "fjord.png"
    skybench("trace", "plot", str(out), "-o", str(png), check=True)
    assert png.read_bytes()[:4] == b"\x89PNG"
    synthetic = tmp_path / "borovoe.parquet"
    skybench("trace", "generate", "astana-borovoe", "--seed", "3", "-o", str(synthetic), check=True)
    assert "SYNTHETIC" in skybench("trace", "info", str(synthetic), check=True).stdout


def test_replay_dry_run_logs_steps(tmp_path: Path) -> None:
    trace = tmp_path / "fjord.parquet"
    skybench("trace", "import", "starlink-dish", str(FJORD_2025), "-o", str(trace), check=True)
    log = tmp_path / "log"
    done = skybench("trace", "replay", str(trace), "--dry-run", "--speed", "600", "--from", "00:01:40",
                    "--to", "400", "--log", str(log), check=True)
    assert "steps applied" in done.stdout and "timing error" in done.stdout
    from bench.traces.steplog import read_step_log

    steps = read_step_log(log)
    assert len(steps) > 60 and steps["trace_t_s"].min() == 100.0 and steps["rows"].max() > 1  # coalesced


def test_bad_input_is_one_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_META + CSV_HEADER + "0,oneweb,down,12.5,0,0,100000000,false\n"
                   "1,oneweb,down,12.5,0,25,100000000,false\n")
    for command in (("trace", "replay", str(bad), "--dry-run"), ("trace", "verify", str(bad)),
                    ("trace", "info", str(bad))):
        done = skybench(*command)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert f"{bad}:7 column loss" in done.stderr and "Traceback" not in done.stderr
    good = tmp_path / "good.csv"
    good.write_text(CSV_META + CSV_HEADER + "0,oneweb,down,12.5,0,0,100000000,false\n")
    done = skybench("trace", "verify", str(good), "--from", "00:10:00")
    assert done.returncode == 2 and "--from 00:10:00.000 is at or after the trace's end" in done.stderr
    done = skybench("trace", "replay", str(good), "--km", "3-9", "--dry-run")
    assert done.returncode == 2 and "no km values" in done.stderr
