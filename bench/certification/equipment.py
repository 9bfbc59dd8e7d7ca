"""The equipment profile (vendor.yaml): what is being certified. Read like the lab file: every
problem is ONE located error (FILE:LINE: field: what is wrong; allowed: ...), never a traceback.

    vendor: ACME Rail
    model: TrainRouter R1
    serial: R1-000123
    firmware: 2.4.1
    wans:
      - {name: oneweb, kind: satellite, terminal: Kymeta u8}
      - {name: starlink, kind: satellite, terminal: Flat High Performance}
      - {name: lte, kind: cellular, terminal: Sierra MG90}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bench.errors import BenchError
from bench.yamlfile import FileKind, FileProblems, field_homes, read_text, read_yaml, validate

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DOCS_HINT = "the equipment profile's fields are described in scenarios/certification/README.md"


class EquipmentFileError(BenchError):
    """The equipment profile cannot be read or parsed."""


class EquipmentProblems(EquipmentFileError, FileProblems):
    """Every located problem of one equipment profile."""


class EquipmentWan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = Field(description="the lab WAN it uses")
    kind: Literal["satellite", "cellular", "wired"]
    terminal: Text = Field(description="the terminal or modem, e.g. 'Starlink Flat High Performance'")


class EquipmentProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vendor: Text
    model: Text
    serial: Text
    firmware: Text
    wans: list[EquipmentWan] = Field(min_length=1)

    @field_validator("firmware", "serial", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: object) -> object:
        # 'firmware: 2.4' is read by YAML as a number; a version is text
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @field_validator("wans")
    @classmethod
    def _unique_wans(cls, wans: list[EquipmentWan]) -> list[EquipmentWan]:
        names = [w.name for w in wans]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"WAN {', '.join(twice)} listed twice; list each WAN once")
        return wans

    def wan_lines(self) -> list[str]:
        return [f"{w.name} ({w.kind}): {w.terminal}" for w in self.wans]


EQUIPMENT_FILE = FileKind(
    noun="equipment profile",
    error=EquipmentFileError,
    problems_error=EquipmentProblems,
    docs_hint=DOCS_HINT,
    empty_fix="write vendor, model, serial, firmware and wans; see scenarios/certification/README.md",
    field_homes=field_homes(EquipmentProfile),
)


def load_equipment(path: Path | str) -> EquipmentProfile:
    """Read and validate an equipment profile: the model, or one located error."""
    path = Path(path).expanduser()
    doc = read_yaml(read_text(path, EQUIPMENT_FILE), str(path), EQUIPMENT_FILE)
    profile: EquipmentProfile = validate(doc, EquipmentProfile)
    return profile
