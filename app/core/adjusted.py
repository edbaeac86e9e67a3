"""Budget adjustments applied to a live window state, at evaluation (retroactive).

The state keeps counts per time bucket, not events, so an adjustment defined after
its events (or deleted) is applied where the counts are: at evaluation, every
bucket whose whole span `(a, b]` lies inside an adjusted range (`s <= a` and
`b <= e` for a merged range `[s, e)`) is taken out of the sums it is part of.

Resolution (the contract's "within bucket resolution at the edges"):
- a rolling window loses the covered buckets of its own ring (5m: 5 s buckets,
  30m: 30 s, 1h/2h: 1 min, 6h: 6 min, 24h: 24 min, 3d/7d/30d: 1 h, 90d: 1 day);
- a calendar month, quarter or year loses the covered hourly buckets of the last
  35 days and the covered daily buckets before them (whole UTC days).
So a range whose edges are multiples of those widths is exact, except for an
event stamped exactly on an edge instant (buckets are `(a, b]`, ranges `[s, e)`);
a bucket only partly covered counts in full. Nothing is rewritten: deleting the
adjustment puts every count back at the next evaluation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from app.core.adjustments import Adjustment, Exclusions
from app.core.ring import LAYOUT, Rings
from app.core.state import WindowState
from app.core.windows import DAY_TIER, DAY_US, HISTORY_RETENTION_US, HOUR_TIER

_HORIZON_PAST_US = HISTORY_RETENTION_US + 2 * DAY_US
_HORIZON_AHEAD_US = 2 * DAY_US


@lru_cache(maxsize=4096)
def exclusions_on(adjustments: tuple[Adjustment, ...], day: int) -> Exclusions:
    """The merged ranges of `adjustments` around UTC day number `day` (cached: expanding
    an RRULE costs far more than an evaluation)."""
    at_us = day * DAY_US
    return Exclusions.of(adjustments, at_us - _HORIZON_PAST_US, at_us + _HORIZON_AHEAD_US)


def _tier(rings: Rings, tier: int, ex: Exclusions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A tier's buckets newest first: (start a, good, total, covered) as arrays."""
    bucket_us, n, base, _, _ = LAYOUT[tier]
    k = rings.heads[tier] - np.arange(n, dtype=np.int64)
    slots = k % n
    counts = rings.view_counts()
    good = counts[2 * (base + slots)].astype(np.int64)
    total = counts[2 * (base + slots) + 1].astype(np.int64)
    a = (k - 1) * bucket_us
    i = np.searchsorted(ex.starts, a, side="right") - 1
    covered = (i >= 0) & (ex.ends[np.maximum(i, 0)] >= a + bucket_us) & (total > 0)
    return a, good, total, covered


def adjusted_state(
    state: WindowState, adjustments: tuple[Adjustment, ...]
) -> tuple[WindowState, list[int], list[int]] | None:
    """The state without the adjusted buckets, with what was taken from each window sum
    (Rings.win's layout) and each calendar sum (WindowState.calendar_sums' layout);
    None when no bucket the state holds is adjusted."""
    ex = exclusions_on(adjustments, state.now_us // DAY_US)
    if ex.empty:
        return None
    rings = state.rings
    win_out = [0] * len(rings.win)
    tiers = {}
    for tier, (_bucket_us, _n, _base, wbase, win_n) in enumerate(LAYOUT):
        a, good, total, covered = tiers[tier] = _tier(rings, tier, ex)
        if not covered.any():
            continue
        ages = np.arange(a.size)
        for i, wn in enumerate(win_n):
            inside = covered & (ages < wn)
            win_out[2 * (wbase + i)] = int(good[inside].sum())
            win_out[2 * (wbase + i) + 1] = int(total[inside].sum())
    cal_out = [0] * len(state.calendar_sums)
    hour_a, hour_good, hour_total, hour_cov = tiers[HOUR_TIER]
    day_a, day_good, day_total, day_cov = tiers[DAY_TIER]
    hourly_from = -(-int(hour_a.min()) // DAY_US) * DAY_US  # the first whole day the hourly ring holds
    if hour_cov.any() or day_cov.any():
        for i, period in enumerate(state.calendar):
            hours = hour_cov & (hour_a >= max(period.start_us, hourly_from))
            days = day_cov & (day_a >= period.start_us) & (day_a + DAY_US <= hourly_from)
            cal_out[2 * i] = int(hour_good[hours].sum() + day_good[days].sum())
            cal_out[2 * i + 1] = int(hour_total[hours].sum() + day_total[days].sum())
    if not any(win_out) and not any(cal_out):
        return None
    view = Rings.__new__(Rings)  # shares the counters; only the sums differ (never mutated)
    view.counts, view.heads, view.heads_at = rings.counts, rings.heads, None
    view.win = [w - x for w, x in zip(rings.win, win_out, strict=True)]
    out = WindowState.__new__(WindowState)
    out.now_us, out.rings, out.calendar, out.pending = state.now_us, view, state.calendar, state.pending
    out.last_event_us = state.last_event_us
    out.calendar_sums = [c - x for c, x in zip(state.calendar_sums, cal_out, strict=True)]
    return out, win_out, cal_out
