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
# The ground's origin-server address (web, video, downloads, DNS, payment live here or nearby).
GROUND_SERVER = IPv4Interface(f"{INTERNET[1]}/32")

# The load generator's origin servers (loadgen/ground), one ground address per service name; the
# DUT's DNS answers <name>.<portal domain> with it (the reference router's dnsmasq renders these).
ORIGIN_SERVICES: dict[str, IPv4Address] = {
    name: IPv4Address(int(INTERNET[0]) + 0x100 + 1 + i)  # 198.19.1.(1+i)
    for i, name in enumerate(("www", "cdn", "video", "files", "chat", "calls", "speed", "ops-api"))
}
