"""Inside the Locust process (gevent): sockets that belong to one client of the train's LANs.

Every socket a user opens is bound to its client's address (so it leaves by the client's own
interface and MAC, see loadgen.lan), created in the client's namespace (ops devices live in the
ops namespace while the process runs in the passengers one: setns around socket(), which cannot
yield), and names are resolved by the client's DHCP-given DNS server, never by the host's.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

import gevent.socket as gsocket
from geventhttpclient.client import HTTPClient, HTTPClientPool
from geventhttpclient.url import URL

from bench.traffic.dns import ask_a_record
from loadgen.lan import LanClient

CLONE_NEWNET = 0x40000000
DNS_CACHE_S = 60.0
DNS_TIMEOUT_S = 6.0
_libc = ctypes.CDLL(None, use_errno=True)
_ns_fds: dict[str, int] = {}
_home_fd: int | None = None
_home_inode: int | None = None


def _enter(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


def client_socket(client: LanClient, family: int, kind: int, proto: int = 0) -> gsocket.socket:
    """A gevent socket in the client's namespace, bound to the client's address."""
    global _home_fd, _home_inode
    if _home_fd is None:
        _home_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        _home_inode = os.fstat(_home_fd).st_ino
    fd = _ns_fds.get(client.namespace)
    if fd is None:
        fd = _ns_fds[client.namespace] = os.open(f"/run/netns/{client.namespace}", os.O_RDONLY | os.O_CLOEXEC)
    elsewhere = os.fstat(fd).st_ino != _home_inode
    if elsewhere:
        _enter(fd)
    try:
        sock = gsocket.socket(family, kind, proto)
    finally:
        if elsewhere:
            _enter(_home_fd)
    sock.bind((client.ip, 0))
    return sock


class Resolver:
    """A client's stub resolver: A queries to its lease's DNS server, answers cached a minute."""

    def __init__(self, client: LanClient, hosts: dict[str, str] | None = None) -> None:
        self.client = client
        self.hosts = hosts or {}
        self.cache: dict[str, tuple[str, float]] = {}

    def resolve(self, name: str) -> str:
        if name.replace(".", "").isdigit():
            return name
        if name in self.hosts:
            return self.hosts[name]
        hit = self.cache.get(name)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        sock = client_socket(self.client, gsocket.AF_INET, gsocket.SOCK_DGRAM)
        try:
            address = ask_a_record(self.client.dns, name, DNS_TIMEOUT_S, sock)
        except OSError as exc:  # TimeoutError among them
            raise OSError(f"{self.client.name}: no DNS answer for {name} from {self.client.dns}: {exc}") from exc
        self.cache[name] = (address, time.monotonic() + DNS_CACHE_S)
        return address


class ClientPool(HTTPClientPool):
    """geventhttpclient's per-host client pool, with every connection made by one LAN client."""

    def __init__(self, client: LanClient, resolver: Resolver, **kw: Any) -> None:
        super().__init__(**kw)
        self.lan_client = client
        self.resolver = resolver

    def get_client(self, url: str | URL) -> HTTPClient:
        if not isinstance(url, URL):
            url = URL(url)
        key = url.host, url.port
        if key in self.clients:
            return self.clients[key]
        http = super().get_client(url)
        pool = http._connection_pool
        host, port = url.host, url.port
        lan, resolver = self.lan_client, self.resolver
        pool._resolve = lambda: [(gsocket.AF_INET, gsocket.SOCK_STREAM, gsocket.IPPROTO_TCP, "", (resolver.resolve(host), port))]
        pool._create_tcp_socket = lambda family, kind, proto: client_socket(lan, family, kind, proto)
        return http


def refuse_host_resolver() -> None:
    """No lab traffic may ask the host's resolver: any name lookup that bypasses a client's
    Resolver fails loudly instead."""

    def refuse(host: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(host, str) and host.replace(".", "").isdigit():
            return _real_getaddrinfo(host, *args, **kw)
        raise OSError(f"name lookup of {host!r} outside a lab client's resolver (refused: it would ask the host's DNS)")

    gsocket.getaddrinfo = refuse  # type: ignore[assignment]


_real_getaddrinfo = gsocket.getaddrinfo
