"""A terminal's status, derived from the sky link it sits on: the same numbers the router meets.

- latency: the round trip across the link (uplink + downlink delay) plus the terminal's own small
  processing time: what a ping from the terminal to the ground (Starlink's "PoP ping") measures.
- drop rate: the share of such pings lost: 1 - (1 - loss up) x (1 - loss down), with a
  Gilbert-Elliott direction counted at its long-run loss; 1 during an outage.
- state: an outage is an obstruction for a satellite terminal (a train's outages are tunnels,
  cuttings and station roofs) and a lost cell for an LTE modem; BOOTING after a reboot.
- obstruction: obstructed now, and the share of the time since boot spent obstructed.
- throughput: bytes through the terminal's sky-side port per second (interface counters).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.devices.protocols import Obstruction, TerminalState, TerminalStatus, Throughput
from bench.link.model import LinkSpec

PROCESSING_RTT_MS = {"starlink": 1.0, "oneweb": 2.0, "lte": 5.0}
"""Terminal-internal round-trip time added to the link's delay (modem and framing)."""

HARDWARE = {"starlink": ("rev4_prod1", "2025.01.15.mr48200"), "oneweb": ("HL1120-emulated", "4.2.1"),
            "lte": ("RM520N-emulated", "RM520NGLAAR03A03M4G")}


def ping_drop_rate(spec: LinkSpec) -> float:
    return 1.0 - (1.0 - spec.uplink.mean_loss) * (1.0 - spec.downlink.mean_loss)


def round_trip_ms(spec: LinkSpec, provider: str) -> float:
    return spec.uplink.delay_ms + spec.downlink.delay_ms + PROCESSING_RTT_MS.get(provider, 1.0)


@dataclass
class StatusDeriver:
    """Keeps what a status needs from one sample to the next (boot time, counters, obstruction)."""

    provider: str
    device_id: str
    boot_at: float
    boot_duration_s: float = 0.0
    _last_sample: tuple[float, int, int] | None = None  # (time, sky rx bytes, sky tx bytes)
    _throughput: Throughput = field(default_factory=lambda: Throughput(downlink_bps=0.0, uplink_bps=0.0))
    _obstructed_s: float = 0.0
    _last_at: float | None = None
    _last_obstructed: bool = False

    def reboot(self, now: float, boot_duration_s: float) -> None:
        self.boot_at = now
        self.boot_duration_s = boot_duration_s
        self._obstructed_s = 0.0
        self._last_at = now

    def booting(self, now: float) -> bool:
        return now < self.boot_at + self.boot_duration_s

    def update(self, spec: LinkSpec, now: float, sky_rx_bytes: int, sky_tx_bytes: int) -> TerminalStatus:
        """The status at `now`. sky_rx is what arrived from the sky (downlink), sky_tx what left (uplink)."""
        if self._last_sample is not None and now > self._last_sample[0]:
            t0, rx0, tx0 = self._last_sample
            dt = now - t0
            self._throughput = Throughput(downlink_bps=max(0, sky_rx_bytes - rx0) * 8 / dt,
                                          uplink_bps=max(0, sky_tx_bytes - tx0) * 8 / dt)
        self._last_sample = (now, sky_rx_bytes, sky_tx_bytes)

        outage = spec.uplink.outage or spec.downlink.outage
        if self._last_at is not None and self._last_obstructed:
            self._obstructed_s += max(0.0, now - self._last_at)
        booting = self.booting(now)
        obstructed = outage and not booting and self.provider != "lte"
        self._last_at, self._last_obstructed = now, obstructed

        if booting:
            state = TerminalState.BOOTING
        elif outage:
            state = TerminalState.SEARCHING if self.provider == "lte" else TerminalState.OBSTRUCTED
        else:
            state = TerminalState.CONNECTED
        observed = max(0.0, now - self.boot_at)
        hardware, software = HARDWARE.get(self.provider, ("emulated", "1.0"))
        return TerminalStatus(
            state=state,
            latency_ms=None if state is not TerminalState.CONNECTED else round_trip_ms(spec, self.provider),
            drop_rate=1.0 if state is not TerminalState.CONNECTED else min(1.0, ping_drop_rate(spec)),
            obstruction=Obstruction(
                currently_obstructed=obstructed,
                fraction_obstructed=min(1.0, self._obstructed_s / observed) if observed > 0 else 0.0,
                valid_s=observed,
            ),
            throughput=self._throughput,
            alerts=[],
            uptime_s=int(observed),
            device_id=self.device_id,
            hardware_version=hardware,
            software_version=software,
        )
