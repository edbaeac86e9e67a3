"""SLI history from the window buckets: points of (end, good, total) at a step.

The 1-minute ring covers the last 24 hours and the 1-hour ring the last 30
days; each point sums the buckets in `(end - step, end]`, using the finest
ring that covers the point and whose bucket divides the step. Points the rings
no longer cover are left out rather than reported as empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.ring import Ring
from app.core.state import WindowState
from app.core.windows import HOUR_US, MINUTE_US

_MINUTE_TIER, _HOUR_TIER = 2, 3


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    end_us: int
    good: int
    total: int


def _sum(ring: Ring, first_k: int, last_k: int) -> tuple[int, int] | None:
    """Sum of buckets first_k..last_k, or None if the ring no longer holds all of them."""
    if ring.head - first_k >= ring.n:
        return None
    good = total = 0
    for k in range(first_k, min(last_k, ring.head) + 1):
        s = k % ring.n
        good += ring.good[s]
        total += ring.total[s]
    return good, total


def history(state: WindowState, start_us: int, end_us: int, step_us: int) -> list[HistoryPoint]:
    """Points ending at start+step, start+2*step, ... <= end (aligned to the step)."""
    if step_us <= 0 or end_us <= start_us:
        return []
    points = []
    first_end = (start_us // step_us + 1) * step_us
    last_end = min(end_us, state.now_us + step_us)
    for point_end in range(first_end, last_end + 1, step_us):
        for tier, bucket_us in ((_MINUTE_TIER, MINUTE_US), (_HOUR_TIER, HOUR_US)):
            if step_us % bucket_us:
                continue
            ring = state.rings[tier]
            last_k = point_end // bucket_us
            sums = _sum(ring, last_k - step_us // bucket_us + 1, last_k)
            if sums is not None:
                points.append(HistoryPoint(point_end, *sums))
                break
    return points
