from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostsnap import HostSnapshot, host_snapshot

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def untouched_host() -> Iterator[HostSnapshot]:
    """Fails the test if the host's root namespace differs afterwards."""
    before = host_snapshot()
    yield before
    diff = before.diff(host_snapshot())
    assert not diff, f"the host's root namespace changed: {diff}"


def skybench(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real `skybench` command (as a user would), capturing its output."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"skybench {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc
