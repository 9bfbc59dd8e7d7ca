"""Recorded steps: every action on a device or link goes through here (as labgrid's `@step`).

One place feeds the three consumers of "what did the bench do": the Python log, the run's step
log (JSON lines, written and flushed as each step ends so a killed run keeps it), and the Allure
report (each step becomes an `allure.step`). Arguments whose names look secret are masked.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import allure

log = logging.getLogger("skybench.steps")

STEPS_FILE = "steps.jsonl"  # the step log's name in a run's results directory
SECRET_NAME = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)
P = ParamSpec("P")
R = TypeVar("R")

_sink_lock = threading.Lock()
_sink: Any = None
_depth = threading.local()


def set_step_log(path: Path | None) -> None:
    """Send every step from now on to a JSON-lines file (None stops it)."""
    global _sink
    with _sink_lock:
        if _sink is not None:
            _sink.close()
        _sink = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _sink = open(path, "a", buffering=1)


def _redact(args: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if SECRET_NAME.search(k) and v is not None else v) for k, v in args.items()}


def _fmt(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@contextmanager
def step(title: str, **args: Any) -> Iterator[dict[str, Any]]:
    """Record one action. Yields a dict the body may add results to (`rec["result"] = ...`)."""
    shown = {k: _fmt(v) for k, v in _redact(args).items()}
    depth = getattr(_depth, "value", 0)
    record: dict[str, Any] = {"step": title, "args": shown, "depth": depth, "start": time.time()}
    label = title + (" " + " ".join(f"{k}={v}" for k, v in shown.items()) if shown else "")
    log.info("%s%s", "  " * depth, label)
    _depth.value = depth + 1
    try:
        with allure.step(label):
            yield record
        record["outcome"] = "ok"
    except BaseException as exc:
        record["outcome"] = "error"
        record["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        _depth.value = depth
        record["duration_s"] = round(time.time() - record["start"], 6)
        if "result" in record:
            record["result"] = _fmt(record["result"])
        with _sink_lock:
            if _sink is not None:
                _sink.write(json.dumps(record) + "\n")


def recorded(title: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form of `step`: the call's arguments (but `self`) are recorded."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        sig = inspect.signature(fn)
        name = title or fn.__name__.replace("_", " ")

        @functools.wraps(fn)
        def inner(*a: P.args, **kw: P.kwargs) -> R:
            bound = sig.bind(*a, **kw)
            bound.apply_defaults()
            args = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
            owner = bound.arguments.get("self")
            prefix = f"{getattr(owner, 'name', type(owner).__name__)}: " if owner is not None else ""
            with step(prefix + name, **args):
                return fn(*a, **kw)

        return inner

    return wrap
