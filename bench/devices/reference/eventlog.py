"""The router's event log: every state change (WAN up/down, switch, session, purchase) as one
JSON line with a wall-clock timestamp, flushed as it happens, and kept in memory for the status
API's "logs since T"."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._sink = open(path, "a", buffering=1)

    def write(self, event: str, time_s: float | None = None, **data: Any) -> dict[str, Any]:
        record = {"time": time.time() if time_s is None else time_s, "event": event, **data}
        with self._lock:
            self._events.append(record)
            self._sink.write(json.dumps(record) + "\n")
        return record

    def since(self, t: float = 0.0, event: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._events if e["time"] >= t and (event is None or e["event"] == event)]

    def close(self) -> None:
        with self._lock:
            self._sink.close()
