"""Load profiles: which user classes, in what mix, with what think times (YAML files).

    name: day-peak
    description: streaming-heavy daytime
    classes:
      browsing: {weight: 30, wait_s: [5, 30]}
      video:    {weight: 30, wait_s: [5, 20], options: {session_s: 60}}
      pos:      {count: 4, wait_s: [20, 60]}        # a fixed number of devices, not a share

Profiles live in loadgen/profiles/<name>.yaml; a path to another file works too. Unknown
fields, classes and options are refused with the file, the field and what would be accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.errors import BenchError

PROFILE_DIR = Path(__file__).with_name("profiles")


class ClassMix(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: Annotated[int, Field(ge=0)] | None = None  # share of the users
    count: Annotated[int, Field(ge=0)] | None = None  # or a fixed number of them
    wait_s: tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]] = (5.0, 15.0)  # think time between tasks
    options: dict[str, Any] = {}

    @model_validator(mode="after")
    def _one_of(self) -> ClassMix:
        if (self.weight is None) == (self.count is None):
            raise ValueError("give either weight (a share of the users) or count (a fixed number), not both or neither")
        if self.wait_s[0] > self.wait_s[1]:
            raise ValueError("wait_s is [shortest, longest]")
        return self


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    classes: dict[str, ClassMix]

    def fixed_users(self) -> int:
        return sum(m.count or 0 for m in self.classes.values())


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (loadgen/profiles/<name>.yaml) or path; classes checked against the
    known user classes and their options."""
    from loadgen.users import USER_CLASSES

    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise BenchError(f"no load profile {str(name_or_path)!r}", where=str(path),
                         fix=f"use one of: {', '.join(available_profiles())}, or a path to a profile YAML file")
    try:
        profile = Profile.model_validate(yaml.safe_load(path.read_text()) or {})
    except yaml.YAMLError as exc:
        raise BenchError(f"not valid YAML: {exc}", where=str(path)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BenchError(f"{field}: {first['msg']}", where=str(path), fix="see docs/loadgen.md for the profile format") from None
    for cls_name, mix in profile.classes.items():
        if cls_name not in USER_CLASSES:
            raise BenchError(f"classes.{cls_name}: unknown user class", where=str(path),
                             fix=f"use one of: {', '.join(sorted(USER_CLASSES))}")
        allowed = USER_CLASSES[cls_name].option_defaults
        unknown = sorted(set(mix.options) - set(allowed))
        if unknown:
            raise BenchError(f"classes.{cls_name}.options: unknown option(s) {', '.join(unknown)}", where=str(path),
                             fix=f"{cls_name} takes: {', '.join(sorted(allowed)) or 'no options'}")
    return profile
