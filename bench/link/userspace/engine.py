"""One direction of the userspace link: frames in on one interface, impaired, out on the other.

Run as its own process inside the link namespace (one per direction, so the two directions do
not share a GIL):  python -m bench.link.userspace.engine --rx term --tx gnd --control-fd 3
Stdlib only, so it starts fast and the hot path has no import overhead.

Control channel: a SOCK_SEQPACKET socket inherited from the parent; one JSON object per message.
  {"op": "set", "params": {...}}  -> {"ok": true, "at": <monotonic time the new values act>}
  {"op": "counters"}              -> {"ok": true, "counters": {...}}
  {"op": "get"}                   -> {"ok": true, "spec": {...}, "pid": ...}  (the impairment in force)
  {"op": "stop"}                  -> {"ok": true}, then exit
`set` may carry "spec" (the Impairment as the API knows it, returned by `get`) next to the
engine's "params". The engine exits when the channel closes or its parent dies
(PR_SET_PDEATHSIG), so a crashed bench never leaves one running.

With --listen NAME the engine also accepts connections on the abstract Unix socket NAME (in the
link namespace) and serves the same messages on them, except `stop`: that is how another process
(`skybench link set` on a running lab) changes the link without owning it.
"""

from __future__ import annotations

import argparse
import ctypes
import heapq
import json
import os
import select
import signal
import socket
import sys
import time
from collections import deque
from typing import Any

from bench.link.userspace.shaper import Shaper

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23  # don't see our own (and the other direction's) transmissions
PR_SET_PDEATHSIG = 1
PR_SET_TIMERSLACK = 29
SOCKET_BUFFER_BYTES = 16 * 1024 * 1024
REALTIME_PRIORITY = 10
BATCH = 128  # frames read per wake-up before servicing departures and the control channel
# epoll's timeout has millisecond granularity (rounded up); closer than this to a departure we
# sleep in short slices instead, so a held frame leaves within ~0.1 ms of its time.
FINE_WAIT_S = 0.0015
FINE_SLICE_S = 0.0001


def _die_with_parent(parent_pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc.prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)  # 1 us instead of 50 us: precise sleeps
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def _realtime_priority() -> None:
    """SCHED_FIFO, so a waking engine preempts ordinary work at once: on a busy 2-core host the
    wake-up latency of a normal task is milliseconds, straight into the link's delay error.
    The engine blocks whenever it has nothing due, and the kernel's RT throttling keeps 5 % of
    each core for others even if it did not; without the privilege it runs as a normal task."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except (PermissionError, OSError):
        pass


def _packet_socket(ifname: str, receive: bool) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL) if receive else 0)
    if receive:
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.setsockopt(socket.SOL_SOCKET, 33, SOCKET_BUFFER_BYTES)  # SO_RCVBUFFORCE
        sock.bind((ifname, ETH_P_ALL))
        sock.setblocking(False)
    else:
        sock.setsockopt(socket.SOL_SOCKET, 32, SOCKET_BUFFER_BYTES)  # SO_SNDBUFFORCE
        sock.bind((ifname, 0))
    return sock


class Engine:
    def __init__(self, rx_if: str, tx_if: str, control: socket.socket, params: dict[str, Any],
                 spec: dict[str, Any] | None = None, listen: str | None = None) -> None:
        self.rx = _packet_socket(rx_if, receive=True)
        self.tx = _packet_socket(tx_if, receive=False)
        self.control = control
        self.control.setblocking(False)
        self.shaper = Shaper(params)
        self.spec = spec or {}
        self.running = True
        self.listener: socket.socket | None = None
        self.clients: dict[int, socket.socket] = {}  # attached processes' connections by fd
        if listen:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self.listener.bind("\0" + listen)
            self.listener.listen(8)
            self.listener.setblocking(False)

    # -- control ----------------------------------------------------------------------------------
    def _serve_control(self) -> None:
        while True:
            try:
                raw = self.control.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                raw = b""
            if not raw:  # parent closed the channel or died
                self.running = False
                return
            self._reply(self.control, self._handle(json.loads(raw)))

    def _accept(self, poller: select.epoll) -> None:
        assert self.listener is not None
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                return
            conn.setblocking(False)
            self.clients[conn.fileno()] = conn
            poller.register(conn.fileno(), select.EPOLLIN)

    def _serve_client(self, fd: int, poller: select.epoll) -> None:
        conn = self.clients[fd]
        while True:
            try:
                raw = conn.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                raw = b""
            if not raw:  # the attached process let go: the link runs on
                poller.unregister(fd)
                del self.clients[fd]
                conn.close()
                return
            try:
                msg = json.loads(raw)
            except ValueError:
                msg = {"op": None}
            if msg.get("op") == "stop":
                reply = {"ok": False, "error": "only the process that started the link can stop it"}
            else:
                reply = self._handle(msg)
            if not self._reply(conn, reply):
                poller.unregister(fd)
                del self.clients[fd]
                conn.close()
                return

    def _handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg.get("op")
        if op == "set":
            self.shaper.set(msg["params"])
            self.spec = msg.get("spec", self.spec)
            return {"ok": True, "at": time.monotonic()}
        if op == "counters":
            return {"ok": True, "counters": self.shaper.snapshot(), "at": time.monotonic()}
        if op == "get":
            return {"ok": True, "spec": self.spec, "params": self.shaper_params, "pid": os.getpid()}
        if op == "stop":
            self.running = False
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    @property
    def shaper_params(self) -> dict[str, Any]:
        return self.shaper.params

    def _reply(self, conn: socket.socket, msg: dict[str, Any]) -> bool:
        conn.setblocking(True)
        try:
            conn.send(json.dumps(msg).encode())
            return True
        except OSError:
            if conn is self.control:
                self.running = False
            return False
        finally:
            conn.setblocking(False)

    # -- data path ----------------------------------------------------------------------------------
    def run(self) -> None:
        shaper = self.shaper
        counters = shaper.counters
        recv = self.rx.recv
        send = self.tx.send
        clock = time.monotonic
        fifo: deque[tuple[float, bytes]] = deque()  # departures in order: the common case
        heap: list[tuple[float, int, bytes]] = []  # frames jitter moved ahead of others
        seq = 0
        poller = select.epoll()
        rx_fd, ctl_fd = self.rx.fileno(), self.control.fileno()
        listen_fd = self.listener.fileno() if self.listener is not None else -1
        poller.register(rx_fd, select.EPOLLIN)
        poller.register(ctl_fd, select.EPOLLIN)
        if self.listener is not None:
            poller.register(listen_fd, select.EPOLLIN)

        def transmit(frame: bytes) -> None:
            try:
                send(frame)
                counters["packets_out"] += 1
                counters["bytes_out"] += len(frame)
            except OSError:
                counters["send_errors"] += 1

        while self.running:
            # 1. read what arrived
            for _ in range(BATCH):
                try:
                    frame = recv(65536)
                except BlockingIOError:
                    break
                now = clock()
                if shaper.transparent and not fifo and not heap:
                    counters["packets_in"] += 1
                    counters["bytes_in"] += len(frame)
                    transmit(frame)
                    continue
                departure = shaper.admit(now, len(frame))
                if departure is None:
                    continue
                if not fifo or departure >= fifo[-1][0]:
                    fifo.append((departure, frame))
                else:
                    seq += 1
                    heapq.heappush(heap, (departure, seq, frame))
            # 2. send what is due
            now = clock()
            while fifo and fifo[0][0] <= now:
                transmit(fifo.popleft()[1])
                shaper.held -= 1
            while heap and heap[0][0] <= now:
                transmit(heapq.heappop(heap)[2])
                shaper.held -= 1
            # 3. wait for the next arrival, departure or control message
            if fifo or heap:
                due = min(fifo[0][0] if fifo else float("inf"), heap[0][0] if heap else float("inf"))
                wait = due - clock()
            else:
                wait = 1.0
            if wait > FINE_WAIT_S:
                events = poller.poll(wait - 0.001)
            else:
                events = poller.poll(0)
                if not events and wait > 0:
                    time.sleep(min(wait, FINE_SLICE_S))
            for fd, _ in events:
                if fd == ctl_fd:
                    self._serve_control()
                elif fd == listen_fd:
                    self._accept(poller)
                elif fd in self.clients:
                    self._serve_client(fd, poller)
        poller.close()
        for conn in self.clients.values():
            conn.close()
        if self.listener is not None:
            self.listener.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rx", required=True, help="interface frames arrive on")
    parser.add_argument("--tx", required=True, help="interface frames leave on")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--params", default="{}", help="initial impairment (JSON)")
    parser.add_argument("--spec", default="{}", help="initial impairment as the API knows it (JSON), returned by `get`")
    parser.add_argument("--listen", default=None, help="abstract Unix socket name other processes attach to")
    args = parser.parse_args(argv)
    _die_with_parent(args.parent_pid)
    _realtime_priority()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    control = socket.socket(fileno=args.control_fd)
    engine = Engine(args.rx, args.tx, control, json.loads(args.params), json.loads(args.spec), args.listen)
    control.send(json.dumps({"ok": True, "ready": True, "pid": os.getpid()}).encode())
    engine.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
