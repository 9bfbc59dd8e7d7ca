"""Fixtures for the link tests: three namespaces (a -- sky -- b) and a link in each backend."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from bench.link import EmulatedLink, kernel_has_netem, open_link
from bench.link.testbed import Testbed, testbed

# The netem cases carry the `netem` marker: `pytest tests/link -m netem` is the suite the qemu VM
# runs against a real kernel netem (tests/vm/test_netem_suite.py).
BACKENDS = ["userspace", pytest.param("netem", marks=pytest.mark.netem)]


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
        _wait_until_quiet(opened)
        yield opened


def _wait_until_quiet(link: EmulatedLink, quiet_s: float = 0.3, at_most_s: float = 3.0) -> None:
    """Let an earlier test's leftovers (TCP teardown on the shared testbed) pass first, so
    counters and loss figures see this test's traffic."""
    deadline = time.monotonic() + at_most_s
    seen = -1
    while time.monotonic() < deadline:
        counters = link.counters()
        now = counters.uplink.packets_in + counters.downlink.packets_in
        if now == seen:
            return
        seen = now
        time.sleep(quiet_s)
