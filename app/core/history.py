"""SLI history from bucket rings: points of (end, good, total) at a step.

The 1-minute ring covers the last 2 hours, the 6-minute ring 6 hours, the
24-minute ring 24 hours, the 1-hour ring 35 days and the 1-day ring 400 days; each point sums
the buckets in `(end - step, end]`, using the finest ring that covers the point
and whose bucket divides the step. Points the rings no longer cover are left
out rather than reported as empty. The same rule
answers for a live state and for the buckets a read model copied from one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.core.ring import RingView
from app.core.state import WindowState
from app.core.windows import HISTORY_TIERS


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    end_us: int
    good: int
    total: int


@dataclass(frozen=True, slots=True)
class Buckets:
    """One ring as history reads it: its width, length, newest bucket and counts."""

    bucket_us: int
    n: int
    head: int
    counts: Callable[[int], tuple[int, int]]  # bucket index -> (good, total)

    @classmethod
    def of_ring(cls, ring: RingView) -> Buckets:
        def counts(k: int) -> tuple[int, int]:
            return ring.bucket(k % ring.n)

        return cls(ring.bucket_us, ring.n, ring.head, counts)

    def sum(self, first_k: int, last_k: int) -> tuple[int, int] | None:
        """Sum of buckets first_k..last_k, or None if the ring no longer holds all of them."""
        if self.head - first_k >= self.n:
            return None
        good = total = 0
        for k in range(first_k, min(last_k, self.head) + 1):
            g, t = self.counts(k)
            good += g
            total += t
        return good, total


def state_buckets(state: WindowState) -> list[Buckets]:
    return [Buckets.of_ring(state.rings.view(tier)) for tier in HISTORY_TIERS]


def history(buckets: Sequence[Buckets], now_us: int, start_us: int, end_us: int, step_us: int) -> list[HistoryPoint]:
    """Points ending at start+step, start+2*step, ... <= end (aligned to the step);
    `buckets` finest first."""
    if step_us <= 0 or end_us <= start_us:
        return []
    points = []
    first_end = (start_us // step_us + 1) * step_us
    last_end = min(end_us, now_us + step_us)
    for point_end in range(first_end, last_end + 1, step_us):
        for tier in buckets:
            if step_us % tier.bucket_us:
                continue
            last_k = point_end // tier.bucket_us
            sums = tier.sum(last_k - step_us // tier.bucket_us + 1, last_k)
            if sums is not None:
                points.append(HistoryPoint(point_end, *sums))
                break
    return points
