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
