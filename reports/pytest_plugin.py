"""The reporting side of the skybench pytest plugin (loaded by fixtures/plugin.py).

- Allure: environment.properties, categories.json and executor.json in the Allure results
  directory (written at the start and rewritten at the end of the session, so a killed run has
  them); labels on every test (parentSuite = the suite, dut, firmware, lab); requirement links
  resolved through ``--allure-link-pattern requirement:...`` (default: docs/requirements.md).
- Evidence on a failed test: the applied-steps excerpt of its window, the DUT's logs for the
  window, the measured-window plot (when a replay ran) and the packet capture of the DUT's WAN and
  LAN (lab tests: a ring-buffer tcpdump in the router namespace for each test, kept only on failure).
  A passing test that measured during a replay gets the measured-window plot too; a test that ran
  passengers gets their per-class plot (fixtures/passengers.py).
- Progress: ``live.json``'s ``progress`` section (tests done / total, the current test) for
  `skybench run` to show.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest

from bench.errors import BenchError
from bench.steps import STEPS_FILE
from reports import allure_files, evidence
from reports.capture import DutCapture, RingCapture
from reports.live import live_path, live_update, read_live, replays_since, set_live_dir

log = logging.getLogger("skybench.reports")

STATE = pytest.StashKey["ReportState"]()
ITEM_START = pytest.StashKey[float]()
ITEM_CAPTURE = pytest.StashKey[DutCapture]()
ITEM_LAB = pytest.StashKey[Any]()
ITEM_REPLAY = pytest.StashKey[dict[str, Any]]()
DOCS_REQUIREMENTS = Path(__file__).resolve().parent.parent / "docs" / "requirements.md"


class ReportState:
    def __init__(self, alluredir: Path | None, results_dir: Path | None, capture: bool) -> None:
        self.alluredir = alluredir
        self.results_dir = results_dir
        self.capture = capture and RingCapture.available()
        self.total = 0
        self.done = 0
        self.failed = 0
        self.link_backends: dict[str, str] = {}
        self.capture_problem: str | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skybench")
    group.addoption("--no-pcap", action="store_true", default=False,
                    help="do not capture the DUT's interfaces during lab tests (no pcap on failed tests)")


@pytest.hookimpl(trylast=True)  # after the skybench and measure plugins configured the run
def pytest_configure(config: pytest.Config) -> None:
    alluredir = getattr(config.option, "allure_report_dir", None)
    results = config.getoption("--results-dir", None)
    state = ReportState(Path(alluredir) if alluredir else None, Path(results) if results else None,
                        capture=bool(alluredir) and not config.getoption("--no-pcap"))
    config.stash[STATE] = state
    config.addinivalue_line("markers", "no_pcap: do not capture the DUT's interfaces during this test (throughput tests: tcpdump costs CPU)")
    if state.results_dir is not None:
        set_live_dir(state.results_dir)
    patterns = getattr(config.option, "allure_link_pattern", None)
    if patterns is not None and "requirement" not in dict(patterns):
        base = os.environ.get("SKYBENCH_REQUIREMENTS_URL") or DOCS_REQUIREMENTS.as_uri()
        patterns.append(("requirement", base + "#{}"))
    if state.alluredir is not None:
        _write_allure_files(config)


def _write_allure_files(config: pytest.Config) -> None:
    state = config.stash[STATE]
    if state.alluredir is None:
        return
    session = _measure_session(config)
    lab = _lab_config(config)
    run_id = session.run.run_id if session else ""
    props = allure_files.environment_properties(
        lab=lab,
        run_id=run_id,
        firmware=session.run.firmware if session else "",
        catalogue_version=session.catalogue.version if session else "",
        traces=allure_files.traces_by_hash(session.measurements) if session else {},
        link_backends=state.link_backends,
    )
    allure_files.write_environment(state.alluredir, props)
    allure_files.write_categories(state.alluredir)
    allure_files.write_executor(state.alluredir, run_id=run_id, run_dir=state.results_dir)


def _measure_session(config: pytest.Config) -> Any:
    try:
        from fixtures.measure import SESSION
    except ImportError:
        return None
    return config.stash.get(SESSION, None)


def _lab_config(config: pytest.Config) -> Any:
    try:
        from fixtures.plugin import LAB_CONFIG
    except ImportError:
        return None
    return config.stash.get(LAB_CONFIG, None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    _write_allure_files(session.config)
    live_update("progress", total=state.total, done=state.done, failed=state.failed, current=None)


# -- progress --------------------------------------------------------------------------------------
def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash[STATE]
    state.total = len(session.items)
    live_update("progress", total=state.total, done=0, failed=0)


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    state = _state()
    if state is not None:
        live_update("progress", total=state.total, done=state.done, failed=state.failed, current=nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    state = _state()
    if state is None:
        return
    if report.failed:
        state.failed += 1
    if report.when == "teardown":
        state.done += 1
        live_update("progress", total=state.total, done=state.done, failed=state.failed, current=report.nodeid)


_config: pytest.Config | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _config
    _config = session.config


def _state() -> ReportState | None:
    return _config.stash.get(STATE, None) if _config is not None else None


# -- labels, capture and evidence --------------------------------------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # The test's window starts before any of its fixtures: their steps belong to it.
    item.stash[ITEM_START] = time.time()


@pytest.fixture(autouse=True)
def _skybench_test_evidence(request: pytest.FixtureRequest) -> Iterator[None]:
    """For a lab test, capture the DUT's interfaces until the test ends."""
    item = request.node
    state = request.config.stash[STATE]
    capture: DutCapture | None = None
    if "lab" in request.fixturenames:
        try:
            lab = request.getfixturevalue("lab")
        except Exception:  # noqa: BLE001 - the lab's own failure is reported by the test's setup, once
            lab = None
        if lab is not None and hasattr(lab, "ledger"):
            item.stash[ITEM_LAB] = lab
            state.link_backends.update({name: link.backend_name for name, link in getattr(lab, "links", {}).items()})
            if "dut" in request.fixturenames:
                _note_firmware(request.config, request.getfixturevalue("dut"))
            if state.capture and request.node.get_closest_marker("no_pcap") is None:
                try:
                    capture = DutCapture(lab).start()
                    item.stash[ITEM_CAPTURE] = capture
                except BenchError as exc:
                    state.capture_problem = exc.message
                    log.warning("no packet capture: %s", exc.message)
    try:
        yield
    finally:
        if capture is not None:
            capture.remove()


def _note_firmware(config: pytest.Config, dut: Any) -> None:
    """The DUT's firmware version, as its management face gives it, into the run facts (labels,
    measurements, environment), unless something set it already (the certified equipment)."""
    session = _measure_session(config)
    if session is None or session.run.firmware:
        return
    try:
        version = dut.firmware().version
    except BenchError as exc:
        log.warning("no firmware version from the DUT: %s", exc.message)
        return
    session.set_run(firmware=str(version))


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: sees the measure plugin's failure too
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _label(item)
    try:
        result = yield
    except BaseException as exc:
        if not isinstance(exc, (KeyboardInterrupt, SystemExit)) and not _is_skip(exc):
            _attach_evidence(item)
        raise
    _attach_measured_window(item)  # a passing measured test shows its window too
    return result


def _replay_of(item: pytest.Item) -> dict[str, Any] | None:
    recent = replays_since(item.stash.get(ITEM_START, 0.0))
    return recent[0] if recent else item.stash.get(ITEM_REPLAY, None)


def _attach_measured_window(item: pytest.Item) -> None:
    measurements = _item_measurements(item)
    replay = _replay_of(item)
    if measurements and replay is not None:
        _guarded("plot", lambda: evidence.attach_plot(measurements, replay))


def _is_skip(exc: BaseException) -> bool:
    return isinstance(exc, pytest.skip.Exception) or type(exc).__name__ == "XFailed"


def _label(item: pytest.Item) -> None:
    session = _measure_session(item.config)
    lab = _lab_config(item.config)
    if session is not None:
        from fixtures.measure import _suite_of

        suite = _suite_of(item)
        if suite:
            allure.dynamic.parent_suite(suite)
        if session.run.firmware:
            allure.dynamic.label("firmware", session.run.firmware)
    if lab is not None:
        allure.dynamic.label("dut", lab.dut.name)
        allure.dynamic.label("lab", lab.name)
    # The replay fixture runs before the body: remember its trace for the failure plot.
    live = read_live(live_path().parent) if live_path() is not None else None
    if live is not None and live.replay is not None:
        item.stash[ITEM_REPLAY] = live.replay.model_dump()


def _attach_evidence(item: pytest.Item) -> None:
    state = item.config.stash[STATE]
    since = item.stash.get(ITEM_START, time.time())
    until = time.time()
    # Attachments at the test body's top level: shown on the test's page, not folded in a step.
    steps_file = state.results_dir / STEPS_FILE if state.results_dir else None
    _guarded("steps excerpt", lambda: evidence.attach_steps(steps_file, since, until))
    measurements = _item_measurements(item)
    replay = _replay_of(item)
    _guarded("plot", lambda: evidence.attach_plot(measurements, replay))
    lab = item.stash.get(ITEM_LAB, None)
    if lab is not None:
        _guarded("DUT logs", lambda: evidence.attach_dut_logs(lab, _lab_config(item.config), since))
    capture = item.stash.get(ITEM_CAPTURE, None)
    if capture is not None:
        _guarded("packet capture", lambda: evidence.attach_pcaps(capture.stop()))
    elif lab is not None and state.capture_problem:
        allure.attach(f"no packet capture: {state.capture_problem}", name="packet capture (unavailable)",
                      attachment_type=allure.attachment_type.TEXT)


def _item_measurements(item: pytest.Item) -> list[Any]:
    try:
        from fixtures.measure import ITEM_MEASUREMENTS
    except ImportError:
        return []
    return list(item.stash.get(ITEM_MEASUREMENTS, []))


def _guarded(what: str, collect: Any) -> None:
    # Evidence helps read a failure; failing to collect it must not hide the failure itself.
    try:
        collect()
    except Exception as exc:  # noqa: BLE001
        log.warning("could not attach %s: %s", what, exc)
        allure.attach(f"could not attach {what}: {type(exc).__name__}: {exc}", name=f"{what} (unavailable)",
                      attachment_type=allure.attachment_type.TEXT)
