"""The userspace backend: two engine processes (one per direction) inside the link namespace."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from typing import Any

from bench.errors import HostError
from bench.lab import netns
from bench.link.backend import DirectionCounters, LinkAddress, LinkBackend, LinkCounters
from bench.link.model import DIRECTIONS, Impairment, LinkSpec
from bench.link.offload import disable_offloads_with_peer

START_TIMEOUT_S = 10.0
REPLY_TIMEOUT_S = 5.0


def control_socket_name(ns: str, direction: str) -> str:
    """The abstract Unix socket an engine listens on for attached processes (in its namespace)."""
    return f"skybench-link/{ns}/{direction}"


class EngineChannel:
    """A control connection to one direction's engine: JSON request, JSON reply."""

    direction: str
    channel: socket.socket

    def _receive(self) -> dict[str, Any]:
        raw = self.channel.recv(65536)
        if not raw:
            raise OSError("engine closed its control channel")
        return json.loads(raw)

    def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.channel.send(json.dumps(msg).encode())
        reply = self._receive()
        if not reply.get("ok"):
            raise HostError(f"link engine ({self.direction}) refused {msg.get('op')}: {reply.get('error')}")
        return reply

    def set(self, impairment: Impairment) -> float:
        reply = self.request({"op": "set", "params": impairment.engine_params(), "spec": impairment.model_dump()})
        return float(reply["at"])

    def current(self) -> Impairment:
        return Impairment.model_validate(self.request({"op": "get"})["spec"])


class AttachedEngine(EngineChannel):
    """Another process's engine, reached through its listening socket inside the link namespace."""

    def __init__(self, ns: str, direction: str, name: str) -> None:
        self.direction = direction

        def connect() -> socket.socket:
            # Abstract Unix sockets belong to a network namespace: connect from inside it.
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                sock.connect("\0" + name)
            except OSError:
                sock.close()
                raise
            return sock

        try:
            self.channel = netns.run_in(ns, connect)
        except OSError as exc:
            raise HostError(
                f"cannot reach the userspace link engine ({direction}) at @{name}: {exc}",
                where=f"namespace {ns}", fix="is the lab still up? `skybench lab status`",
            ) from None
        self.channel.settimeout(REPLY_TIMEOUT_S)
        self.pid = int(self.request({"op": "get"})["pid"])

    def close(self) -> None:
        self.channel.close()


class EngineHandle(EngineChannel):
    """The parent's end of one direction's engine: its process and control channel."""

    def __init__(self, ns: str, direction: str, rx_if: str, tx_if: str, impairment: Impairment) -> None:
        self.direction = direction
        self.listen_name = control_socket_name(ns, direction)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [
            sys.executable, "-m", "bench.link.userspace.engine",
            "--rx", rx_if, "--tx", tx_if,
            "--control-fd", str(theirs.fileno()),
            "--parent-pid", str(os.getpid()),
            "--params", json.dumps(impairment.engine_params()),
            "--spec", json.dumps(impairment.model_dump()),
            "--listen", self.listen_name,
        ]
        # stderr to a file, not a pipe: it is read only if the engine fails, and a full pipe
        # would block a running engine (and with it the link) on its next warning.
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc: subprocess.Popen[bytes] = netns.popen(
                ns, argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stderr=self.stderr,
            )
        finally:
            theirs.close()
        self.channel = ours
        self.channel.settimeout(START_TIMEOUT_S)
        try:
            hello = self._receive()
        except (TimeoutError, OSError, ValueError) as exc:
            self.kill()
            self.stderr.seek(0)
            err = self.stderr.read().decode(errors="replace").strip()
            self.stderr.close()
            raise HostError(
                f"the userspace link engine ({direction}, {rx_if} -> {tx_if}) did not start: {err or exc}",
                where=f"namespace {ns}",
                fix="check that the interfaces exist and the bench runs as root",
            ) from None
        self.channel.settimeout(REPLY_TIMEOUT_S)
        self.pid = int(hello["pid"])

    def stop(self) -> None:
        try:
            self.request({"op": "stop"})
        except OSError:
            pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.kill()
        self.channel.close()
        self.stderr.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class UserspaceBackend(LinkBackend):
    name = "userspace"

    def __init__(self, ns: str, term_if: str, gnd_if: str) -> None:
        super().__init__(ns, term_if, gnd_if)
        self.engines: dict[str, EngineChannel] = {}
        self.offloads_off: list[str] = []
        self.last_update_at: float | None = None  # engine clock when the last change acted

    def start(self, spec: LinkSpec) -> None:
        self.offloads_off = disable_offloads_with_peer(self.ns, self.term_if)
        self.offloads_off += disable_offloads_with_peer(self.ns, self.gnd_if)
        routes = {"uplink": (self.term_if, self.gnd_if), "downlink": (self.gnd_if, self.term_if)}
        try:
            for direction in DIRECTIONS:
                rx_if, tx_if = routes[direction]
                self.engines[direction] = EngineHandle(self.ns, direction, rx_if, tx_if, spec.direction(direction))
        except BaseException:
            self.stop()
            raise

    @classmethod
    def attach(cls, address: LinkAddress) -> UserspaceBackend:
        backend = cls(address.ns, address.term_if, address.gnd_if)
        try:
            for direction in DIRECTIONS:
                name = address.control.get(direction) or control_socket_name(address.ns, direction)
                backend.engines[direction] = AttachedEngine(address.ns, direction, name)
        except BaseException:
            backend.detach()
            raise
        return backend

    def address(self) -> LinkAddress:
        return LinkAddress(backend="userspace", ns=self.ns, term_if=self.term_if, gnd_if=self.gnd_if,
                           control={d: e.listen_name for d, e in self.engines.items() if isinstance(e, EngineHandle)})

    def current(self) -> LinkSpec:
        return LinkSpec(**{d: e.current() for d, e in self.engines.items()})

    def apply(self, direction: str, impairment: Impairment) -> None:
        self.last_update_at = self.engines[direction].set(impairment)

    def counters(self) -> LinkCounters:
        found = {d: DirectionCounters(**{k: v for k, v in e.request({"op": "counters"})["counters"].items()
                                          if k in DirectionCounters.model_fields})
                 for d, e in self.engines.items()}
        return LinkCounters(backend="userspace", **found)

    def stop(self) -> None:
        for engine in list(self.engines.values()):
            if isinstance(engine, EngineHandle):
                engine.stop()
            elif isinstance(engine, AttachedEngine):
                engine.close()  # not ours to stop
        self.engines.clear()

    def detach(self) -> None:
        for engine in list(self.engines.values()):
            if isinstance(engine, AttachedEngine):
                engine.close()
        self.engines.clear()

    def pids(self) -> dict[str, int]:
        return {d: e.pid for d, e in self.engines.items() if isinstance(e, (EngineHandle, AttachedEngine))}
