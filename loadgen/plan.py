"""What the runner hands a Locust process (JSON, path in SKYBENCH_LOADGEN_PLAN): the profile,
the clients it may use, where to write, and the lab's names and CA."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bench.devices.profile import PortalProfile
from loadgen.lan import LanClient
from loadgen.profile import Profile


class RunPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    profile: Profile
    portal: PortalProfile | None  # how a passenger gets online at the DUT's portal (the lab's DUT profile); None: no DUT
    portal_source: str = "DUT profile"  # the profile's file, for messages
    passengers: list[LanClient]
    ops: list[LanClient]
    out_dir: str
    workers: int = 0  # 0: one local process; n: distributed, the n workers share the clients
    domain: str = "skybench.test"
    ca_file: str
    request_timeout_s: float = 20.0
    # Names -> addresses instead of asking DNS: only for the loopback baseline of the benchmark,
    # which has no DUT (and so no DHCP/DNS server); lab runs always resolve through the DUT.
    hosts: dict[str, str] = {}
