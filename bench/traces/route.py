"""Route descriptions (YAML) and link calibration profiles, as validated models.

A route file says where the train goes and what it meets: stations (km, dwell), a speed profile,
cellular coverage segments, obstruction points (bridges, station canopies) and the links it
carries. Any value that is not a published fact carries `estimated: true` (or the route lists it
under `estimated:`), and the generated trace's metadata repeats that. Users add a route by
writing a file; `load_route(path)` checks it and names the field of any mistake.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.errors import BenchError

ROUTES_DIR = Path(__file__).with_name("routes")
CALIBRATION_FILE = Path(__file__).with_name("calibration.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- calibration profiles ----------------------------------------------------------------------

class RttSlots(_Strict):
    kind: Literal["slots"]
    floor_ms: float = Field(ge=0)
    median_ms: float = Field(gt=0)
    p95_ms: float = Field(gt=0)
    noise_ms: float = Field(ge=0)
    slot_instants_s: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> RttSlots:
        if not self.floor_ms < self.median_ms < self.p95_ms:
            raise ValueError("need floor_ms < median_ms < p95_ms")
        if any(not 0 <= s < 60 for s in self.slot_instants_s):
            raise ValueError("slot_instants_s are seconds past the minute, 0-59")
        return self


class RttModes(_Strict):
    kind: Literal["modes"]
    normal_ms: float = Field(gt=0)
    normal_sd_ms: float = Field(ge=0)
    handover_ms: float = Field(gt=0)
    handover_sd_ms: float = Field(ge=0)
    normal_mean_s: float = Field(gt=0)
    handover_mean_s: float = Field(gt=0)
    floor_ms: float = Field(ge=0)


class RttNoise(_Strict):
    kind: Literal["noise"]
    floor_ms: float = Field(ge=0)
    median_ms: float = Field(gt=0)
    p95_ms: float = Field(gt=0)
    corr_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> RttNoise:
        if not self.floor_ms < self.median_ms < self.p95_ms:
            raise ValueError("need floor_ms < median_ms < p95_ms")
        return self


class LossModel(_Strict):
    base: float = Field(ge=0, le=1)
    burst_at_slots: bool = False
    burst_probability: float = Field(ge=0, le=1)
    burst_loss: float = Field(ge=0, le=1)
    burst_pkts: float = Field(ge=1)


class RateModel(_Strict):
    down_median_bps: float = Field(gt=0)
    down_p5_bps: float = Field(gt=0)
    up_median_bps: float = Field(gt=0)
    up_p5_bps: float = Field(gt=0)
    max_down_bps: float | None = Field(default=None, gt=0)
    max_up_bps: float | None = Field(default=None, gt=0)
    corr_s: float = Field(gt=0)


class OutageModel(_Strict):
    per_hour: float = Field(ge=0)
    length_median_s: float = Field(gt=0)
    length_sigma: float = Field(ge=0)
    length_max_s: float = Field(gt=0)
    align_to_slots: bool = False


class Targets(_Strict):
    rtt_median_ms: float = Field(gt=0)
    rtt_p95_ms: float = Field(gt=0)


class LinkProfile(_Strict):
    technology: Literal["leo-satellite", "geo-satellite", "cellular", "other"]
    rtt: Annotated[RttSlots | RttModes | RttNoise, Field(discriminator="kind")]
    jitter_ms: float = Field(ge=0)
    loss: LossModel
    rate: RateModel
    outages: OutageModel
    reacquire_s: float = Field(ge=0)
    targets: Targets
    sources: list[str] = Field(default_factory=list)


# --- route description -------------------------------------------------------------------------

class Station(_Strict):
    name: str
    km: float = Field(ge=0)
    dwell_min: float = Field(default=0.0, ge=0)
    canopy: bool = Field(default=False, description="a roof over the platform: satellites blocked while under it")
    estimated: bool = False


class SpeedSegment(_Strict):
    from_km: float = Field(ge=0)
    to_km: float = Field(gt=0)
    speed_kmh: float = Field(gt=0, le=400)
    estimated: bool = False


class CoverageSegment(_Strict):
    from_km: float = Field(ge=0)
    to_km: float = Field(gt=0)
    note: str = ""
    estimated: bool = False


class Obstruction(_Strict):
    km: float = Field(ge=0)
    length_m: float = Field(gt=0)
    kind: Literal["bridge", "canopy", "tunnel", "cutting", "other"]
    name: str = ""
    estimated: bool = False


class RouteLink(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    provider: str
    profile: str = Field(description="calibration profile name (starlink, oneweb, lte)")
    cellular: bool = Field(default=False, description="present only inside coverage segments")
    calibration: dict[str, Any] = Field(default_factory=dict, description="overrides of the profile")


class Route(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    description: str = ""
    time_zone: str = "Asia/Almaty"
    departure: AwareDatetime
    departure_estimated: bool = False
    accel_ms2: float = Field(default=0.4, gt=0, le=3, description="acceleration and braking, m/s^2")
    stations: list[Station] = Field(min_length=2)
    speed_profile: list[SpeedSegment] = Field(min_length=1)
    coverage: list[CoverageSegment] = Field(default_factory=list)
    obstructions: list[Obstruction] = Field(default_factory=list)
    links: list[RouteLink] = Field(min_length=1)
    sources: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Route:
        kms = [s.km for s in self.stations]
        if kms[0] != 0 or any(b <= a for a, b in zip(kms, kms[1:])):
            raise ValueError("stations must start at km 0 and their km must increase")
        end = kms[-1]
        covered = 0.0
        for seg in sorted(self.speed_profile, key=lambda s: s.from_km):
            if seg.to_km <= seg.from_km:
                raise ValueError(f"speed segment {seg.from_km}-{seg.to_km} km: to_km must exceed from_km")
            if abs(seg.from_km - covered) > 1e-6:
                raise ValueError(f"speed profile has a gap or overlap at km {covered}")
            covered = seg.to_km
        if covered < end:
            raise ValueError(f"speed profile ends at km {covered}, before the last station (km {end})")
        for seg in self.coverage:
            if seg.to_km <= seg.from_km:
                raise ValueError(f"coverage segment {seg.from_km}-{seg.to_km} km: to_km must exceed from_km")
        names = [link.name for link in self.links]
        if len(set(names)) != len(names):
            raise ValueError("link names must be unique")
        return self

    @property
    def length_km(self) -> float:
        return self.stations[-1].km

    def speed_at(self, km: float) -> float:
        for seg in self.speed_profile:
            if seg.from_km <= km < seg.to_km:
                return seg.speed_kmh
        return self.speed_profile[-1].speed_kmh

    def estimated_items(self) -> list[str]:
        """Human-readable list of every value marked as an estimate."""
        items = ["departure time"] if self.departure_estimated else []
        items += [f"station {s.name} (km {s.km})" for s in self.stations if s.estimated]
        items += [f"speed {s.speed_kmh} km/h km {s.from_km}-{s.to_km}" for s in self.speed_profile if s.estimated]
        items += [f"coverage km {c.from_km}-{c.to_km}" for c in self.coverage if c.estimated]
        items += [f"{o.kind} {o.name} km {o.km}".replace("  ", " ") for o in self.obstructions if o.estimated]
        return items


def load_calibration(path: Path = CALIBRATION_FILE) -> dict[str, LinkProfile]:
    raw = _load_yaml(path)
    profiles = raw.get("profiles") if isinstance(raw, dict) else None
    if not isinstance(profiles, dict):
        raise BenchError("no 'profiles:' mapping", where=str(path), fix="see bench/traces/calibration.yaml")
    return {name: _validate(LinkProfile, body, f"{path} profiles.{name}") for name, body in profiles.items()}


def link_profile(link: RouteLink, profiles: dict[str, LinkProfile], where: str) -> LinkProfile:
    """The link's calibration: its profile with the route's overrides merged in (nested keys)."""
    if link.profile not in profiles:
        raise BenchError(f"unknown calibration profile {link.profile!r}", where=f"{where} links.{link.name}.profile",
                         fix=f"use one of: {', '.join(sorted(profiles))}")
    merged = _merge(profiles[link.profile].model_dump(), link.calibration)
    return _validate(LinkProfile, merged, f"{where} links.{link.name}.calibration")


def load_route(path: str | Path) -> Route:
    """Read a route file (a path, or the id of a route shipped in bench/traces/routes/)."""
    path = Path(path)
    if not path.exists() and not path.suffix:
        shipped = ROUTES_DIR / f"{path.name}.yaml"
        if shipped.exists():
            path = shipped
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ROUTES_DIR.glob("*.yaml")))
        raise BenchError("route file not found", where=str(path), fix=f"give a route file path or one of: {known}")
    return _validate(Route, _load_yaml(path), str(path))


def shipped_routes() -> list[Path]:
    return sorted(ROUTES_DIR.glob("*.yaml"))


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise BenchError(f"not valid YAML: {getattr(exc, 'problem', exc)}", where=f"{path}{line}",
                         fix="fix the YAML syntax") from None


def _validate(model: type[BaseModel], raw: Any, where: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BenchError(f"{field}: {first['msg']}", where=f"{where} {field}",
                         fix="correct the field (see docs/traces.md for the route and calibration format)") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
