"""Certification suite options: --cert-repeat N (every test runs N times on the same lab, for the
variance of each measurement) and --equipment FILE (its firmware goes into every measurement)."""

from __future__ import annotations

import pytest

from bench.certification.plan import CertificationPlan, load_plan
from bench.errors import BenchError


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skybench certification")
    group.addoption("--cert-repeat", type=int, default=1, help="run each certification test N times (variance)")
    group.addoption("--equipment", default=None, help="equipment profile (vendor.yaml) being certified")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "repeat" in metafunc.fixturenames:
        n = max(1, int(metafunc.config.getoption("--cert-repeat")))
        metafunc.parametrize("repeat", range(1, n + 1), ids=[f"r{i}" for i in range(1, n + 1)])


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
