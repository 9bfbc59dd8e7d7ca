"""Rates and cuts from a download's samples (elapsed s, payload B, IP bytes in+out, Ethernet bytes
in; bench.traffic.passenger.download): a rate over a span, and where a bundle was cut (the IP
bytes at the last moment the client still received at premium speed: faster than 20 x the
free-tier cap over 100 ms)."""

from __future__ import annotations

from bench.errors import BenchError

Sample = tuple[float, int, int, int]


def rate_bps(samples: list[Sample], t0: float, t1: float, column: int = 1) -> float:
    """Bits/s of a sample column between two elapsed times (1 payload, 2 IP, 3 Ethernet)."""
    window = [s for s in samples if t0 <= s[0] <= t1]
    if len(window) < 2:
        raise BenchError(f"fewer than two samples between {t0} s and {t1} s")
    first, last = window[0], window[-1]
    return (last[column] - first[column]) * 8 / (last[0] - first[0])


def slow_for(seconds: float, cap_bps: float, after_bytes: float):  # noqa: ANN201 - a predicate for download(stop_when=)
    """stop_when: the transfer ran below 3 x the cap for `seconds`, after `after_bytes` IP bytes."""

    def stop(s: list[Sample]) -> bool:
        if len(s) < 2 or s[-1][2] < after_bytes:
            return False
        back = [x for x in s if x[0] >= s[-1][0] - seconds]
        span = s[-1][0] - back[0][0]
        return span >= seconds * 0.95 and (s[-1][2] - back[0][2]) * 8 / span < 3 * cap_bps

    return stop


def cut_point(samples: list[Sample], cap_bps: float) -> Sample | None:
    for i in range(len(samples) - 1, 0, -1):
        j = max(k for k in range(i + 1) if samples[k][0] <= samples[i][0] - 0.1) if samples[i][0] > 0.1 else 0
        if (samples[i][2] - samples[j][2]) * 8 / max(samples[i][0] - samples[j][0], 1e-6) > 20 * cap_bps:
            return samples[i]
    return None
