"""Fixtures for the link tests: three namespaces (a -- sky -- b) and a link in each backend."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench.link import EmulatedLink, kernel_has_netem, open_link
from bench.link.testbed import Testbed, testbed

BACKENDS = ["userspace", "netem"]


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")


@pytest.fixture(scope="module")
def bed() -> Iterator[Testbed]:
    _require_root()
    with testbed() as built:
        yield built


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "netem":
        has_netem, reason = kernel_has_netem()
        if not has_netem:
            pytest.skip(f"netem backend: {reason} (runs in the VM suite, bench/vm)")
    return request.param


@pytest.fixture
def link(bed: Testbed, backend: str) -> Iterator[EmulatedLink]:
    with open_link(bed.sky, bed.term_if, bed.gnd_if, backend=backend) as opened:  # type: ignore[arg-type]
        yield opened
