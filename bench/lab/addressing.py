"""The embedded lab's address plan (documented in docs/embedded-lab.md).

Every address lies in 198.18.0.0/15, the block RFC 2544 reserves for benchmarking network
devices, and exists only inside the lab's own namespaces: no lab namespace has a link to the
host's root namespace, so no lab packet can reach any other network.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

LAB_BLOCK = IPv4Network("198.18.0.0/15")
PASSENGER_LAN = IPv4Network("198.18.0.0/21")  # up to 2,045 passengers
OPS_LAN = IPv4Network("198.18.8.0/24")  # POS, CCTV, conductors' terminals
ONBOARD = IPv4Network("198.18.0.0/20")  # both LANs: what the ground routes back to the train
ROUTER_WAN_BLOCK = IPv4Network("198.18.16.0/24")  # router <-> terminal, one /29 per WAN
SKY_BLOCK = IPv4Network("198.18.32.0/19")  # terminal <-> ground gateway, one /24 per WAN
INTERNET = IPv4Network("198.19.0.0/16")  # the ground side's "internet": servers, probe targets
MAX_WANS = 8


@dataclass(frozen=True)
class WanAddresses:
    """Addresses of one WAN path: router -> terminal -> (sky link) -> ground gateway."""

    index: int
    router: IPv4Interface  # the router's WAN port
    terminal_lan: IPv4Interface  # the terminal's port facing the router
    terminal_sky: IPv4Interface  # the terminal's port facing the sky link
    gateway: IPv4Interface  # the ground gateway's port behind the sky link
    probe_target: IPv4Address  # a ground host reachable only through this WAN's gateway


def wan_addresses(index: int) -> WanAddresses:
    if not 0 <= index < MAX_WANS:
        raise ValueError(f"the address plan holds {MAX_WANS} WANs; index {index} is outside it")
    router_net = list(ROUTER_WAN_BLOCK.subnets(new_prefix=29))[index]
    sky_net = list(SKY_BLOCK.subnets(new_prefix=24))[index]
    return WanAddresses(
        index=index,
        router=IPv4Interface(f"{router_net[1]}/29"),
        terminal_lan=IPv4Interface(f"{router_net[2]}/29"),
        terminal_sky=IPv4Interface(f"{sky_net[2]}/24"),
        gateway=IPv4Interface(f"{sky_net[1]}/24"),
        probe_target=IPv4Address(int(INTERNET[0]) + 0xFF00 + 1 + index),  # 198.19.255.(1+i)
    )


ROUTER_PASSENGER = IPv4Interface(f"{PASSENGER_LAN[1]}/{PASSENGER_LAN.prefixlen}")
ROUTER_OPS = IPv4Interface(f"{OPS_LAN[1]}/{OPS_LAN.prefixlen}")
# The first passenger and ops addresses, used by the lab's own checks; the load generator takes
# passengers' addresses from the DUT's DHCP pool instead.
PASSENGER_PROBE = IPv4Interface(f"{PASSENGER_LAN[2]}/{PASSENGER_LAN.prefixlen}")
OPS_PROBE = IPv4Interface(f"{OPS_LAN[2]}/{OPS_LAN.prefixlen}")
# The ground's origin-server address (web, bulk transfers, the "whoami" echo).
GROUND_SERVER = IPv4Interface(f"{INTERNET[1]}/32")
# The lab's domain: every ground service has a name under it (www.skybench.test, pay....); a
# DUT's captive portal may live under it too (the reference router's portal.skybench.test).
LAB_DOMAIN = "skybench.test"
PAYMENT = IPv4Address(int(INTERNET[0]) + 2)  # the emulated payment provider, pay.<domain>
CONNECTIVITY_CHECK = IPv4Address(int(INTERNET[0]) + 3)  # the phones' captive-portal check servers
RESOLVER = IPv4Address(int(INTERNET[0]) + 53)  # the ground's DNS resolver (a DUT's upstream)
# A ground host and resolver only the bypass witness answers on (bench.traffic.bypass), and the
# zone a DNS tunnel would use: the ground's resolver delegates it to that witness, as the
# internet's DNS delegates a tunnel operator's zone to the tunnel's own server.
WITNESS_HOST = IPv4Address(int(INTERNET[0]) + 0x4200 + 1)  # 198.19.66.1
WITNESS_RESOLVER = IPv4Address(int(INTERNET[0]) + 0x3500 + 53)  # 198.19.53.53
TUNNEL_ZONE = "tunnel.example"
WHOAMI_PORT = 7070  # UDP echo on the origin and every probe target, answering with the source address

# The load generator's origin servers (loadgen/ground), one ground address per service name; the
# DUT's DNS answers <name>.<portal domain> with it (the reference router's dnsmasq renders these).
ORIGIN_SERVICES: dict[str, IPv4Address] = {
    name: IPv4Address(int(INTERNET[0]) + 0x100 + 1 + i)  # 198.19.1.(1+i)
    for i, name in enumerate(("www", "cdn", "video", "files", "chat", "calls", "speed", "ops-api"))
}

# What phones and laptops ask to find out whether they are behind a captive portal (HTTP, port
# 80), served on the ground at CONNECTIVITY_CHECK: host -> (path, status, body) of the answer
# that means "online". Behind a portal the DUT answers them itself (a redirect, a login page).
CONNECTIVITY_CHECKS: dict[str, tuple[str, int, bytes]] = {
    "connectivitycheck.gstatic.com": ("/generate_204", 204, b""),  # Android
    "clients3.google.com": ("/generate_204", 204, b""),  # Android (older), Chrome OS
    "www.google.com": ("/gen_204", 204, b""),
    "captive.apple.com": ("/hotspot-detect.html", 200,
                          b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"),  # iOS, macOS
    "www.msftconnecttest.com": ("/connecttest.txt", 200, b"Microsoft Connect Test"),  # Windows
    "detectportal.firefox.com": ("/success.txt", 200, b"success\n"),  # Firefox
}


def ground_names() -> dict[str, IPv4Address]:
    """Every name the ground's resolver answers, with its address."""
    names = {f"origin.{LAB_DOMAIN}": GROUND_SERVER.ip, f"pay.{LAB_DOMAIN}": PAYMENT}
    names.update({f"{name}.{LAB_DOMAIN}": ip for name, ip in ORIGIN_SERVICES.items()})
    names.update({host: CONNECTIVITY_CHECK for host in CONNECTIVITY_CHECKS})
    return names
