"""Synthetic routes: the shipped route files generate traces that hit their calibration targets.

Statistical checks use bounds that a correct generator meets for any seed (Poisson counts within
4 standard deviations, percentiles within 10 %), so they test the model, not one lucky draw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.errors import BenchError
from bench.traces import read_trace, write_trace
from bench.traces.generator import generate, simulate_run
from bench.traces.importers import import_trace
from bench.traces.info import summarize
from bench.traces.route import link_profile, load_calibration, load_route, shipped_routes
from tests.traces.conftest import AUTOBAHN, FJORD_2024, FJORD_2025

ROUTE_IDS = [p.stem for p in shipped_routes()]
SEED = 7


@pytest.fixture(scope="module")
def generated() -> dict[str, object]:
    return {rid: generate(rid, SEED) for rid in ROUTE_IDS}


def test_three_routes_are_shipped() -> None:
    assert set(ROUTE_IDS) == {"astana-almaty", "astana-oskemen", "astana-borovoe"}
    providers = {rid: {lk.provider for lk in load_route(rid).links if not lk.cellular} for rid in ROUTE_IDS}
    assert providers == {"astana-almaty": {"oneweb"}, "astana-oskemen": {"oneweb"}, "astana-borovoe": {"starlink"}}


@pytest.mark.parametrize("route_id", ROUTE_IDS)
def test_run_follows_the_route(route_id: str) -> None:
    route = load_route(route_id)
    run = simulate_run(route)
    assert run.km[0] == 0 and run.km[-1] == route.length_km
    assert np.all(np.diff(run.km) >= 0)
    assert run.speed_kmh.max() <= max(s.speed_kmh for s in route.speed_profile) + 1e-6
    for station in route.stations[1:-1]:  # the train stands at each intermediate station for its dwell
        standing = np.sum(np.isclose(run.km, station.km) & (run.speed_kmh == 0))
        assert standing >= station.dwell_min * 60
    if route_id == "astana-almaty":
        assert 12 * 3600 < run.seconds < 20 * 3600  # an overnight trip


@pytest.mark.parametrize("route_id", ROUTE_IDS)
def test_trace_says_it_is_synthetic_and_is_reproducible(route_id: str, generated, tmp_path: Path) -> None:
    trace = generated[route_id]
    assert trace.meta.source == "synthetic" and trace.meta.seed == SEED and trace.meta.route == route_id
    assert any(n.startswith("SYNTHETIC") for n in trace.meta.notes)
    assert any("estimated route value" in n for n in trace.meta.notes)
    assert any(d.startswith(f"{route_id}.yaml sha256:") for d in trace.meta.derived_from)
    if route_id == "astana-borovoe":
        assert generate(route_id, SEED).meta.content_sha256 == trace.meta.content_sha256
        assert generate(route_id, SEED + 1).meta.content_sha256 != trace.meta.content_sha256
    back = read_trace(write_trace(trace, tmp_path / "t.parquet"))
    assert back.meta.content_sha256 == trace.meta.content_sha256


@pytest.mark.parametrize("route_id", ROUTE_IDS)
def test_rtt_hits_calibration_targets(route_id: str, generated) -> None:
    route = load_route(route_id)
    profiles = load_calibration()
    info = summarize(generated[route_id])
    for link in route.links:
        targets = link_profile(link, profiles, route_id).targets
        rtt = info["links"][link.name]["rtt_ms"]
        assert rtt["p50"] == pytest.approx(targets.rtt_median_ms, rel=0.10), (link.name, rtt)
        assert rtt["p95"] == pytest.approx(targets.rtt_p95_ms, rel=0.10), (link.name, rtt)


def _cause_runs(rows: pd.DataFrame, cause: str, end_s: float) -> np.ndarray:
    """Lengths (s) of consecutive rows with this outage cause."""
    mask = (rows["x_outage_cause"] == cause).to_numpy()
    t = np.append(rows["t_s"].to_numpy(), end_s)
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return np.array([t[b] - t[a] for a, b in zip(edges[0::2], edges[1::2])])


@pytest.mark.parametrize("route_id", ROUTE_IDS)
def test_outage_frequency_and_lengths(route_id: str, generated) -> None:
    route, trace = load_route(route_id), generated[route_id]
    profiles = load_calibration()
    for link in route.links:
        model = link_profile(link, profiles, route_id).outages
        rows = trace.rows(link.name, "down")
        dur = np.diff(np.append(rows["t_s"].to_numpy(), trace.duration_s))
        # random outages may only happen where the link exists (cellular: inside coverage)
        allowed_h = dur[(rows["x_outage_cause"] != "no-coverage").to_numpy()].sum() / 3600
        lengths = _cause_runs(rows, "random", trace.duration_s)
        expected = model.per_hour * allowed_h
        assert abs(len(lengths) - expected) <= 4 * np.sqrt(expected) + 2, (link.name, len(lengths), expected)
        assert lengths.max() <= model.length_max_s * 2 + 1  # two random outages may touch
        if len(lengths) >= 15:
            assert 0.6 < np.median(lengths) / model.length_median_s < 1.6, (link.name, np.median(lengths))


@pytest.mark.parametrize("route_id", ROUTE_IDS)
def test_lte_only_inside_coverage(route_id: str, generated) -> None:
    route, trace = load_route(route_id), generated[route_id]
    rows = trace.rows("lte", "down")
    km = rows["km"].to_numpy()
    inside = np.zeros(len(rows), dtype=bool)
    for seg in route.coverage:
        inside |= (km >= seg.from_km - 0.05) & (km <= seg.to_km + 0.05)
    assert not (~rows["outage"] & ~inside).any()  # never up outside coverage
    assert (~rows["outage"] & inside).mean() > 0.05  # and up for a good share of the covered time
    assert rows.loc[~inside, "x_outage_cause"].eq("no-coverage").all()


@pytest.mark.parametrize("route_id", ROUTE_IDS)
def test_obstructions_block_the_satellite_only(route_id: str, generated) -> None:
    route, trace = load_route(route_id), generated[route_id]
    sat = next(lk.name for lk in route.links if not lk.cellular)
    rows = trace.rows(sat, "down")
    for obstruction in route.obstructions:
        near = (rows["km"] - obstruction.km).abs() <= obstruction.length_m / 2000
        assert rows.loc[near, "outage"].all(), obstruction.name
        assert rows.loc[near, "x_outage_cause"].eq("obstruction").all(), obstruction.name
    assert not trace.rows("lte", "down")["x_outage_cause"].eq("obstruction").any()


def test_starlink_steps_and_bursts_at_reconfiguration_instants(generated) -> None:
    trace = generated["astana-borovoe"]
    rows = trace.rows("starlink", "down")
    whole = rows[(rows["t_s"] % 1 == 0)].reset_index(drop=True)
    second = (trace.meta.start_time.second + whole["t_s"].astype(int)) % 60
    at_instant = second.isin([12, 27, 42, 57]).to_numpy()
    live = ~whole["outage"].to_numpy()
    step = np.abs(np.diff(whole["delay_ms"].to_numpy(), prepend=np.nan))
    both_live = live & np.roll(live, 1)
    assert np.nanmean(step[at_instant & both_live]) > 5 * np.nanmean(step[~at_instant & both_live])
    bursts = live & (whole["loss"].to_numpy() > 0.05)
    assert bursts.sum() > 20 and at_instant[bursts].all()


def test_oneweb_rtt_is_bimodal(generated) -> None:
    rows = generated["astana-almaty"].rows("oneweb", "down")
    rtt = 2 * rows.loc[~rows["outage"], "delay_ms"].to_numpy()
    handover = np.mean(rtt > 95)
    assert 0.04 < handover < 0.2
    assert np.mean((rtt > 75) & (rtt < 95)) < 0.01  # a valley between the two modes


def test_real_recording_shows_the_reconfiguration_structure() -> None:
    """The structure the Starlink model is built on is in the real dish dumps too."""
    for path in (FJORD_2024, FJORD_2025):
        source = pd.read_parquet(path)
        second = pd.to_datetime(source["@timestamp"], format="mixed", utc=True).dt.second.to_numpy()
        lossy = source["dish_status.pop_ping_drop_rate"].to_numpy() > 0
        # the dish reports a second after it ends: bursts fall within 4 s after :12 :27 :42 :57
        near = np.isin(second % 15, [12, 13, 14, 0, 1])
        assert near[lossy].mean() > 0.45  # a third would be chance


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, side="right") / len(a)
                                - np.searchsorted(b, grid, side="right") / len(b))))


@pytest.mark.parametrize("path", [FJORD_2024, FJORD_2025], ids=["2024-12-12", "2025-01-30"])
def test_synthetic_starlink_is_comparable_with_a_real_dump(path: Path, generated) -> None:
    recorded = import_trace("starlink-dish", path)
    rec_info = summarize(recorded)["links"]["starlink"]
    rec_rows = recorded.rows("starlink", "down")
    rec_rtt = 2 * rec_rows.loc[~rec_rows["outage"], "delay_ms"].to_numpy()
    # 1. the default (moving-train) calibration is the same kind of link: RTT percentiles within a
    #    factor of 2 of a slow ship's in a fjord, the train's being the higher
    default = summarize(generated["astana-borovoe"])["links"]["starlink"]
    for q in ("p50", "p95"):
        assert 1.0 <= default["rtt_ms"][q] / rec_info["rtt_ms"][q] < 2.0, q
    # 2. calibrated to the dump's median and p95 only, the model reproduces its whole distribution
    route = load_route("astana-borovoe")
    route.links[0].calibration = {"rtt": {"median_ms": rec_info["rtt_ms"]["p50"],
                                          "p95_ms": rec_info["rtt_ms"]["p95"], "floor_ms": 20.0}}
    fitted = generate(route, SEED)
    rows = fitted.rows("starlink", "down")
    rows = rows[~rows["outage"] & (rows["t_s"] % 1 == 0)]
    assert _ks(rec_rtt, 2 * rows["delay_ms"].to_numpy()) < 0.2
    p99 = summarize(fitted)["links"]["starlink"]["rtt_ms"]["p99"]
    assert p99 == pytest.approx(rec_info["rtt_ms"]["p99"], rel=0.15)  # p99 was not fitted


def test_user_route_file_errors_name_the_field(tmp_path: Path) -> None:
    text = (Path(shipped_routes()[0])).read_text()
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("speed_kmh: 100", "speed_kmh: -5", 1))
    with pytest.raises(BenchError, match="speed_profile.1.speed_kmh"):
        load_route(path)
    path.write_text(text.replace("profile: oneweb", "profile: iridium", 1))
    with pytest.raises(BenchError, match="unknown calibration profile 'iridium'"):
        generate(path, 1)
    path.write_text(text.replace("km: 214", "km: 2140", 1))
    with pytest.raises(BenchError, match="km must increase"):
        load_route(path)
    with pytest.raises(BenchError, match="route file not found"):
        load_route(tmp_path / "nope.yaml")


def test_synthetic_starlink_rate_is_comparable_with_the_motorway_recording(generated) -> None:
    recorded = summarize(import_trace("throughput-csv", AUTOBAHN))["links"]["starlink"]
    synthetic = summarize(generated["astana-borovoe"])["links"]["starlink"]
    for direction in ("down", "up"):
        for q in ("p50", "p95"):
            assert synthetic[direction]["rate_bps"][q] == pytest.approx(recorded[direction]["rate_bps"][q],
                                                                        rel=0.2), (direction, q)
