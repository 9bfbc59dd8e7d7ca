"""Two runs of the same suite side by side, measurement by measurement: the same verdict, and each
value within its requirement's marginal band of the other run's. What shows that two labs (the
embedded lab and a hardware lab around the same router, say) judge a DUT alike.

    rows = compare_runs(Path("results/embedded-run"), Path("results/black-box-run"))
    skybench report compare RUN_A RUN_B

Measurements are paired by test, requirement, quantity and their order within the test. The band
is the requirement's marginal band at its limit (a quantity without one, a count or a yes/no,
must be equal).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.measure.catalogue import load_catalogue
from bench.measure.model import Catalogue
from bench.measure.store import load_measurements

Key = tuple[str, str, str, int]  # test, requirement, quantity, n-th in the test


@dataclass(frozen=True)
class Pair:
    test: str
    requirement: str
    quantity: str
    index: int
    units: str
    a_value: float | None
    a_verdict: str | None
    b_value: float | None
    b_verdict: str | None
    band: float  # the allowed difference, in the quantity's units

    @property
    def same_verdict(self) -> bool:
        return self.a_verdict == self.b_verdict

    @property
    def difference(self) -> float | None:
        return None if self.a_value is None or self.b_value is None else self.b_value - self.a_value

    @property
    def within_band(self) -> bool:
        return self.difference is not None and abs(self.difference) <= self.band + 1e-9

    @property
    def agrees(self) -> bool:
        return self.same_verdict and self.within_band


def _keyed(frame: Any) -> dict[Key, Any]:
    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    out: dict[Key, Any] = {}
    for row in frame.itertuples():
        base = (str(row.test).split("::", 1)[-1], row.requirement, row.quantity)
        out[(*base, seen[base])] = row
        seen[base] += 1
    return out


def band_of(catalogue: Catalogue, requirement: str, quantity: str) -> float:
    """The marginal band's width at the limit (0 when the quantity has none)."""
    try:
        _, spec = catalogue.quantity(requirement, quantity)
    except (KeyError, BenchError):
        return 0.0
    if spec.marginal is None:
        return 0.0
    bound = spec.limit.high if spec.limit.high is not None else spec.limit.low
    return spec.marginal.width(bound if bound is not None else 0.0)


def compare_runs(a: Path, b: Path, catalogue: Catalogue | None = None) -> list[Pair]:
    catalogue = catalogue or load_catalogue(None)
    rows_a, rows_b = _keyed(load_measurements(a)), _keyed(load_measurements(b))
    if not rows_a or not rows_b:
        empty = a if not rows_a else b
        raise BenchError("no measurements to compare", where=str(empty), fix="give two runs' result directories (results/<run>)")
    pairs = []
    for key in sorted(rows_a.keys() | rows_b.keys()):
        ra, rb = rows_a.get(key), rows_b.get(key)
        units = (ra or rb).units
        pairs.append(Pair(*key, units=units, a_value=ra.value if ra is not None else None, a_verdict=ra.verdict if ra is not None else None,
                          b_value=rb.value if rb is not None else None, b_verdict=rb.verdict if rb is not None else None,
                          band=band_of(catalogue, key[1], key[2])))
    return pairs
