"""A raw SCPI socket server (VISA `TCPIP0::HOST::PORT::SOCKET`) in front of an emulated instrument.

It listens on loopback only, or inside a lab namespace given by name: the emulated instruments
must never be reachable from (or send to) any real network. One thread accepts, one thread per
connection reads lines and answers; the instrument itself serialises commands under its lock.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from types import TracebackType

from bench.errors import BenchError
from bench.instruments.emulated.base import EmulatedInstrument
from bench.lab import netns

POLL_S = 0.1  # how often blocked threads look at the stop flag
MAX_LINE = 64 * 1024  # a program message longer than this is garbage, not SCPI


class ScpiSocketServer:
    """Serve `instrument` on HOST:PORT (port 0: a free one, see `.port` and `.resource`)."""

    def __init__(self, instrument: EmulatedInstrument, *, host: str = "127.0.0.1", port: int = 0,
                 netns_name: str | None = None, response_terminator: str = "\n") -> None:
        if netns_name is None and not ipaddress.ip_address(host).is_loopback:
            raise BenchError(
                f"an emulated instrument may listen on loopback only, not {host}",
                where=f"emulated {instrument.identity.model}",
                fix="use host 127.0.0.1, or give netns_name to listen inside a lab namespace",
            )
        self.instrument = instrument
        self.host = host
        self.netns_name = netns_name
        self.response_terminator = response_terminator.encode()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._listener = self._listen(port)
        self.port: int = self._listener.getsockname()[1]
        accept = threading.Thread(target=self._accept_loop, name=f"scpi-accept:{self.port}", daemon=True)
        self._threads.append(accept)
        accept.start()

    @property
    def resource(self) -> str:
        """The VISA resource string a driver opens to reach this instrument."""
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"

    def _listen(self, port: int) -> socket.socket:
        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, port))
            sock.listen(8)
            sock.settimeout(POLL_S)
            return sock

        try:
            # A socket belongs to the namespace of the thread that created it, for its lifetime.
            return netns.run_in(self.netns_name, make) if self.netns_name else make()
        except OSError as exc:
            where = f"{self.host}:{port}" + (f" in namespace {self.netns_name}" if self.netns_name else "")
            raise BenchError(
                f"the emulated {self.instrument.identity.model} cannot listen on {where}: {exc.strerror}",
                fix="pick another port (0 picks a free one) or stop what already listens there",
            ) from exc

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return  # the listener was closed
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(POLL_S)
            with self._clients_lock:
                self._clients.add(conn)
            worker = threading.Thread(target=self._serve, args=(conn,), name=f"scpi-conn:{self.port}",
                                      daemon=True)
            self._threads.append(worker)
            worker.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except (TimeoutError, socket.timeout):
                    continue
                except OSError:
                    return
                if not data:
                    return  # the client closed
                buffer += data
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    answer = self.instrument.execute(raw.decode("ascii", "replace").rstrip("\r"))
                    if answer is not None:
                        conn.sendall(answer.encode() + self.response_terminator)
                if len(buffer) > MAX_LINE:
                    buffer = b""
        except OSError:
            return
        finally:
            with self._clients_lock:
                self._clients.discard(conn)
            conn.close()

    def close(self) -> None:
        """Stop listening, drop every connection and wait for the threads."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._listener.close()
        with self._clients_lock:
            for conn in list(self._clients):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> ScpiSocketServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
