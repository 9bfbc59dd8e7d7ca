"""Runs INSIDE the qemu guest (started by test_vm_runner.py): netem through pyroute2, measured.

Two namespaces joined by a veth pair; a UDP echo server in one, a client in the other. RTT is
measured without netem, then with `delay 20 ms, loss 10 %` on the client's side. Results go to a
JSON file in the writable share for the host-side test to judge; this script asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import threading
import time
from pathlib import Path

from pyroute2.netlink.rtnl.tcmsg.common import tick_in_usec

from bench.lab import netns
from bench.lab.state import new_prefix

CLIENT_IP, SERVER_IP, PORT = "192.0.2.1", "192.0.2.2", 7007
REPLY_TIMEOUT_S = 0.3


def udp_socket_in(ns: str) -> socket.socket:
    # A socket belongs to the namespace of the thread that created it.
    return netns.run_in(ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))


def echo_forever(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(2048)
        except TimeoutError:
            continue
        sock.sendto(data, peer)


def probe(client: socket.socket, count: int) -> dict[str, object]:
    """Send `count` numbered probes one at a time; a probe without a reply in time is lost."""
    rtts_ms: list[float] = []
    lost = 0
    client.settimeout(REPLY_TIMEOUT_S)
    for seq in range(count):
        sent = time.perf_counter()
        client.sendto(struct.pack("!I", seq) + b"x" * 60, (SERVER_IP, PORT))
        deadline = sent + REPLY_TIMEOUT_S
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                lost += 1
                break
            client.settimeout(remaining)
            try:
                data = client.recv(2048)
            except TimeoutError:
                lost += 1
                break
            if struct.unpack("!I", data[:4])[0] == seq:  # ignore late replies to earlier probes
                rtts_ms.append((time.perf_counter() - sent) * 1000)
                break
    return {
        "sent": count,
        "lost": lost,
        "rtts_ms": rtts_ms,
        "median_ms": statistics.median(rtts_ms) if rtts_ms else None,
        "min_ms": min(rtts_ms) if rtts_ms else None,
        "p90_ms": statistics.quantiles(rtts_ms, n=10)[-1] if len(rtts_ms) >= 2 else None,
        "max_ms": max(rtts_ms) if rtts_ms else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()

    started = time.perf_counter()
    result: dict[str, object] = {"uname_r": os.uname().release}
    prefix = new_prefix()
    ns_client, ns_server = f"{prefix}-client", f"{prefix}-server"
    stop = threading.Event()
    try:
        netns.create(ns_client)
        netns.create(ns_server)
        with netns.ipr(ns_client) as ipr:
            ipr.link("add", ifname="veth-c", kind="veth", peer={"ifname": "veth-s", "net_ns_fd": ns_server})
        for ns, ifname, ip in ((ns_client, "veth-c", CLIENT_IP), (ns_server, "veth-s", SERVER_IP)):
            with netns.ipr(ns) as ipr:
                index = ipr.link_lookup(ifname=ifname)[0]
                ipr.addr("add", index=index, address=ip, prefixlen=24)
                ipr.link("set", index=index, state="up")
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

        server = udp_socket_in(ns_server)
        server.bind((SERVER_IP, PORT))
        client = udp_socket_in(ns_client)
        echo = threading.Thread(target=echo_forever, args=(server, stop), daemon=True)
        echo.start()

        result["baseline"] = probe(client, 30)

        with netns.ipr(ns_client) as ipr:
            index = ipr.link_lookup(ifname="veth-c")[0]
            # pyroute2 takes netem's delay in microseconds and loss in percent.
            ipr.tc("add", "netem", index, delay=20000, loss=10)
            qdiscs = [
                {"kind": q.get_attr("TCA_KIND"), "settings": _netem_settings(q)}
                for q in ipr.get_qdiscs(index=index)
            ]
        result["qdiscs"] = qdiscs
        result["netem"] = probe(client, args.probes)
    finally:
        stop.set()
        netns.remove(ns_client)
        netns.remove(ns_server)
    result["namespaces_left"] = [n for n in netns.list_names() if n.startswith(prefix)]
    result["probe_s"] = time.perf_counter() - started
    args.out.write_text(json.dumps(result))
    base, netem = result["baseline"], result["netem"]
    print(
        f"probe done in {result['probe_s']:.1f} s: baseline median {base['median_ms']:.2f} ms; "  # type: ignore[index]
        f"netem delay 20 ms loss 10 %: min {netem['min_ms']:.2f} median {netem['median_ms']:.2f} "  # type: ignore[index]
        f"p90 {netem['p90_ms']:.2f} max {netem['max_ms']:.2f} ms, lost {netem['lost']}/{netem['sent']}"  # type: ignore[index]
    )


def _netem_settings(qdisc: object) -> dict[str, float] | None:
    """Delay and loss as the kernel reports them back (delay in scheduler ticks, loss as u32)."""
    options = qdisc.get_attr("TCA_OPTIONS")  # type: ignore[attr-defined]
    if options is None or "delay" not in options:
        return None
    return {
        "delay_us": options["delay"] / tick_in_usec,
        "loss_pct": options["loss"] / 2**32 * 100,
    }


if __name__ == "__main__":
    main()
