"""A driver that runs inside a network namespace: the embedded lab's devices live in namespaces.

`setns(2)` moves only the calling thread, and libraries with their own threads (gRPC's core,
for one) may open their sockets elsewhere; a socket opened in the host's namespace towards a lab
address could leave the machine. So the driver runs in a worker process started inside the
namespace (every thread of it is there), and `InNamespace` forwards each protocol call to it as a
line of JSON, arguments and results encoded with the protocol's own type hints. Steps are recorded
here, in the bench process; DeviceErrors come back with their what / where / fix intact.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import typing
from typing import Any

from pydantic import TypeAdapter

from bench.devices.drivers.base import DeviceError, DeviceTarget, Retry
from bench.devices.protocols import UnsupportedByDriver
from bench.errors import BenchError
from bench.lab import netns
from bench.steps import step

_ERRORS: dict[str, type[BenchError]] = {
    cls.__name__: cls for cls in (BenchError, DeviceError, UnsupportedByDriver)
}


def method_hints(protocol: type, name: str) -> tuple[dict[str, Any], Any]:
    """(argument name -> type, return type) of a protocol method."""
    hints = typing.get_type_hints(getattr(protocol, name))
    returns = hints.pop("return", Any)
    return hints, returns


def protocol_methods(protocol: type) -> list[str]:
    return [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_") and n != "close"]


class InNamespace:
    """Stands for a driver of `protocol` running in namespace `ns` (a worker process)."""

    def __init__(self, kind: str, target: DeviceTarget, ns: str, protocol: type) -> None:
        self.name = target.name
        self.target = target
        self.ns = ns
        self.protocol = protocol
        self._lock = threading.Lock()
        # stderr to a file, not a pipe: nobody reads it while the worker lives, and a full pipe
        # would block the worker in the middle of a request.
        self._stderr = tempfile.TemporaryFile()
        self._proc = netns.popen(ns, [sys.executable, "-m", "bench.devices.drivers.worker"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        try:
            self._request({"build": kind, "target": target.model_dump(mode="json")})
        except BaseException:
            self.close()
            raise

    def _request(self, message: dict[str, Any]) -> Any:
        with self._lock:
            if self._proc.poll() is not None:
                raise BenchError(f"the driver worker for {self.name} has exited",
                                 where=f"namespace {self.ns}", fix="see the errors logged before this one")
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write((json.dumps(message) + "\n").encode())
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=5)
            self._stderr.seek(0)
            err = self._stderr.read().decode(errors="replace").strip()
            raise BenchError(f"the driver worker for {self.name} died: {err[-600:] or 'no output'}",
                             where=f"namespace {self.ns}",
                             fix="run `python -m bench.devices.drivers.worker` by hand in the namespace to see why")
        reply = json.loads(line)
        if reply.get("ok"):
            return reply.get("value")
        error = reply["error"]
        cls = _ERRORS.get(error["type"], BenchError)
        raised = cls.__new__(cls)  # the worker already built the message; keep its class for `except`
        BenchError.__init__(raised, error["what"], where=error.get("where"), fix=error.get("fix"))
        raise raised

    def __getattr__(self, name: str) -> Any:
        if name not in protocol_methods(self.protocol):
            raise AttributeError(name)
        arg_types, return_type = method_hints(self.protocol, name)

        def forward(*args: Any, **kwargs: Any) -> Any:
            names = list(arg_types)
            bound = dict(zip(names, args)) | kwargs
            encoded = {k: TypeAdapter(arg_types.get(k, Any)).dump_python(v, mode="json") for k, v in bound.items()}
            with step(f"{self.name}: {name.replace('_', ' ')}", netns=self.ns, **bound) as record:
                value = self._request({"call": name, "kwargs": encoded})
                result = TypeAdapter(return_type).validate_python(value)
                record["result"] = value
            return result

        forward.__name__ = name
        return forward

    @property
    def retries(self) -> list[Retry]:
        return [Retry.model_validate(r) for r in self._request({"retries": True})]

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()  # type: ignore[union-attr]
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> InNamespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
