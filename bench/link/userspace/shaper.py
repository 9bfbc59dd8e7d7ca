"""Per-direction impairment decisions of the userspace backend: stdlib only, no I/O.

`Shaper.admit` is called once per arriving frame and returns the frame's departure time (or None
when it is dropped); it follows netem's enqueue path step by step so both backends agree:
outage/loss first, then the queue limit, then delay + jitter, then serialization at the rate
behind the packets already held (netem's `rate`: tts = max(last tts, now + delay) + len / rate).
"""

from __future__ import annotations

import random
from typing import Any

COUNTER_NAMES = (
    "packets_in", "bytes_in", "packets_out", "bytes_out",
    "dropped_loss", "dropped_outage", "dropped_queue_full", "send_errors",
)


class Shaper:
    """State of one direction: parameters, Gilbert-Elliott state, virtual clock, counters."""

    def __init__(self, params: dict[str, Any], *, seed: int | None = None) -> None:
        self._rand = random.Random(seed).random
        self.ge_bad = False
        self.last_departure = 0.0
        self.held = 0  # packets admitted and not yet sent: what the queue limit counts
        self.counters = dict.fromkeys(COUNTER_NAMES, 0)
        self.set(params)

    def set(self, params: dict[str, Any]) -> None:
        """Take new parameters; packets already held keep their departure times (as netem)."""
        self.params = dict(params)
        self.delay_s = float(params.get("delay_ms", 0.0)) / 1000.0
        self.jitter_s = float(params.get("jitter_ms", 0.0)) / 1000.0
        self.keep_order = bool(params.get("jitter_keeps_order", False))
        self.loss = float(params.get("loss", 0.0))
        ge_p = params.get("ge_p")
        self.gilbert_elliott = ge_p is not None
        self.ge_p = float(ge_p or 0.0)
        self.ge_r = float(params.get("ge_r") or 0.0)
        self.ge_loss_bad = float(params.get("ge_loss_bad", 1.0))
        self.ge_loss_good = float(params.get("ge_loss_good", 0.0))
        rate = params.get("rate_bps")
        self.seconds_per_byte = 8.0 / float(rate) if rate else 0.0
        self.limit = int(params.get("limit_packets") or 1000)
        self.outage = bool(params.get("outage", False))
        # The frame can skip the queue entirely: nothing delays, shapes or drops it.
        self.transparent = not (
            self.delay_s or self.jitter_s or self.loss or self.gilbert_elliott
            or self.seconds_per_byte or self.outage
        )

    def lost(self) -> bool:
        """One loss decision, in netem's order (loss_gilb_ell / random loss)."""
        rand = self._rand
        if self.gilbert_elliott:
            if self.ge_bad:
                if rand() < self.ge_r:
                    self.ge_bad = False
                return rand() < self.ge_loss_bad
            if rand() < self.ge_p:
                self.ge_bad = True
            return rand() < self.ge_loss_good
        return self.loss > 0.0 and rand() < self.loss

    def admit(self, now: float, length: int) -> float | None:
        """Departure time for a frame of `length` bytes arriving at `now`, or None if dropped."""
        c = self.counters
        c["packets_in"] += 1
        c["bytes_in"] += length
        if self.outage:
            c["dropped_outage"] += 1
            return None
        if (self.loss or self.gilbert_elliott) and self.lost():
            c["dropped_loss"] += 1
            return None
        if self.held >= self.limit:
            c["dropped_queue_full"] += 1
            return None
        departure = now + self.delay_s
        if self.jitter_s:
            departure += (2.0 * self._rand() - 1.0) * self.jitter_s
        if self.seconds_per_byte:
            if departure < self.last_departure:
                departure = self.last_departure
            departure += length * self.seconds_per_byte
        elif self.keep_order and departure < self.last_departure:
            departure = self.last_departure
        if departure > self.last_departure:
            self.last_departure = departure
        self.held += 1
        return departure

    def snapshot(self) -> dict[str, int]:
        return {**self.counters, "queue_depth": self.held}
