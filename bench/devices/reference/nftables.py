"""The router's nftables ruleset: marks for policy routing, NAT per WAN, the captive portal's
walled garden and redirect, per-client quotas and caps, and the QoS class of every packet.

Rulesets are nft's own text, applied with the `nft` tool inside the router namespace
(`nft -f`). pyroute2 has an nftables module, but it cannot yet build sets with concatenated keys,
objref maps (a quota per client) or dynamic meters, which this ruleset needs; nft's text is also
what a vendor reads to compare with their firmware.

Sets and maps the router daemon changes at run time:
    class_mark     traffic class (by LAN port) -> fwmark of the WAN new flows take (failover)
    sessions       MAC . IP of every client that accepted the terms (the portal lets them out)
    unlimited      clients with a whole-trip package (no cap)
    bundle         clients with a data bundle; bundle_quota maps each to its own quota object,
                   counted in the data path on every forwarded packet, both directions
    client_class   free-tier clients -> their HTB class on the passenger port (download cap)
Sets the kernel fills itself:
    client_up, client_down   per-client accounting: an element with a byte counter for every
                             passenger address that sent (received) forwarded traffic
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

from bench.devices.reference.plan import RouterPlan
from bench.lab import addressing, netns

TABLE = "skyrouter"

# HTB classes (skb->priority, set here, is read directly by HTB: no tc filter needed, and this
# kernel has no cls_fw to match marks anyway).
WAN_CLASS_ROUTER = "1:10"
WAN_CLASS_OPS = "1:20"
WAN_CLASS_PASSENGERS = "1:30"


def client_classid(ip: str) -> int:
    """The passenger's own HTB class minor on the passenger port: 0x1000 + host offset in the LAN."""
    offset = int(ipaddress.IPv4Address(ip)) - int(addressing.PASSENGER_LAN.network_address)
    if not 0 < offset < addressing.PASSENGER_LAN.num_addresses:
        raise ValueError(f"{ip} is not in the passenger LAN {addressing.PASSENGER_LAN}")
    return 0x1000 + offset


def quota_name(ip: str) -> str:
    return "bq_" + ipaddress.IPv4Address(ip).packed.hex()


def bytes_per_second(kbit: int) -> int:
    return kbit * 1000 // 8


def render_ruleset(plan: RouterPlan, active_marks: dict[str, int]) -> str:
    """The whole table, replacing any earlier one in one transaction."""
    cfg = plan.config
    wan_ifs = ", ".join(f'"{w.ifname}"' for w in plan.wans)
    lan_ifs = f'"{plan.passenger_if}", "{plan.ops_if}"'
    exempt = ", ".join(str(a) for a in cfg.portal.exempt)
    free = cfg.portal.free_tier
    down_rate, up_rate = bytes_per_second(free.down_kbit), bytes_per_second(free.up_kbit)
    # Policing needs a bucket of roughly 100 ms at the rate for TCP to get near it.
    down_burst, up_burst = max(down_rate // 10, 16000), max(up_rate // 10, 16000)
    portal = plan.passenger_address
    garden = f"{plan.payment_address}"
    masquerade = "\n".join(f'        oifname "{w.ifname}" masquerade' for w in plan.wans)
    class_marks = ", ".join(f'"{ifname}" : {mark:#x}' for ifname, mark in active_marks.items())
    quota_verdict = "goto free_down" if cfg.portal.quota_enforced else ""
    quota_verdict_up = "goto free_up" if cfg.portal.quota_enforced else ""
    if free.mechanism == "htb":
        down_cap = "        meta priority set ip daddr map @client_class"
    else:
        down_cap = (
            f"        meter free_down_meter {{ ip daddr limit rate over {down_rate} bytes/second "
            f"burst {down_burst} bytes }} counter drop"
        )
    portal_rules = ""
    if cfg.portal.enabled:
        portal_rules = """
        ether saddr . ip saddr != @sessions goto walled_garden"""
    exempt_set = f"elements = {{ {exempt} }}" if exempt else ""
    return f"""
table ip {TABLE}
delete table ip {TABLE}
table ip {TABLE} {{
    map class_mark {{ type ifname : mark; elements = {{ {class_marks} }} }}
    set exempt {{ type ipv4_addr; {exempt_set} }}
    set sessions {{ type ether_addr . ipv4_addr; }}
    set unlimited {{ type ipv4_addr; }}
    set bundle {{ type ipv4_addr; }}
    map bundle_quota {{ type ipv4_addr : quota; }}
    map client_class {{ type ipv4_addr : classid; }}
    set client_up {{ type ipv4_addr; size 65535; flags dynamic; counter; }}
    set client_down {{ type ipv4_addr; size 65535; flags dynamic; counter; }}

    chain mark_flows {{
        type filter hook prerouting priority mangle; policy accept;
        # A new flow from a LAN takes its class's active WAN and keeps it (conntrack mark) while
        # that WAN is up: failback moves new flows only. Traffic between the LANs is not marked.
        iifname {{ {lan_ifs} }} ip daddr != {addressing.ONBOARD} ct state new ct mark set iifname map @class_mark
        iifname {{ {lan_ifs} }} ip daddr != {addressing.ONBOARD} meta mark set ct mark
    }}

    chain portal_redirect {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "{plan.passenger_if}" ip saddr @exempt return
        iifname "{plan.passenger_if}" ether saddr . ip saddr @sessions return
        # Unauthenticated web traffic to anywhere but the walled garden lands on the portal.
        iifname "{plan.passenger_if}" ip daddr != {{ {portal}, {garden} }} tcp dport 80 dnat to {portal}:{plan.portal_port}
    }}

    chain nat_out {{
        type nat hook postrouting priority srcnat; policy accept;
{masquerade}
    }}

    chain from_wan {{
        type filter hook input priority filter; policy accept;
        iifname {{ {wan_ifs} }} ct state established,related accept
        iifname {{ {wan_ifs} }} counter drop
    }}

    chain accounting {{
        # After the forward verdicts and before source NAT: what each passenger really exchanged
        # with the WANs (IP bytes), whatever its tier.
        type filter hook postrouting priority filter; policy accept;
        oifname {{ {wan_ifs} }} ip saddr {plan.passenger_lan} update @client_up {{ ip saddr }}
        oifname "{plan.passenger_if}" ip daddr {plan.passenger_lan} ip saddr != {plan.passenger_address} update @client_down {{ ip daddr }}
    }}

    chain router_out {{
        type filter hook output priority filter; policy accept;
        oifname {{ {wan_ifs} }} meta priority set {WAN_CLASS_ROUTER}
    }}

    chain forward {{
        type filter hook forward priority filter; policy drop;
        ct state invalid drop
        # Uplink QoS class on every WAN port (HTB reads skb->priority).
        iifname "{plan.ops_if}" oifname {{ {wan_ifs} }} meta priority set {WAN_CLASS_OPS}
        iifname "{plan.passenger_if}" oifname {{ {wan_ifs} }} meta priority set {WAN_CLASS_PASSENGERS}
        iifname "{plan.passenger_if}" jump from_passengers
        oifname "{plan.passenger_if}" jump to_passengers
        iifname "{plan.ops_if}" accept
        oifname "{plan.ops_if}" ct state established,related accept
        counter
    }}

    chain from_passengers {{
        ip saddr @exempt accept{portal_rules}
        ip saddr @unlimited accept
        ip saddr @bundle quota name ip saddr map @bundle_quota {quota_verdict_up}
        ip saddr @bundle accept
        goto free_up
    }}

    chain to_passengers {{
        ip daddr @exempt accept
        ct state new counter drop  # nothing from outside opens a flow to a passenger
        ip daddr @unlimited accept
        ip daddr @bundle quota name ip daddr map @bundle_quota {quota_verdict}
        ip daddr @bundle accept
        goto free_down
    }}

    chain free_up {{
        meter free_up_meter {{ ip saddr limit rate over {up_rate} bytes/second burst {up_burst} bytes }} counter drop
        accept
    }}

    chain free_down {{
{down_cap}
        accept
    }}

    chain walled_garden {{
        ip daddr {garden} tcp dport {{ 80, 443 }} accept
        meta l4proto tcp counter reject with tcp reset
        counter reject
    }}
}}
"""


def apply_in_namespace(ns: str, text: str, path: Path) -> Path:
    """Load a ruleset inside a namespace from the bench (the file stays, for people to read)."""
    path.write_text(text)
    netns.run(ns, ["nft", "-f", str(path)])
    return path


def apply_here(commands: str) -> None:
    """Apply nft commands in this process's namespace (the router daemon runs inside the router's)
    as one transaction: either all of them take effect or none."""
    proc = subprocess.run(["nft", "-f", "-"], input=commands, capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise RuntimeError(f"nft refused: {proc.stderr.strip()}\n--- commands ---\n{commands}")


def list_here(*what: str) -> dict:
    """`nft -j list ...` in this namespace, parsed."""
    proc = subprocess.run(["nft", "-j", "list", *what], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise RuntimeError(f"nft list {' '.join(what)}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def client_bytes(set_name: str) -> dict[str, int]:
    """Bytes counted per client address in one of the accounting sets."""
    data = list_here("set", "ip", TABLE, set_name)
    out: dict[str, int] = {}
    for item in data.get("nftables", []):
        for elem in item.get("set", {}).get("elem", []):
            e = elem.get("elem", {}) if isinstance(elem, dict) else {}
            if "val" in e and "counter" in e:
                out[str(e["val"])] = int(e["counter"]["bytes"])
    return out


def quota_used(name: str) -> int | None:
    """Bytes a client's bundle quota object has counted (None: no such quota)."""
    try:
        data = list_here("quota", "ip", TABLE, name)
    except RuntimeError:
        return None
    for item in data.get("nftables", []):
        if "quota" in item:
            return int(item["quota"].get("used", 0))
    return None
