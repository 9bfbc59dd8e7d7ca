"""An emulated passenger device on the DUT's Wi-Fi LAN, for exercising any DUT end to end.

Each passenger gets its own namespace `<prefix>-pax-<name>` (in the lab's ledger) holding a
macvlan on the passengers' Wi-Fi LAN with its own MAC, so the router sees a distinct station:
its own DHCP lease (busybox udhcpc, a real DHCP client), ARP entry and portal session. It gets
online through the DUT's captive portal as the lab's DUT profile describes (bench.traffic.journey).

    with Passenger(lab, "p1") as p:
        lease = p.connect()                      # DHCP: address, router, DNS
        p.go_online()                            # the free tier; go_online("unlimited-trip") buys
        p.http("GET", "http://origin.skybench.test/")
        p.download(seconds=5)                    # bytes/s from the ground's bulk source
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from bench.errors import BenchError
from bench.lab import netns
from bench.steps import recorded, step
from bench.traffic.dns import ask_a_record
from bench.traffic.journey import ACCEPTED_CARD, Online, Reply, journey_for

if TYPE_CHECKING:
    from bench.lab.lab import Lab

T = TypeVar("T")
BULK_SOURCE_PORT = 9001
BULK_SINK_PORT = 9000
UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc calls this on DHCP events; the bench applies the lease itself (pyroute2).
[ "$1" = bound ] || exit 0
{ echo "ip=$ip"; echo "mask=$mask"; echo "router=$router"; echo "dns=$dns"; echo "lease=$lease"; echo "serverid=$serverid"; } > "$LEASE_FILE"
"""


@dataclass
class Lease:
    ip: str
    mask: int
    router: str
    dns: str
    lease_s: int
    server: str
    took_s: float


@dataclass
class Transfer:
    bytes: int
    seconds: float
    ip_bytes_rx: int  # IP bytes the device received (interface counters, without Ethernet headers)
    ip_bytes_tx: int

    @property
    def bits_per_s(self) -> float:
        return self.bytes * 8 / self.seconds if self.seconds > 0 else 0.0


class Passenger:
    IFNAME = "wlan0"

    def __init__(self, lab: Lab, name: str, mac: str | None = None) -> None:
        self.lab = lab
        self.name = f"passenger {name}"
        self.role = f"pax-{name}"
        self.ns = f"{lab.prefix}-{self.role}"
        self.mac = mac or "02:5b:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(4))
        self.lease: Lease | None = None
        self._entry: dict[str, Any] | None = None

    # -- life -----------------------------------------------------------------------------------
    def __enter__(self) -> Passenger:
        try:
            self.join()
        except BaseException:
            self.leave()  # half-built: remove what exists now, not only when the lab goes down
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()

    @recorded("join wifi")
    def join(self) -> None:
        """Create the device's namespace and its Wi-Fi interface (no address yet)."""
        self._entry = self.lab.ledger.record("netns", name=self.ns, role=self.role)
        netns.create(self.ns)
        pax = self.lab.ns("passengers")
        tmp = "px" + secrets.token_hex(4)
        with netns.ipr(pax) as ipr:
            wifi = ipr.link_lookup(ifname="wifi0")[0]
            ipr.link("add", ifname=tmp, kind="macvlan", link=wifi, macvlan_mode="bridge", address=self.mac)
            ipr.link("set", index=ipr.link_lookup(ifname=tmp)[0], net_ns_fd=self.ns)
        with netns.ipr(self.ns) as ipr:
            idx = ipr.link_lookup(ifname=tmp)[0]
            ipr.link("set", index=idx, ifname=self.IFNAME)
            ipr.link("set", index=idx, state="up")
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

    @recorded("leave")
    def leave(self) -> None:
        if self._entry is None:
            return
        netns.remove(self.ns)
        self.lab.ledger.forget(self._entry)
        self._entry = None

    # -- DHCP -----------------------------------------------------------------------------------
    @recorded("dhcp")
    def connect(self, timeout_s: float = 15.0) -> Lease:
        """Get a lease with busybox udhcpc and configure it (address, default route)."""
        lease = dhcp_lease(self.lab, self.ns, self.IFNAME, self.name, timeout_s)
        with netns.ipr(self.ns) as ipr:
            idx = ipr.link_lookup(ifname=self.IFNAME)[0]
            ipr.addr("add", index=idx, address=lease.ip, prefixlen=lease.mask)
            ipr.route("replace", dst="0.0.0.0/0", gateway=lease.router)
        self.lease = lease
        return lease

    # -- the captive portal ---------------------------------------------------------------------
    def go_online(self, package: str | None = None, card: str = ACCEPTED_CARD) -> Online:
        """Through the DUT's portal as its profile says: the free tier, or buy `package`. Raises
        JourneyError naming the step and what its answer lacked."""
        if self.lease is None:
            self.connect()
        assert self.lease is not None
        journey = journey_for(self.lab.config.profile)
        with step(f"{self.name}: go online", package=package or "free tier") as rec:
            online = journey.go_online(self._send, package=package, card=card, values={"mac": self.mac, "ip": self.lease.ip})
            rec["result"] = f"online after {online.seconds:.2f} s" + (" (already)" if online.already else "")
        return online

    def board(self, package: str | None = None) -> Online:
        """Connect and get online with `package`; None buys the profile's whole-trip (unlimited)
        package: a passenger no cap or quota applies to."""
        if package is None:
            package = self.lab.config.profile.portal.unlimited()
            if package is None:
                raise BenchError("the DUT profile sells no unlimited package: a whole-trip passenger cannot board",
                                 where=f"{self.lab.config.profile.source}: portal.packages",
                                 fix="declare the operator's unlimited (whole-trip) package with `tier: unlimited`")
        return self.go_online(package)

    def online(self, timeout_s: float = 10.0) -> bool:
        """The phone's captive check says online (a request answered from the ground). Raises
        OSError (or BenchError) when the check gets no answer within about `timeout_s`."""

        def send(name: str, method: str, url: str, body: bytes | None, headers: dict[str, str], ok: Any) -> Reply:
            return self._send(name, method, url, body, headers, ok, timeout_s=timeout_s)

        return journey_for(self.lab.config.profile).check(send).state == "online"

    def _send(self, name: str, method: str, url: str, body: bytes | None, headers: dict[str, str], ok: Any,
              timeout_s: float = 10.0) -> Reply:
        status, hdrs, data = self.http(method, url, body=body, headers=headers, timeout_s=timeout_s)
        return Reply(status, hdrs, data)

    # -- traffic --------------------------------------------------------------------------------
    def run_in(self, fn: Any) -> Any:
        return netns.run_in(self.ns, fn)

    def http(self, method: str, url: str, body: bytes | str | None = None, headers: dict[str, str] | None = None,
             timeout_s: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request (redirects are not followed: the test looks at them)."""
        u = urlparse(url)
        host = u.hostname or ""

        def go() -> tuple[int, dict[str, str], bytes]:
            address = self.resolve(host, timeout_s=min(3.0, timeout_s)) if not host.replace(".", "").isdigit() else host
            conn = http.client.HTTPConnection(address, u.port or 80, timeout=timeout_s)
            try:
                hdrs = {"Host": host, **(headers or {})}
                data = body.encode() if isinstance(body, str) else body
                if data is not None and "Content-Type" not in hdrs:
                    hdrs["Content-Type"] = "application/x-www-form-urlencoded"
                conn.request(method, (u.path or "/") + (f"?{u.query}" if u.query else ""), body=data, headers=hdrs)
                resp = conn.getresponse()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
            finally:
                conn.close()

        return netns.run_in(self.ns, go)

    def resolve(self, name: str, timeout_s: float = 3.0) -> str:
        """An A query to the DNS server of the lease (a plain UDP DNS client; runs in any thread
        that is already inside the namespace, or enters it)."""
        server = self.lease.dns if self.lease else None
        if server is None:
            raise BenchError("no DNS server yet", where=self.name, fix="connect() first")
        if _in_namespace(self.ns):
            return ask_a_record(server, name, timeout_s)
        return netns.run_in(self.ns, lambda: ask_a_record(server, name, timeout_s))

    def download(self, seconds: float | None = None, nbytes: int = 0, server: str = "198.19.0.1",
                 sample_s: float = 0.05, samples: list[tuple[float, int, int, int]] | None = None,
                 stop_when: Any = None) -> Transfer:
        """Receive from the ground's bulk source for `seconds` (or until nbytes arrived). With
        `samples`, append (elapsed s, payload bytes, IP bytes in+out, Ethernet bytes in) every
        sample_s (0: after every read); stop_when(samples) may end the transfer early."""
        return download_in(self.ns, self.IFNAME, seconds=seconds, nbytes=nbytes, server=server,
                           sample_s=sample_s, samples=samples, stop_when=stop_when)

    def upload(self, seconds: float, server: str = "198.19.0.1") -> Transfer:
        return upload_in(self.ns, self.IFNAME, seconds, server)


def dhcp_lease(lab: Lab, ns: str, ifname: str, who: str, timeout_s: float = 15.0, *, tries: int = 5,
               retry_s: int = 2) -> Lease:
    """A DHCP lease for interface `ifname` in namespace `ns` from busybox udhcpc (not applied:
    the caller configures the address and routes). `who` names the device in errors. Also used by
    the load generator (loadgen/passengers), which keeps hundreds of passengers in one namespace."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise BenchError("busybox is not installed (its udhcpc is the lab's DHCP client)",
                         fix="install busybox-static: scripts/install-system-deps.sh")
    # Two small files, each in the lab's ledger before it exists (a killed run leaves none).
    base = Path(tempfile.gettempdir()) / f"skybench-{ns}-{ifname}"
    script, lease_file = Path(f"{base}.udhcpc.sh"), Path(f"{base}.udhcpc.lease")
    entries = [lab.ledger.record("file", path=str(f)) for f in (script, lease_file)]
    try:
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        start = time.monotonic()
        proc = netns.popen(ns, [busybox, "udhcpc", "-i", ifname, "-f", "-q", "-n", "-t", str(tries), "-T", str(retry_s), "-s", str(script)],
                           env={**os.environ, "LEASE_FILE": str(lease_file)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        took = time.monotonic() - start
        if proc.returncode != 0 or not lease_file.exists():
            raise BenchError(f"no DHCP lease within {timeout_s:.0f} s: {out.decode(errors='replace').strip()}",
                             where=who, fix="is the router's DHCP server running on the passenger LAN?")
        values = dict(line.split("=", 1) for line in lease_file.read_text().splitlines() if "=" in line)
    finally:
        for f, entry in zip((script, lease_file), entries):
            f.unlink(missing_ok=True)
            lab.ledger.forget(entry)
    mask = sum(bin(int(o)).count("1") for o in values["mask"].split(".")) if "." in values["mask"] else int(values["mask"])
    return Lease(ip=values["ip"], mask=mask, router=values["router"].split()[0], dns=values["dns"].split()[0],
                 lease_s=int(values["lease"]), server=values["serverid"], took_s=took)


def dev_counters(ifname: str) -> tuple[int, int, int, int]:
    """rx bytes, rx packets, tx bytes, tx packets of an interface in the calling thread's
    namespace (/proc/thread-self: /proc/self/net would show the process's namespace)."""
    with open("/proc/thread-self/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == ifname:
                v = rest.split()
                return int(v[0]), int(v[1]), int(v[8]), int(v[9])
    raise BenchError(f"no interface {ifname} in this namespace")


def _ip_bytes(c: tuple[int, int, int, int]) -> int:
    # Interface bytes include each frame's 14-byte Ethernet header; IP bytes are what nftables
    # quotas count at the forward hook.
    return c[0] - 14 * c[1] + c[2] - 14 * c[3]


def download_in(ns: str, ifname: str, *, seconds: float | None = None, nbytes: int = 0, server: str = "198.19.0.1",
                sample_s: float = 0.05, samples: list[tuple[float, int, int, int]] | None = None,
                stop_when: Any = None) -> Transfer:
    """Receive from the ground's bulk source inside namespace `ns` (see Passenger.download)."""

    def go() -> Transfer:
        c0 = dev_counters(ifname)
        with socket.create_connection((server, BULK_SOURCE_PORT), timeout=10) as s:
            s.sendall(f"{nbytes}\n".encode())
            s.settimeout(0.5)
            total, start = 0, time.monotonic()
            next_sample = start
            while True:
                now = time.monotonic()
                if seconds is not None and now - start >= seconds:
                    break
                try:
                    data = s.recv(65536)
                except TimeoutError:
                    data = None
                if data == b"":
                    break
                total += len(data or b"")
                if samples is not None and now >= next_sample:
                    c = dev_counters(ifname)
                    samples.append((now - start, total, _ip_bytes(c) - _ip_bytes(c0), c[0] - c0[0]))
                    next_sample = now + sample_s
                    if stop_when is not None and stop_when(samples):
                        break
                if nbytes and total >= nbytes:
                    break
            took = time.monotonic() - start
        c1 = dev_counters(ifname)
        return Transfer(total, took, c1[0] - 14 * c1[1] - (c0[0] - 14 * c0[1]), c1[2] - 14 * c1[3] - (c0[2] - 14 * c0[3]))

    return netns.run_in(ns, go)


def upload_in(ns: str, ifname: str, seconds: float, server: str = "198.19.0.1") -> Transfer:
    """Send to the ground's bulk sink for `seconds` from inside namespace `ns`; the sink says
    what arrived and over how long (bits_per_s is the rate the ground saw)."""

    def go() -> Transfer:
        c0 = dev_counters(ifname)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # A small send buffer: what is still queued when time is up drains at the (maybe
            # capped) rate before the sink can answer; 256 KiB is ~2 s at 1 Mbit/s.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 131072)
            s.settimeout(10)
            s.connect((server, BULK_SINK_PORT))
            end = time.monotonic() + seconds
            chunk = b"\x00" * 65536
            s.settimeout(0.5)
            while time.monotonic() < end:
                try:
                    s.send(chunk)
                except TimeoutError:
                    continue
            s.shutdown(socket.SHUT_WR)
            s.settimeout(60)
            reply = b""
            while not reply.endswith(b"\n"):
                part = s.recv(64)
                if not part:
                    break
                reply += part
        got, span = reply.split()
        c1 = dev_counters(ifname)
        return Transfer(int(got), float(span), c1[0] - 14 * c1[1] - (c0[0] - 14 * c0[1]), c1[2] - 14 * c1[3] - (c0[2] - 14 * c0[3]))

    return netns.run_in(ns, go)


def _in_namespace(name: str) -> bool:
    try:
        return os.stat("/proc/thread-self/ns/net").st_ino == netns.inode(name)
    except OSError:
        return False
