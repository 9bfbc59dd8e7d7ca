"""Turn segmentation and checksum offloads off on a link's interfaces (SIOCETHTOOL ioctl).

A userspace bridge sees frames as the kernel hands them over: with TSO/GSO/GRO on, a veth passes
64 KB "super-frames" that the far side cannot transmit; with TX checksum offload on, a frame from
a local stack carries an unfinished checksum that the receiver then rejects. Both are off on the
link's own interfaces and, for veths, on their peers (the end the traffic comes from).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct

from pyroute2 import NetNS

from bench.lab import netns

SIOCETHTOOL = 0x8946
# ethtool_value "set" commands, from linux/ethtool.h
ETHTOOL_SRXCSUM = 0x15
ETHTOOL_STXCSUM = 0x17
ETHTOOL_SSG = 0x19
ETHTOOL_STSO = 0x1F
ETHTOOL_SGSO = 0x24
ETHTOOL_SGRO = 0x2C
# TX checksum first: TSO and scatter-gather depend on it.
_OFF_ORDER = (ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO)


def _ethtool_set(sock: socket.socket, ifname: str, cmd: int, value: int) -> None:
    data = ctypes.create_string_buffer(struct.pack("II", cmd, value))
    ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(data)).ljust(40, b"\0")
    try:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    except OSError as exc:
        # A device without the feature refuses to change it: that is "off" already.
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise


def disable_offloads(ns: str, ifname: str) -> None:
    """Offloads off on one interface inside namespace `ns`."""

    def apply() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for cmd in _OFF_ORDER:
                _ethtool_set(sock, ifname, cmd, 0)

    netns.run_in(ns, apply)


def veth_peer(ns: str, ifname: str) -> tuple[str, str] | None:
    """(namespace, interface) of a veth's other end, when it is in a named namespace."""
    with NetNS(ns) as ipr:
        links = ipr.link("get", ifname=ifname)
        link = links[0]
        info = link.get_attr("IFLA_LINKINFO")
        if info is None or info.get_attr("IFLA_INFO_KIND") != "veth":
            return None
        peer_index = link.get_attr("IFLA_LINK")
        peer_nsid = link.get_attr("IFLA_LINK_NETNSID")
        if peer_index is None:
            return None
        if peer_nsid is None:  # both ends in the same namespace
            return ns, ipr.link("get", index=peer_index)[0].get_attr("IFLA_IFNAME")
        for candidate in netns.list_names():
            if candidate == ns:
                continue
            fd = os.open(str(netns.NETNS_RUN_DIR / candidate), os.O_RDONLY)
            try:
                found = ipr.get_netnsid(fd=fd)
            finally:
                os.close(fd)
            if found and found.get("nsid") == peer_nsid:
                with NetNS(candidate) as other:
                    peers = other.link("get", index=peer_index)
                return candidate, peers[0].get_attr("IFLA_IFNAME")
    return None


def disable_offloads_with_peer(ns: str, ifname: str) -> list[str]:
    """Offloads off on the interface and its veth peer; returns what was changed (for the log)."""
    done = [f"{ns}/{ifname}"]
    disable_offloads(ns, ifname)
    peer = veth_peer(ns, ifname)
    if peer is not None:
        disable_offloads(*peer)
        done.append(f"{peer[0]}/{peer[1]}")
    return done
