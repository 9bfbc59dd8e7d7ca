"""The suites users run. Each suite lists the areas it is meant to cover, so a run can say
honestly which exist yet: an area is present when its test module is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Area:
    title: str
    module: str  # test module inside the suite's folder
    issue: int  # the issue that builds it, for areas not present yet

    def present(self, suite_dir: Path) -> bool:
        return (suite_dir / self.module).exists()


@dataclass(frozen=True)
class Suite:
    name: str
    marker: str
    areas: tuple[Area, ...]

    @property
    def path(self) -> Path:
        return HERE / self.name


SUITES: dict[str, Suite] = {
    "nightly": Suite(
        "nightly",
        "nightly",
        (
            Area("embedded lab: every WAN path carries traffic", "test_lab_paths.py", 3),
            Area("sky links: impairments act as set", "test_sky_links.py", 4),
            Area("throughput per WAN vs the emulated link", "test_throughput.py", 8),
            Area("portal: tiers, purchases, quotas, bypass attempts", "test_portal.py", 8),
            Area("failover and dead zones", "test_failover.py", 8),
            Area("route replays with passengers", "test_route_replays.py", 8),
            Area("operational traffic priority", "test_operational_priority.py", 8),
            Area("supply interruptions", "test_power.py", 9),
        ),
    ),
    "certification": Suite("certification", "certification", (Area("certification requirements", "test_certification.py", 8),)),
    "repro": Suite("repro", "repro", (Area("field-bug repro", "test_repro.py", 8),)),
}
