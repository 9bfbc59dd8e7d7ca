"""The requirement catalogue's schema: requirements, the quantities they measure, limits, bands.

A requirement (``FO-1``) measures one or more named quantities (``detection``, ``switch``), each
with its units, a limit (exactly one of min / max / range / equals) and an optional marginal band
on the passing side of the limit. Cross-field problems are reported with the lab model's
``raise_problems`` so the YAML loader can point at the line of the offending field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, Strict, field_validator, model_validator

from bench.lab.model import Problem, raise_problems
from bench.measure.errors import MeasurementError, UnknownRequirement
from bench.measure.units import Unit, dimension, format_value
from scenarios import SUITES

_REQUIREMENT_ID = re.compile(r"[A-Z][A-Z0-9]{0,9}-[0-9]{1,3}")
_QUANTITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _check_requirement_id(value: str) -> str:
    if not _REQUIREMENT_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a requirement id; write capitals, a dash and a number, e.g. FO-1 or ACME-12")
    return value


def _check_quantity_name(value: str) -> str:
    if not _QUANTITY_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a quantity name; use lower-case letters, digits and '_', e.g. detection")
    return value


RequirementId = Annotated[str, AfterValidator(_check_requirement_id)]
QuantityName = Annotated[str, AfterValidator(_check_quantity_name)]
Text = Annotated[str, Field(min_length=1)]


class CatalogueModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limit(CatalogueModel):
    """Exactly one of: ``min`` (value >= min), ``max`` (value <= max), ``range: [low, high]``
    (low <= value <= high), ``equals`` (counts and truths only)."""

    min: float | None = None
    max: float | None = None
    range: tuple[float, float] | None = None
    equals: Annotated[bool, Strict()] | float | None = Field(default=None, union_mode="left_to_right")

    @model_validator(mode="after")
    def _exactly_one(self) -> Limit:
        given = [name for name in ("min", "max", "range", "equals") if getattr(self, name) is not None]
        if len(given) != 1:
            got = f"got {' and '.join(given)}" if given else "got none"
            raise_problems([Problem((), f"give exactly one of min, max, range, equals ({got})")])
        if self.range is not None and not self.range[0] < self.range[1]:
            raise_problems([Problem(("range",), f"the range's low end must be below its high end, got [{self.range[0]:g}, {self.range[1]:g}]")])
        return self

    @property
    def kind(self) -> Literal["min", "max", "range", "equals"]:
        if self.min is not None:
            return "min"
        if self.max is not None:
            return "max"
        return "range" if self.range is not None else "equals"

    @property
    def low(self) -> float | None:
        """The lowest passing value (None: unbounded)."""
        if self.kind == "equals":
            return float(self.equals)  # type: ignore[arg-type]
        return self.min if self.kind == "min" else (self.range[0] if self.range else None)

    @property
    def high(self) -> float | None:
        """The highest passing value (None: unbounded)."""
        if self.kind == "equals":
            return float(self.equals)  # type: ignore[arg-type]
        return self.max if self.kind == "max" else (self.range[1] if self.range else None)

    def describe(self, units: str) -> str:
        """'<= 5 s', '>= 95 %', 'in [-10 %, 10 %]', '= 0', '= true'."""
        if self.kind == "min":
            return f">= {format_value(self.min, units)}"  # type: ignore[arg-type]
        if self.kind == "max":
            return f"<= {format_value(self.max, units)}"  # type: ignore[arg-type]
        if self.kind == "range":
            low, high = self.range  # type: ignore[misc]
            return f"in [{format_value(low, units)}, {format_value(high, units)}]"
        return f"= {format_value(float(self.equals), units)}"  # type: ignore[arg-type]


class Marginal(CatalogueModel):
    """A band on the passing side of the limit where a value passes but is flagged 'marginal':
    ``within`` (in the quantity's units) or ``within_percent`` (of the limit's value)."""

    within: float | None = Field(default=None, gt=0)
    within_percent: float | None = Field(default=None, gt=0, lt=100)

    @model_validator(mode="after")
    def _exactly_one(self) -> Marginal:
        if (self.within is None) == (self.within_percent is None):
            raise_problems([Problem((), "give exactly one of within (in the quantity's units) or within_percent (of the limit)")])
        return self

    def width(self, bound: float) -> float:
        """The band's width next to a limit at ``bound``, in the quantity's units."""
        if self.within is not None:
            return self.within
        return abs(bound) * self.within_percent / 100  # type: ignore[operator]

    def describe(self, units: str) -> str:
        if self.within is not None:
            if units == "%":  # 'within 2 % of the limit' would read as relative
                return f"within {self.within:g} percentage points of the limit"
            return f"within {format_value(self.within, units)} of the limit"
        return f"within {self.within_percent:g} % of the limit"


class Quantity(CatalogueModel):
    """One measured quantity of a requirement."""

    title: Text
    units: Unit
    limit: Limit
    marginal: Marginal | None = None

    @model_validator(mode="after")
    def _limit_fits_units(self) -> Quantity:
        problems: list[Problem] = []
        kind = self.limit.kind
        if self.units == "bool":
            if kind != "equals" or not isinstance(self.limit.equals, bool):
                problems.append(Problem(("limit",), "a quantity in bool needs 'equals: true' or 'equals: false'"))
        elif kind == "equals":
            if dimension(self.units) != "count":
                problems.append(Problem(("limit", "equals"), f"equals is for counts and bools; for a quantity in {self.units} use min, max or range"))
            elif isinstance(self.limit.equals, bool) or not float(self.limit.equals).is_integer():  # type: ignore[arg-type]
                problems.append(Problem(("limit", "equals"), f"a count limit must be a whole number, got {self.limit.equals!r}"))
        if self.marginal is not None and kind == "equals":
            problems.append(Problem(("marginal",), "a limit given by equals has no marginal band: a value is equal or it is not"))
        raise_problems(problems)
        return self


class Requirement(CatalogueModel):
    """One requirement: what is required, how it is measured, and which suites measure it."""

    title: Text
    method: Text
    suites: list[str] = Field(min_length=1)
    quantities: dict[QuantityName, Quantity] = Field(min_length=1)

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, suites: list[str]) -> list[str]:
        unknown = [s for s in suites if s not in SUITES]
        if unknown:
            raise ValueError(f"unknown suite {', '.join(map(repr, unknown))}; allowed: {', '.join(SUITES)}")
        return suites


class Catalogue(CatalogueModel):
    """The requirement catalogue: a version and the requirements by id."""

    version: Text
    requirements: dict[RequirementId, Requirement] = Field(min_length=1)
    _sources: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # 'version: 3' or 'version: 2025.1' read as numbers by YAML; a version is text.
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @property
    def sources(self) -> tuple[str, ...]:
        """The files this catalogue was read from, default first."""
        return self._sources

    def requirement(self, req_id: str) -> Requirement:
        if req_id not in self.requirements:
            raise UnknownRequirement(req_id, self)
        return self.requirements[req_id]

    def quantity(self, req_id: str, name: str | None = None) -> tuple[str, Quantity]:
        """The named quantity of a requirement (the only one when ``name`` is None)."""
        requirement = self.requirement(req_id)
        if name is None:
            if len(requirement.quantities) == 1:
                return next(iter(requirement.quantities.items()))
            raise MeasurementError(
                f"{req_id} measures several quantities ({', '.join(requirement.quantities)}): say which",
                fix=f"pass quantity=..., e.g. measure({req_id!r}, value, units=..., quantity={next(iter(requirement.quantities))!r})",
            )
        if name not in requirement.quantities:
            raise MeasurementError(
                f"{req_id} has no quantity {name!r}",
                fix=f"use one of: {', '.join(requirement.quantities)} (see the catalogue: {', '.join(self.sources) or 'default'})",
            )
        return name, requirement.quantities[name]

    def for_suite(self, suite: str) -> list[str]:
        return [req_id for req_id, req in self.requirements.items() if suite in req.suites]
