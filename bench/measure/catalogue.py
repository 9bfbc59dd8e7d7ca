"""Loading the requirement catalogue: the bench's default, or an operator's file on top of it.

An operator's file says ``base: default`` (the default; its requirements are merged onto the
bench's catalogue per id: a new id is added whole, an existing id has the fields given replaced,
its quantities merged by name, and a quantity's ``limit`` and ``marginal`` replaced as a whole) or
``base: none`` (the file is the whole catalogue). Any problem in either file is ONE
``CatalogueError`` naming the file, the line and the field.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from bench.measure.errors import CatalogueError, CatalogueProblems
from bench.measure.model import Catalogue, CatalogueModel, RequirementId, Text
from bench.yamlfile import FileKind, FileProblem, YamlDocument, check, problems_error, read_text, read_yaml, validate

__all__ = ["CatalogueFile", "DEFAULT_NAME", "default_catalogue", "load_catalogue", "parse_catalogue"]

DEFAULT_NAME = "scenarios/requirements.yaml"
KIND = FileKind(
    noun="requirement catalogue",
    error=CatalogueError,
    problems_error=CatalogueProblems,
    docs_hint="every field of a catalogue and the override rules are described in docs/requirements.md",
)


class CatalogueFile(CatalogueModel):
    """The top level of an operator's file, checked before its requirements are merged."""

    version: Text
    base: Literal["default", "none"] = "default"
    requirements: dict[RequirementId, dict[str, Any]] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def default_catalogue() -> Catalogue:
    """The bench's own catalogue (scenarios/requirements.yaml, shipped with the package)."""
    with resources.as_file(resources.files("scenarios") / "requirements.yaml") as path:
        return _read_default(Path(path))


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """The catalogue a run uses: the default, or the operator's file at ``path`` over it."""
    if path is None:
        return default_catalogue()
    path = Path(path).expanduser()
    return parse_catalogue(read_text(path, KIND), str(path))


def parse_catalogue(text: str, source: str, *, base: Catalogue | None = None) -> Catalogue:
    """An operator's catalogue text (named ``source`` in messages) over ``base`` (the default)."""
    doc = read_yaml(text, source, KIND)
    operator, problems = check(doc, CatalogueFile)
    if operator is None:
        # Go on with what is well formed, so one error lists the requirements' problems as well.
        operator = _well_formed_part(doc.data, problems)
    if operator.base == "none":
        merged: dict[str, Any] = {"version": operator.version, "requirements": operator.requirements}
        sources: tuple[str, ...] = (source,)
    else:
        default = base or default_catalogue()
        merged = _merge(default, operator)
        sources = (*default.sources, source)
    catalogue, more = check(doc, Catalogue, data=merged)
    problems += more[len(doc.walk.problems):]  # the document's own problems are in `problems` already
    if problems or catalogue is None:
        raise problems_error(KIND, source, problems)
    catalogue._sources = sources
    return catalogue


def _well_formed_part(data: Any, problems: list[FileProblem]) -> CatalogueFile:
    """The operator's file without the parts already reported as wrong (so none is reported twice)."""
    top = data if isinstance(data, dict) else {}
    reported = {p.field for p in problems}
    requirements = top.get("requirements")
    requirements = {
        k: v
        for k, v in requirements.items()
        if isinstance(k, str) and isinstance(v, dict) and not any(f == f"requirements.{k}" or f.startswith(f"requirements.{k}.") for f in reported)
    } if isinstance(requirements, dict) else {}
    base = top.get("base") if top.get("base") in ("default", "none") else "default"
    return CatalogueFile.model_construct(version=str(top.get("version", "?")), base=base, requirements=requirements)


def _read_default(path: Path) -> Catalogue:
    doc: YamlDocument = read_yaml(read_text(path, KIND), str(path), KIND)
    catalogue: Catalogue = validate(doc, Catalogue)
    catalogue._sources = (DEFAULT_NAME,)
    return catalogue


def _merge(default: Catalogue, operator: CatalogueFile) -> dict[str, Any]:
    """The default's data with the operator's requirements merged in, per id and per quantity.

    Locations in the result are those of the operator's file for everything it gives, so a
    problem the merge creates is reported at the operator's line for that requirement."""
    requirements = copy.deepcopy(default.model_dump(mode="python", exclude_none=True)["requirements"])
    for req_id, patch in operator.requirements.items():
        current = requirements.get(req_id)
        if current is None:
            requirements[req_id] = patch
            continue
        for field, value in patch.items():
            if field == "quantities" and isinstance(value, dict) and isinstance(current.get("quantities"), dict):
                quantities = current["quantities"]
                for name, quantity in value.items():
                    if isinstance(quantity, dict) and isinstance(quantities.get(name), dict):
                        quantities[name] = {**quantities[name], **quantity}  # limit/marginal: whole
                    else:
                        quantities[name] = quantity
            else:
                current[field] = value
    version = f"{default.version}+{operator.version}"
    return {"version": version, "requirements": requirements}
