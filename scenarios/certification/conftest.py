"""Certification suite options: --equipment FILE (its firmware goes into every measurement). Repeats
for the variance of each measurement are pytest-repeat's `--count N` (every test N times on the
same lab); the `repeat` fixture says which one is running."""

from __future__ import annotations

import pytest

from bench.certification.plan import CertificationPlan, load_plan
from bench.errors import BenchError
from fixtures.measure import repeat_number


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skybench certification")
    group.addoption("--equipment", default=None, help="equipment profile (vendor.yaml) being certified")


@pytest.fixture
def repeat(request: pytest.FixtureRequest) -> int:
    """1, 2, ... under `--count N` (pytest-repeat); 1 without it."""
    return repeat_number(request.node)


@pytest.fixture(scope="session")
def plan() -> CertificationPlan:
    try:
        return load_plan()
    except BenchError as exc:
        pytest.fail(exc.message, pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _equipment_in_measurements(pytestconfig: pytest.Config, measure_session) -> None:  # type: ignore[no-untyped-def]
    path = pytestconfig.getoption("--equipment")
    if path:
        from bench.certification.equipment import load_equipment

        try:
            equipment = load_equipment(path)
        except BenchError as exc:
            pytest.fail(exc.message, pytrace=False)
        measure_session.set_run(firmware=equipment.firmware)
