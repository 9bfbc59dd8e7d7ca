"""The Locust entry file of a skybench run (loaded by the Locust process the runner starts, never
by pytest: importing Locust monkey-patches the process with gevent).

It reads the run plan (SKYBENCH_LOADGEN_PLAN), makes one concrete user class per class of the
profile (its share or fixed count, think time and options) and streams the figures to Parquet
(loadgen.recorder) once a second.
"""

from __future__ import annotations

import os
from typing import Any

import gevent
from locust import between, events

from loadgen.net import refuse_host_resolver
from loadgen.plan import RunPlan
from loadgen.users import USER_CLASSES
from loadgen.users import runtime as rt
from loadgen.users.base import LanUser
from loadgen.users.ops import Cctv, Conductor, Pos
from loadgen.users.passengers import Browsing, Bulk, Call, Messaging, Portal, Video

BEHAVIOURS: dict[str, type[LanUser]] = {
    c.class_name: c for c in (Browsing, Video, Call, Messaging, Bulk, Portal, Pos, Cctv, Conductor)
}

refuse_host_resolver()
_plan = RunPlan.model_validate_json(open(os.environ["SKYBENCH_LOADGEN_PLAN"]).read())
_role = os.environ.get("SKYBENCH_LOADGEN_ROLE", "local")
rt.runtime = rt.Runtime(_plan, f"{_role}-{os.getpid()}")

for _name, _mix in _plan.profile.classes.items():
    _base = BEHAVIOURS[_name]
    _attrs: dict[str, Any] = {
        "abstract": False,
        "wait_time": between(*_mix.wait_s),
        "options": {**USER_CLASSES[_name].option_defaults, **_mix.options},
    }
    if _mix.count is not None:
        _attrs["fixed_count"] = _mix.count
    else:
        _attrs["weight"] = _mix.weight
    globals()[f"L_{_name}"] = type(f"L_{_name}", (_base,), _attrs)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    assert rt.runtime is not None
    rt.runtime.environment = environment
    if _role == "master":
        return  # workers measure; the master only coordinates
    recorder = rt.runtime.recorder

    def on_request(request_type: str, name: str, response_time: float, response_length: int, exception: Any = None,
                   context: dict[str, Any] | None = None, **_kw: Any) -> None:
        recorder.request((context or {}).get("cls", name.split(":")[0]), response_time or 0.0, response_length or 0, exception is not None)

    environment.events.request.add_listener(on_request)

    def flush_every_second() -> None:
        while True:
            gevent.sleep(1.0)
            recorder.flush()

    gevent.spawn(flush_every_second)


@events.quitting.add_listener
def _on_quit(environment: Any, **_: Any) -> None:
    if rt.runtime is not None and _role != "master":
        rt.runtime.recorder.flush(final=True)
