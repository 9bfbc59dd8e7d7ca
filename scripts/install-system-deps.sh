#!/usr/bin/env bash
# Install every system package skybench and its tests need (Debian/Ubuntu). Run as root.
# Idempotent and non-interactive: re-running it only refreshes the package lists.
# Other parts of the bench append what they need to SYSTEM_PACKAGES below: one package a line,
# with what needs it.
set -euo pipefail

SYSTEM_PACKAGES=(
    python3-venv        # the project's virtualenv
    iproute2            # ip/tc for humans debugging a lab (the bench itself uses pyroute2)
    iperf3              # throughput measurements through emulated links
    nftables            # lab firewall/NAT
    dnsmasq-base        # DHCP/DNS inside the embedded lab
    qemu-system-x86     # netem VM: runs a kernel that has sch_netem (bench/vm)
    busybox-static      # netem VM: the guest's initramfs tools
    busybox-static      # reference router tests: udhcpc, the emulated passengers' DHCP client
    cpio                # netem VM: inspecting/packing initramfs archives
    snmpd               # devices: the real SNMP agent the SNMP driver is tested against
    tcpdump             # reports: ring-buffer packet capture of the DUT's WAN/LAN, attached to failed tests
    chromium            # reports: the headless browser the HTML report test opens the report in
)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps.sh: run as root (e.g. sudo $0)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps.sh: apt-get not found; install these packages with your distribution's tools: ${SYSTEM_PACKAGES[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# The netem VM fetches the current Debian kernel package with apt-get download, which needs
# fresh lists: superseded kernel versions vanish from the archive.
apt-get update
# reports: npm installs Allure Report 3, its pinned Node.js and playwright-core (`npm ci` in
# reports/allure). Only when npm is missing: a host with another Node.js distribution (e.g.
# NodeSource's nodejs, which bundles npm and conflicts with Debian's npm package) already has it.
if ! command -v npm >/dev/null 2>&1; then
    SYSTEM_PACKAGES+=(nodejs npm)
fi
apt-get install -y --no-install-recommends "${SYSTEM_PACKAGES[@]}"
echo "install-system-deps.sh: installed ${#SYSTEM_PACKAGES[@]} packages: ${SYSTEM_PACKAGES[*]}"
