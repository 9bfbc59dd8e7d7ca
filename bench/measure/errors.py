"""Errors of the requirements-and-measurements machinery (each says what, where and how to fix)."""

from __future__ import annotations

import difflib
from typing import Any

from bench.errors import BenchError
from bench.yamlfile import FileProblems


class CatalogueError(BenchError):
    """A requirement catalogue file is malformed (located at FILE:LINE: FIELD)."""


class CatalogueProblems(CatalogueError, FileProblems):
    """Every problem found in one catalogue file, reported together."""


class MeasurementError(BenchError):
    """A test recorded a measurement the catalogue cannot judge (wrong id, quantity or units)."""


class UnknownRequirement(MeasurementError):
    """A requirement id that is not in the catalogue."""

    def __init__(self, req_id: str, catalogue: Any) -> None:
        known = list(catalogue.requirements)
        close = difflib.get_close_matches(req_id, known, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        sources = ", ".join(catalogue.sources) or "the default catalogue"
        super().__init__(
            f"requirement {req_id!r} is not in the catalogue{hint}",
            where=sources,
            fix=f"use one of: {', '.join(known)}; or add it to your catalogue file (docs/requirements.md)",
        )
