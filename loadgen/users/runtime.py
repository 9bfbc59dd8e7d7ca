"""State shared by the users of one Locust process: the plan, the recorder, which LAN clients
are taken, and the first errors (the runner reports them with the client's name)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from loadgen.lan import LanClient
from loadgen.plan import RunPlan
from loadgen.recorder import Recorder

MAX_ERRORS_KEPT = 200


class Runtime:
    def __init__(self, plan: RunPlan, process: str) -> None:
        self.plan = plan
        self.process = process
        self.environment: Any = None
        self.recorder = Recorder(Path(plan.out_dir), process, self._users_by_class)
        self._next = {"passenger": 0, "ops": 0}
        self._errors = 0
        self._lock = threading.Lock()
        self._errors_file = Path(plan.out_dir) / "errors" / f"{process}.jsonl"
        self._errors_file.parent.mkdir(parents=True, exist_ok=True)

    def _users_by_class(self) -> dict[str, int]:
        runner = getattr(self.environment, "runner", None)
        if runner is None:
            return {}
        return {name.removeprefix("L_"): n for name, n in runner.user_classes_count.items()}

    def take_client(self, kind: str) -> LanClient | None:
        """The next unused client of this process's share (workers take every n-th)."""
        pool = self.plan.passengers if kind == "passenger" else self.plan.ops
        runner = getattr(self.environment, "runner", None)
        if self.plan.workers:
            index = getattr(runner, "worker_index", 0) % self.plan.workers
            pool = pool[index::self.plan.workers]
        with self._lock:
            n = self._next[kind]
            if n >= len(pool):
                return None
            self._next[kind] = n + 1
        return pool[n]

    def error(self, cls: str, client: str, what: str) -> None:
        with self._lock:
            self._errors += 1
            if self._errors > MAX_ERRORS_KEPT:
                return
            with open(self._errors_file, "a") as f:
                f.write(json.dumps({"cls": cls, "client": client, "error": what, "pid": os.getpid()}) + "\n")


runtime: Runtime | None = None
