"""`skybench report html`: the HTML report of a run, built by Allure Report 3 (npm package ``allure``).

Allure Report comes from the npm registry, pinned in ``reports/allure/package.json`` and
``package-lock.json``; ``npm ci`` installs it into ``reports/allure/node_modules`` the first time a
report is built. npm is a system package; Node.js itself comes pinned from the registry's `node` package (Debian 12's nodejs 18 is too old for Allure Report 3).

History, so the trend charts work: a results root (the directory holding one directory per run)
keeps ``allure-history.jsonl`` (Allure 3's history file) and ``allure-history-runs.txt`` (the runs
already in it, one name a line). Building a run's report first adds the root's earlier runs that
are not in the history yet, oldest first (each is generated once into a temporary directory), so
the trend covers every run even if the report was never built for them; a run is added to the
history once, however often its report is rebuilt (a rebuild sees the history as it was before
that run: line N of the history file is the N-th run named in the runs file).

The report has three views: ``awesome/`` (suites, tests, steps, attachments), ``dashboard/``
(trend charts over the history) and ``classic/`` (Allure 2's look); ``index.html`` links them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.errors import BenchError
from reports.allure_files import CATEGORIES

ALLURE_HOME = Path(os.environ.get("SKYBENCH_ALLURE_HOME", Path(__file__).resolve().parent / "allure"))
HISTORY_FILE = "allure-history.jsonl"
HISTORY_RUNS = "allure-history-runs.txt"
RESULTS_DIR = "allure-results"
REPORT_DIR = "allure-report"
PLUGINS = {
    "awesome": {"options": {"reportLanguage": "en", "groupBy": ["parentSuite", "suite"]}},
    "dashboard": {"options": {}},
    "classic": {"options": {}},
}


NODE_BIN = ALLURE_HOME / "node_modules" / ".bin"


def node_env() -> dict[str, str]:
    """The environment to run the report's Node.js tools in: the project's pinned Node.js (npm's
    `node` package, installed with Allure) first on PATH, so the host's nodejs version does not matter."""
    return {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def allure_cli() -> Path:
    """The Allure Report 3 command, installed with ``npm ci`` from the pinned lock file if missing."""
    cli = NODE_BIN / "allure"
    if cli.exists() and (NODE_BIN / "node").exists():
        return cli
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm is needed to install Allure Report 3 and its Node.js (once)",
                         fix="install the system packages: scripts/install-system-deps.sh (npm)")
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ALLURE_HOME,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not cli.exists() or not (NODE_BIN / "node").exists():
        raise BenchError(f"`npm ci` could not install Allure Report: {(proc.stderr or proc.stdout).strip()[-800:]}",
                         where=str(ALLURE_HOME / "package-lock.json"),
                         fix="check the npm registry is reachable (npm config get registry), then rerun")
    return cli


def is_run_dir(path: Path) -> bool:
    return (path / RESULTS_DIR).is_dir()


def build_html(run_dir: Path, *, output: Path | None = None, history: bool = True) -> Path:
    """Build the run's report (default ``<run_dir>/allure-report``); returns its directory."""
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise BenchError(f"no {RESULTS_DIR}/ in {run_dir}", where=str(run_dir),
                         fix="give a run directory written by `skybench run` (or pytest --alluredir RUN/allure-results)")
    cli = allure_cli()
    output = output or run_dir / REPORT_DIR
    root = run_dir.parent
    if not history:
        _generate(cli, run_dir, output, history_file=None, append=False)
        return output
    done = _runs_in_history(root)
    earlier = sorted(p for p in root.iterdir() if p.is_dir() and is_run_dir(p) and p.name < run_dir.name and p.name not in done)
    for past in earlier:  # catch the history up, oldest first: the trend shows every run
        with tempfile.TemporaryDirectory(prefix="skybench-allure-") as tmp:
            _generate(cli, past, Path(tmp) / "report", history_file=root / HISTORY_FILE, append=True)
        _mark_in_history(root, past.name)
    if run_dir.name not in done:
        _generate(cli, run_dir, output, history_file=root / HISTORY_FILE, append=True)
        _mark_in_history(root, run_dir.name)
        return output
    # Rebuilt: the history as it was before this run (its own and later runs' points left out).
    order = (root / HISTORY_RUNS).read_text().split()
    points = (root / HISTORY_FILE).read_text().splitlines(keepends=True) if (root / HISTORY_FILE).exists() else []
    with tempfile.TemporaryDirectory(prefix="skybench-allure-history-") as tmp:
        before = Path(tmp) / HISTORY_FILE
        before.write_text("".join(points[: order.index(run_dir.name)]))
        _generate(cli, run_dir, output, history_file=before, append=False)
    return output


def _generate(cli: Path, run_dir: Path, output: Path, *, history_file: Path | None, append: bool) -> None:
    config: dict[str, object] = {
        "name": f"skybench {run_dir.name}",
        "output": str(output),
        "plugins": PLUGINS,
        "categories": {"rules": CATEGORIES},
    }
    if history_file is not None:
        config["historyPath"] = str(history_file)
        config["appendHistory"] = append
    if output.exists():
        shutil.rmtree(output)
    with tempfile.TemporaryDirectory(prefix="skybench-allurerc-") as tmp:
        rc = Path(tmp) / "allurerc.json"
        rc.write_text(json.dumps(config, indent=2))
        proc = subprocess.run([str(cli), "generate", "--config", str(rc), str(run_dir / RESULTS_DIR)],
                              cwd=tmp, capture_output=True, text=True, timeout=600,
                              env={**node_env(), "NO_COLOR": "1", "FORCE_COLOR": "0"})
    if proc.returncode != 0 or not (output / "index.html").exists():
        raise BenchError(f"Allure Report failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-800:]}",
                         where=str(run_dir / RESULTS_DIR), fix="check the results directory is complete; rerun with the same command")


def _runs_in_history(root: Path) -> set[str]:
    path = root / HISTORY_RUNS
    return set(path.read_text().split()) if path.exists() else set()


def _mark_in_history(root: Path, name: str) -> None:
    with open(root / HISTORY_RUNS, "a") as f:
        f.write(name + "\n")


def latest_run(root: Path) -> Path:
    runs = sorted(p for p in Path(root).iterdir() if p.is_dir() and is_run_dir(p)) if Path(root).is_dir() else []
    if not runs:
        raise BenchError("no run with Allure results here", where=str(root), fix="run a suite first: `skybench run nightly`")
    return runs[-1]
