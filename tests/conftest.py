from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.lab import netns
from bench.lab.state import NS_NAME_RE, ledgers
from tests.hostsnap import HostSnapshot, host_snapshot

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def untouched_host() -> Iterator[HostSnapshot]:
    """Fails the test if the host's root namespace differs afterwards."""
    before = host_snapshot()
    yield before
    diff = before.diff(host_snapshot())
    assert not diff, f"the host's root namespace changed: {diff}"


@pytest.fixture(scope="module", autouse=True)
def no_namespace_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the module that leaves a bench namespace no live ledger claims: the leak is reported
    where it happens, not in a later test whose host snapshot (or `lab clean`) meets it."""
    before = set(netns.list_names())
    yield
    claimed = {e["name"] for led in ledgers() if led.owner_alive() for e in led.objects if e["kind"] == "netns"}
    left = sorted(n for n in set(netns.list_names()) - before - claimed if NS_NAME_RE.match(n))
    if left:
        pytest.fail(f"{request.node.nodeid} left namespaces behind: {', '.join(left)}", pytrace=False)


def skybench(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real `skybench` command (as a user would), capturing its output."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"skybench {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc
