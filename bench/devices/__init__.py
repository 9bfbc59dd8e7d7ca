"""Devices the bench drives: the onboard router (DUT) and the WAN terminals.

`bench.devices.reference` is the embedded lab's own onboard router: real Linux networking in the
lab's router namespace (policy routing, NAT, HTB, dnsmasq, a captive portal), what QA and CI test
against when no hardware is attached and the baseline a vendor's router is compared with.
"""
