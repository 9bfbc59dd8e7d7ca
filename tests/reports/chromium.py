"""Headless Chromium (Debian's `chromium`) driven with its own flags: screenshots and the DOM
after scripts ran. Every call uses a new profile directory and the flags that keep Chromium off
the network (no background requests to Google hosts), and is killed with its process group if it
hangs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars"]


def available() -> bool:
    return Path(CHROMIUM).exists()


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="skybench-chromium-") as profile:
        proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(f"chromium did not finish within {timeout_s:.0f} s: {err[-500:]}") from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def dump_dom(url: str, *, budget_ms: int = 8000, timeout_s: float = 90) -> str:
    """The page's DOM once its scripts ran for ``budget_ms`` of virtual time."""
    return _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", url], timeout_s).stdout


def screenshot(url: str, path: Path, *, size: tuple[int, int] = (1400, 1600), budget_ms: int = 8000,
               timeout_s: float = 90) -> Path:
    _run([f"--virtual-time-budget={budget_ms}", f"--window-size={size[0]},{size[1]}", f"--screenshot={path}", url], timeout_s)
    assert path.exists() and path.stat().st_size > 0, f"chromium wrote no screenshot for {url}"
    return path


def browse_report(report: Path, spec: dict[str, str], work: Path, artifacts: Path, timeout_s: float = 300) -> dict[str, Any]:
    """Serve the built Allure report, run browse_report.mjs on it with `spec` (failedId,
    failedName, plotName, optional plotId), keep its screenshots in `artifacts`; returns what the
    pages showed (suites, failedTest, plotTest, plot, dashboard)."""
    import json

    from reports.html import node_env
    from tests.reports.serve import serve

    shots = work / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with serve(report) as base:
        full = {**spec, "base": base, "outDir": str(shots), "tmpDir": str(work), "executable": CHROMIUM}
        proc = subprocess.run(["node", str(Path(__file__).with_name("browse_report.mjs")), json.dumps(full)],
                              capture_output=True, text=True, timeout=timeout_s, env=node_env())
    artifacts.mkdir(parents=True, exist_ok=True)
    for shot in shots.glob("*.png"):
        shutil.copy2(shot, artifacts / shot.name)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen: dict[str, Any] = json.loads(proc.stdout)
    seen["screenshots"] = sorted(str(p) for p in shots.glob("*.png"))
    return seen
