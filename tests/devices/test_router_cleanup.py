"""Lab(router_config=...) runs the router with that configuration, and a lab killed with SIGKILL leaves nothing of the reference router behind once the next lab (or
`skybench lab clean`) has run: processes, namespaces and the router's files are all in the ledger."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.lab import netns
from bench.lab.state import clean_stale

pytestmark = pytest.mark.lab

CHILD = """
import sys, time
from bench.devices.reference import load_router_config
from bench.lab.lab import Lab
lab = Lab(router_config=load_router_config().override({"health": {"down_after": 9}})).up()
print(lab.prefix, lab.router.plan.file_prefix, flush=True)
time.sleep(600)
"""


def test_a_killed_lab_leaves_no_router_files_processes_or_namespaces() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line, "the child lab did not come up"
        prefix, file_prefix = line.split()
        router_pids = [p for p in netns.pids_in(netns.inode(f"{prefix}-router"))]
        assert router_pids and glob.glob(file_prefix + ".*")
        # The router runs the configuration the Lab was given.
        assert json.loads(Path(file_prefix + ".plan.json").read_text())["config"]["health"]["down_after"] == 9
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    time.sleep(0.2)
    report = clean_stale()
    assert prefix in report.labs
    assert glob.glob(file_prefix + ".*") == []
    assert not [n for n in netns.list_names() if n.startswith(prefix)]
    assert not [p for p in router_pids if _running(p)]


def _running(pid: int) -> bool:
    # A killed process whose new parent (init) has not reaped it yet is a zombie: not running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][:1] != "Z"
    except (FileNotFoundError, IndexError):
        return False
