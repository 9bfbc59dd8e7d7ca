"""Repro suite options: the window the checks replay themselves, once their passenger is ready
(--trace-file would start it at the session's first use of the replay, before that)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bench.errors import BenchError
from bench.traces.replay import parse_link_map


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skybench repro")
    group.addoption("--repro-trace", default=None, help="trace whose window the repro checks replay")
    group.addoption("--repro-from", type=float, default=None, help="window start, trace seconds")
    group.addoption("--repro-to", type=float, default=None, help="window end, trace seconds")
    group.addoption("--repro-speed", type=float, default=1.0, help="replay speed (1: real time)")
    group.addoption("--repro-map", action="append", default=[], help="trace link to lab WAN, LINK=WAN (or =none)")


@dataclass(frozen=True)
class Window:
    trace: str
    from_s: float | None
    to_s: float | None
    speed: float
    links: dict[str, str | None]


@pytest.fixture(scope="session")
def window(pytestconfig: pytest.Config) -> Window:
    trace = pytestconfig.getoption("--repro-trace")
    if not trace:
        pytest.skip("no window to replay: run through `skybench repro` (or give --repro-trace FILE --repro-from S --repro-to S)")
    try:
        links = parse_link_map(pytestconfig.getoption("--repro-map"), "--repro-map")
    except BenchError as exc:
        raise pytest.UsageError(exc.message) from None
    return Window(trace, pytestconfig.getoption("--repro-from"), pytestconfig.getoption("--repro-to"),
                  pytestconfig.getoption("--repro-speed"), links)
