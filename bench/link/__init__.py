"""Link emulation: the impairment model, the netem and userspace backends, and the control API.

    with open_link("sb1a2b3c-sky-starlink", "term", "gnd", backend="auto", spec=spec) as link:
        link.set_direction("uplink", delay="30ms", rate="15mbit")
        link.outage(True)
        print(link.backend_name, link.counters())
"""

from bench.link.api import EmulatedLink, attach_link, open_link
from bench.link.backend import DirectionCounters, LinkAddress, LinkCounters, kernel_has_netem, select_backend
from bench.link.model import Impairment, LinkSpec, impairment_from_strings

__all__ = [
    "DirectionCounters", "EmulatedLink", "Impairment", "LinkAddress", "LinkCounters", "LinkSpec", "attach_link",
    "impairment_from_strings", "kernel_has_netem", "open_link", "select_backend",
]
