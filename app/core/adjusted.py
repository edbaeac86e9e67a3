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
from app.core.ring import LAYOUT, Int64Array, Rings
from app.core.state import WindowState
from app.core.windows import DAY_TIER, DAY_US, HISTORY_RETENTION_US, HOUR_TIER, HOUR_US

_HORIZON_PAST_US = HISTORY_RETENTION_US + 2 * DAY_US
_HORIZON_AHEAD_US = 2 * DAY_US
_EMPTY = np.zeros(0, dtype=np.int64)


@lru_cache(maxsize=4096)
def exclusions_on(adjustments: tuple[Adjustment, ...], day: int) -> Exclusions:
    """The merged ranges of `adjustments` around UTC day number `day` (cached: expanding
    an RRULE costs far more than an evaluation)."""
    at_us = day * DAY_US
    return Exclusions.of(adjustments, at_us - _HORIZON_PAST_US, at_us + _HORIZON_AHEAD_US)


@lru_cache(maxsize=16384)
def _covered(adjustments: tuple[Adjustment, ...], day: int, tier: int, head: int) -> tuple[Int64Array, Int64Array]:
    """The buckets of a tier (head bucket `head`) wholly inside an adjusted range: their ages
    (0 = the head) and starts `a`, oldest last. Depends on the head, not on the counts: cached,
    so an evaluation only sums the few covered buckets."""
    ex = exclusions_on(adjustments, day)
    bucket_us, n, _, _, _ = LAYOUT[tier]
    ages = np.arange(n, dtype=np.int64)
    a = (head - ages - 1) * bucket_us
    i = np.searchsorted(ex.starts, a, side="right") - 1
    covered = (i >= 0) & (ex.ends[np.maximum(i, 0)] >= a + bucket_us)
    return ages[covered], a[covered]


def adjusted_state(
    state: WindowState, adjustments: tuple[Adjustment, ...]
) -> tuple[WindowState, list[int], list[int]] | None:
    """The state without the adjusted buckets, with what was taken from each window sum
    (Rings.win's layout) and each calendar sum (WindowState.calendar_sums' layout);
    None when no bucket the state holds is adjusted."""
    day = state.now_us // DAY_US
    if exclusions_on(adjustments, day).empty:
        return None
    rings = state.rings
    counts = rings.view_counts()
    win_out = [0] * len(rings.win)
    taken: dict[int, tuple[Int64Array, Int64Array, Int64Array]] = {}  # tier -> (a, good, total) covered
    for tier, (_bucket_us, n, base, wbase, win_n) in enumerate(LAYOUT):
        head = rings.heads[tier]
        ages, a = _covered(adjustments, day, tier, head)
        if not ages.size:
            continue
        at = 2 * (base + (head - ages) % n)
        good, total = counts[at].astype(np.int64), counts[at + 1].astype(np.int64)
        taken[tier] = (a, good, total)
        for i, wn in enumerate(win_n):
            inside = ages < wn
            win_out[2 * (wbase + i)] = int(good[inside].sum())
            win_out[2 * (wbase + i) + 1] = int(total[inside].sum())
    cal_out = [0] * len(state.calendar_sums)
    if HOUR_TIER in taken or DAY_TIER in taken:
        _, n_hours, _, _, _ = LAYOUT[HOUR_TIER]
        oldest_hour_us = (rings.heads[HOUR_TIER] - n_hours) * HOUR_US
        hourly_from = -(-oldest_hour_us // DAY_US) * DAY_US  # the first whole day the hourly ring holds
        none = (_EMPTY, _EMPTY, _EMPTY)
        hour_a, hour_good, hour_total = taken.get(HOUR_TIER, none)
        day_a, day_good, day_total = taken.get(DAY_TIER, none)
        for i, period in enumerate(state.calendar):
            hours = hour_a >= max(period.start_us, hourly_from)
            days = (day_a >= period.start_us) & (day_a + DAY_US <= hourly_from)
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
