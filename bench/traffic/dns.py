"""DNS on the wire, and a plain client: an A query over UDP, the first address of the answer.

The lab's resolvers (dnsmasq on the reference router) answer the lab's own names only, so the
bench needs no resolver library: passengers and load-generator clients ask through
ask_a_record, the router's boot waits on it, and the bypass attempts build their queries here.
"""

from __future__ import annotations

import secrets
import socket
import struct
import time
from typing import Any

from bench.errors import BenchError


def dns_query(name: str, qtype: int = 1, qid: int | None = None) -> bytes:
    header = struct.pack(">HHHHHH", qid if qid is not None else secrets.randbelow(65536), 0x0100, 1, 0, 0, 0)
    return header + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00" + struct.pack(">HH", qtype, 1)


def dns_qname(packet: bytes) -> str:
    labels, pos = [], 12
    while pos < len(packet) and packet[pos] != 0:
        n = packet[pos]
        labels.append(packet[pos + 1:pos + 1 + n].decode(errors="replace"))
        pos += n + 1
    return ".".join(labels)


def dns_rcode_and_answers(reply: bytes) -> tuple[int, int]:
    _id, flags, _qd, an, _ns, _ar = struct.unpack(">HHHHHH", reply[:12])
    return flags & 0xF, an


# A stub resolver sends its query again when no answer came within a second (glibc with
# "options timeout:1", phones' resolvers alike): a single datagram is lost whenever the first
# hop is still being resolved as a link comes back (the kernel drops what waited on a neighbour
# entry that just failed), and one lost query must not read as "DNS is down".
RETRANSMIT_S = 1.0


def ask_a_record(server: str, name: str, timeout_s: float, sock: Any = None, port: int = 53) -> str:
    """An A query over UDP to server:port, sent again every RETRANSMIT_S until an answer or
    timeout_s (then TimeoutError); the first address of the answer. On `sock` if given (a load
    generator's gevent socket bound to its client), else on a socket of the calling thread's
    namespace."""
    query = dns_query(name)
    deadline = time.monotonic() + timeout_s
    with sock if sock is not None else socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while (left := deadline - time.monotonic()) > 0:
            s.sendto(query, (server, port))
            resend_at = time.monotonic() + min(RETRANSMIT_S, left)
            while (wait := resend_at - time.monotonic()) > 0:
                s.settimeout(wait)
                try:
                    reply, source = s.recvfrom(2048)
                except TimeoutError:
                    break
                if source[0] == server and reply[:2] == query[:2]:  # not a late answer to another query
                    return first_a_record(reply, name)
    raise TimeoutError(f"no DNS answer from {server} for {name} within {timeout_s:g} s")


def first_a_record(reply: bytes, name: str) -> str:
    (_id, flags, qd, an, _ns, _ar) = struct.unpack(">HHHHHH", reply[:12])
    rcode = flags & 0xF
    if rcode != 0 or an == 0:
        raise BenchError(f"DNS has no address for {name} (rcode {rcode})")
    pos = 12
    for _ in range(qd):
        while reply[pos] != 0:
            pos += reply[pos] + 1
        pos += 5
    for _ in range(an):
        if reply[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while reply[pos] != 0:
                pos += reply[pos] + 1
            pos += 1
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", reply[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(reply[pos:pos + 4])
        pos += rdlen
    raise BenchError(f"DNS answer for {name} holds no A record")
