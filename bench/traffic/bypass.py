"""Portal bypass attempts by a passenger who has not paid, and the ground-side witness that says
whether an attempt got through: every attempt carries a unique token, and the witness (in the
ground namespace, on addresses of its own that no lab name resolves to) records every token that
reaches it over TCP, UDP, DNS or ICMP. An attempt got through when its token reached the ground.

    with GroundWitness(lab) as witness:
        got_through = attempt_direct_ip_tcp(attacker.ns, witness, token)
"""

from __future__ import annotations

import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from bench.lab import addressing, netns
from bench.steps import step
from bench.traffic.dns import dns_qname

if TYPE_CHECKING:
    from bench.lab.lab import Lab

OUTSIDE_HOST = str(addressing.WITNESS_HOST)  # a ground host by address only (no lab name resolves to it)
OUTSIDE_RESOLVER = str(addressing.WITNESS_RESOLVER)  # a DNS server on the ground that is not the router's
TUNNEL_DOMAIN = f"t.{addressing.TUNNEL_ZONE}"  # the zone a DNS tunnel would use (its "authoritative" server: the witness)
TCP_PORTS = (80, 443, 8080, 22)
UDP_PORTS = (443, 5060)


def new_token() -> str:
    return "sbx" + secrets.token_hex(6)


@dataclass
class GroundWitness:
    lab: Lab
    seen: list[tuple[float, str, str]] = field(default_factory=list)  # (time, channel, text)
    _sockets: list[socket.socket] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _added: list[str] = field(default_factory=list)

    # -- life ---------------------------------------------------------------------------------------
    def __enter__(self) -> GroundWitness:
        try:
            with step("ground witness", host=OUTSIDE_HOST, resolver=OUTSIDE_RESOLVER, tcp=TCP_PORTS, udp=UDP_PORTS):
                self._add_addresses()
                self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _add_addresses(self) -> None:
        with netns.ipr(self.lab.ns("ground")) as ipr:
            lo = ipr.link_lookup(ifname="lo")[0]
            present = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=lo, family=2)}
            for address in (OUTSIDE_HOST, OUTSIDE_RESOLVER):
                if address not in present:
                    ipr.addr("add", index=lo, address=address, prefixlen=32)
                    self._added.append(address)

    def _open(self) -> None:
        def sockets() -> list[tuple[str, socket.socket]]:
            out = []
            for port in TCP_PORTS:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((OUTSIDE_HOST, port))
                s.listen(16)
                out.append((f"tcp:{port}", s))
            for port in UDP_PORTS:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((OUTSIDE_HOST, port))
                out.append((f"udp:{port}", s))
            for address in (OUTSIDE_RESOLVER, OUTSIDE_HOST):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((address, 53))
                out.append(("dns", s))
            out.append(("icmp", socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)))
            return out

        for channel, s in netns.run_in(self.lab.ns("ground"), sockets):
            s.settimeout(0.2)
            self._sockets.append(s)
            target = self._serve_tcp if channel.startswith("tcp") else self._serve_dns if channel == "dns" else self._serve_dgram
            t = threading.Thread(target=target, args=(channel, s), daemon=True, name=f"witness {channel}")
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for s in self._sockets:
            s.close()
        self._sockets.clear()
        if self._added:
            with netns.ipr(self.lab.ns("ground")) as ipr:
                lo = ipr.link_lookup(ifname="lo")[0]
                for address in self._added:
                    ipr.addr("del", index=lo, address=address, prefixlen=32)
            self._added.clear()

    # -- serving ------------------------------------------------------------------------------------
    def _note(self, channel: str, data: bytes) -> None:
        self.seen.append((time.time(), channel, data.decode(errors="replace")))

    def _serve_tcp(self, channel: str, s: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = s.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(4096)
                    self._note(channel, data)
                    conn.sendall(b"ground: " + data)
                except OSError:
                    pass

    def _serve_dgram(self, channel: str, s: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data, peer = s.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            self._note(channel, data)
            if channel != "icmp":
                s.sendto(b"ground: " + data, peer)  # the kernel answers ICMP echo itself

    def _serve_dns(self, channel: str, s: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data, peer = s.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            name = dns_qname(data)
            self._note(channel, name.encode())
            s.sendto(dns_answer(data), peer)

    # -- reading ------------------------------------------------------------------------------------
    def saw(self, token: str) -> bool:
        return any(token in text for _, _, text in self.seen)


# -- the tunnel server's answers -------------------------------------------------------------------
def dns_answer(query: bytes) -> bytes:
    """A TXT (or A) answer carrying data, as a tunnel's authoritative server would give."""
    qid = query[:2]
    end = query.index(b"\x00", 12) + 5
    question = query[12:end]
    qtype = struct.unpack(">H", question[-4:-2])[0]
    if qtype == 16:
        txt = b"ground-data"
        rdata = bytes([len(txt)]) + txt
    else:
        qtype, rdata = 1, socket.inet_aton(OUTSIDE_HOST)
    answer = b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 60, len(rdata)) + rdata
    return qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + question + answer
