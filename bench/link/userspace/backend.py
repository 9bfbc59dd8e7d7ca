"""The userspace backend: two engine processes (one per direction) inside the link namespace."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from bench.errors import HostError
from bench.lab import netns
from bench.link.backend import DirectionCounters, LinkBackend, LinkCounters
from bench.link.model import DIRECTIONS, Impairment, LinkSpec
from bench.link.offload import disable_offloads_with_peer

START_TIMEOUT_S = 10.0
REPLY_TIMEOUT_S = 5.0


class EngineHandle:
    """The parent's end of one direction's engine: its process and control channel."""

    def __init__(self, ns: str, direction: str, rx_if: str, tx_if: str, params: dict[str, Any]) -> None:
        self.direction = direction
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [
            sys.executable, "-m", "bench.link.userspace.engine",
            "--rx", rx_if, "--tx", tx_if,
            "--control-fd", str(theirs.fileno()),
            "--parent-pid", str(os.getpid()),
            "--params", json.dumps(params),
        ]
        try:
            self.proc: subprocess.Popen[bytes] = netns.popen(
                ns, argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        finally:
            theirs.close()
        self.channel = ours
        self.channel.settimeout(START_TIMEOUT_S)
        try:
            hello = self._receive()
        except (TimeoutError, OSError, ValueError) as exc:
            self.kill()
            err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
            raise HostError(
                f"the userspace link engine ({direction}, {rx_if} -> {tx_if}) did not start: {err or exc}",
                where=f"namespace {ns}",
                fix="check that the interfaces exist and the bench runs as root",
            ) from None
        self.channel.settimeout(REPLY_TIMEOUT_S)
        self.pid = int(hello["pid"])

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
        if self.proc.stderr:
            self.proc.stderr.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class UserspaceBackend(LinkBackend):
    name = "userspace"

    def __init__(self, ns: str, term_if: str, gnd_if: str) -> None:
        super().__init__(ns, term_if, gnd_if)
        self.engines: dict[str, EngineHandle] = {}
        self.offloads_off: list[str] = []
        self.last_update_at: float | None = None  # engine clock when the last change acted

    def start(self, spec: LinkSpec) -> None:
        self.offloads_off = disable_offloads_with_peer(self.ns, self.term_if)
        self.offloads_off += disable_offloads_with_peer(self.ns, self.gnd_if)
        routes = {"uplink": (self.term_if, self.gnd_if), "downlink": (self.gnd_if, self.term_if)}
        try:
            for direction in DIRECTIONS:
                rx_if, tx_if = routes[direction]
                self.engines[direction] = EngineHandle(
                    self.ns, direction, rx_if, tx_if, spec.direction(direction).engine_params()
                )
        except BaseException:
            self.stop()
            raise

    def apply(self, direction: str, impairment: Impairment) -> None:
        reply = self.engines[direction].request({"op": "set", "params": impairment.engine_params()})
        self.last_update_at = reply["at"]

    def counters(self) -> LinkCounters:
        found = {d: DirectionCounters(**{k: v for k, v in e.request({"op": "counters"})["counters"].items()
                                          if k in DirectionCounters.model_fields})
                 for d, e in self.engines.items()}
        return LinkCounters(backend="userspace", **found)

    def stop(self) -> None:
        for engine in list(self.engines.values()):
            engine.stop()
        self.engines.clear()

    def pids(self) -> dict[str, int]:
        return {d: e.pid for d, e in self.engines.items()}
