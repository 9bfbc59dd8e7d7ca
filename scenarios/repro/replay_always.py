"""pytest plugin `skybench repro` loads for a named test: with --trace-file the window starts
replaying before the test's own fixtures, even if the test never asks for the replay itself."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _window_replaying(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("trace_file"):
        request.getfixturevalue("replay")
