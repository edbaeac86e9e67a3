"""What the burn-rate rules did over a report interval, computed from raw events.

The rules are evaluated at every whole minute of R: at each instant `t` (a
multiple of 60 s) with `from + 60 s <= t <= min(to, now)`, i.e. as each whole
minute `[t - 60 s, t)` of R closes. Each window is the engine's: on its ring
(app/core/windows) a window W at `t` holds the events with
`(ceil(t / b) - W / b) * b < ts <= t` for its bucket width b, which is what a
worker evaluating at `t` sums (exact for every window whose buckets divide a
minute; elsewhere the contract's resolution rule). A rule fires as
app/core/rules decides (both burn rates above its threshold, exact at the
boundary, the low-traffic guard), so the live accumulator and this agree.

- `alert_minutes`: minutes at which at least one page or ticket rule fires;
- `pages` / `tickets`: episodes opened in R (firing at `t`, not at `t - 60 s`);
- `worst_burn_rate_1h`: the largest 1h burn rate at a whole UTC hour `h` with
  `from + 1 h <= h <= min(to, now)`, i.e. of each whole clock hour `(h - 1 h, h]`.

Vectorised with numpy: per-minute counts over R plus the lookback the longest
window needs, cumulative sums, one subtraction per window and instant.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt

from app.core.budget import BudgetRatio
from app.core.enums import Severity
from app.core.evaluation import CALENDAR_OF, Objective
from app.core.intervals import Interval
from app.core.reports import Activity
from app.core.ring import Int64Array
from app.core.state import CALENDARS
from app.core.windows import HOUR_US, MINUTE_US, TIERS, WINDOW_BY_NAME

# window name -> (bucket width, buckets in the window), the engine's rings
WINDOW_BUCKETS: dict[str, tuple[int, int]] = {
    w.name: (tier.bucket_us, w.length_us // tier.bucket_us) for tier in TIERS for w in tier.windows
}
_TIE_REL = 1e-9  # as app/core/exact
_FLOAT_EXACT = 2**53

BoolArray = npt.NDArray[np.bool_]


def window_start_us(name: str, t_us: Int64Array) -> Int64Array:
    """The exclusive far edge of window `name` evaluated at each instant in t_us."""
    bucket_us, n = WINDOW_BUCKETS[name]
    return (-(-t_us // bucket_us) - n) * bucket_us


def minute_span(interval: Interval, now_us: int) -> tuple[int, int]:
    """(first, last) evaluation instant of R's whole minutes so far (first > last: none)."""
    first = -(-(interval.from_us + MINUTE_US) // MINUTE_US) * MINUTE_US
    last = min(interval.to_us, now_us) // MINUTE_US * MINUTE_US
    return first, last


def hour_span(interval: Interval, now_us: int) -> tuple[int, int]:
    first = -(-(interval.from_us + HOUR_US) // HOUR_US) * HOUR_US
    last = min(interval.to_us, now_us) // HOUR_US * HOUR_US
    return first, last


class MinuteSums:
    """Cumulative per-minute counts: sums over `(a, t]` for minute-aligned a and t."""

    def __init__(self, lo_us: int, hi_us: int, ts_us: Int64Array, good: Int64Array, total: Int64Array) -> None:
        self.lo_m = lo_us // MINUTE_US
        size = hi_us // MINUTE_US - self.lo_m + 1
        inside = (ts_us > lo_us) & (ts_us <= hi_us)
        bins = -(-ts_us[inside] // MINUTE_US) - self.lo_m
        wide = int(total[inside].sum(dtype=object) if total.size else 0) >= 2**62
        dtype: type = object if wide else np.int64
        g: npt.NDArray[np.int64] = np.zeros(size, dtype=dtype)
        n: npt.NDArray[np.int64] = np.zeros(size, dtype=dtype)
        np.add.at(g, bins, good[inside].astype(dtype))
        np.add.at(n, bins, total[inside].astype(dtype))
        self.good = np.cumsum(g)
        self.total = np.cumsum(n)

    def sums(self, start_us: Int64Array, end_us: Int64Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        a = start_us // MINUTE_US - self.lo_m
        b = end_us // MINUTE_US - self.lo_m
        return self.good[b] - self.good[a], self.total[b] - self.total[a]


def burn_rates(
    good: npt.NDArray[np.int64], total: npt.NDArray[np.int64], ratio: BudgetRatio
) -> npt.NDArray[np.float64]:
    """app/core/budget.burn_rate, element-wise, to the same float."""
    bad = total - good
    if total.size and int(max(total.max(), 0)) >= _FLOAT_EXACT:  # float64 would round the counts first
        return np.array(
            [((b / n) if n else 0.0) / ratio.value for b, n in zip(bad.tolist(), total.tolist(), strict=True)]
        )
    n = total.astype(np.float64)
    rate = np.divide(bad.astype(np.float64), n, out=np.zeros(n.size), where=n > 0)
    return rate / ratio.value


def _above(
    burn: npt.NDArray[np.float64],
    threshold: npt.NDArray[np.float64],
    exact_limit: list[Fraction],
    good: npt.NDArray[np.int64],
    total: npt.NDArray[np.int64],
) -> BoolArray:
    """burn > threshold, deciding near-ties exactly (as app/core/exact.greater)."""
    out = burn > threshold
    near = ~(np.abs(burn - threshold) > _TIE_REL * np.maximum(np.abs(burn), np.abs(threshold)))
    for i in np.flatnonzero(near).tolist():
        g, n = int(good[i]), int(total[i])
        out[i] = n > 0 and n - g > exact_limit[i] * n
    return out


def _period_lengths(objective: Objective, t_us: Int64Array) -> Int64Array:
    rolling = objective.time_period.rolling_window
    if rolling is not None:
        return np.full(t_us.size, WINDOW_BY_NAME[rolling].length_us, dtype=np.int64)
    of = CALENDARS[CALENDAR_OF[objective.time_period]]
    out = np.empty(t_us.size, dtype=np.int64)
    i = 0
    while i < t_us.size:
        period = of(int(t_us[i]))
        j = int(np.searchsorted(t_us, period.end_us, side="left"))
        out[i:j] = period.length_us
        i = j
    return out


def rules_firing(objective: Objective, sums: MinuteSums, t_us: Int64Array) -> list[tuple[Severity, BoolArray]]:
    """For each rule of the SLO: its severity and whether it fires at each instant."""
    ratio = objective.budget_ratio
    period_us = _period_lengths(objective, t_us)
    distinct = np.unique(period_us).tolist()
    window_cache: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}

    def window(name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        if name not in window_cache:
            good, total = sums.sums(window_start_us(name, t_us), t_us)
            window_cache[name] = (good, total, burn_rates(good, total, ratio))
        return window_cache[name]

    out = []
    for rule in objective.rules:
        applies = np.zeros(t_us.size, dtype=bool)
        threshold = np.zeros(t_us.size)
        exact_by_len: dict[int, Fraction] = {}
        for length in distinct:
            if rule.applies_to(length):
                at = period_us == length
                applies |= at
                threshold[at] = rule.threshold(length)
                exact_by_len[length] = rule.exact_threshold(length) * ratio.exact
        firing = applies.copy()
        if firing.any():
            exact_limit = [exact_by_len.get(n, Fraction(0)) for n in period_us.tolist()]
            sg, st, sb = window(rule.short_window)
            if objective.min_short_window_events:
                firing &= st >= objective.min_short_window_events
            lg, lt, lb = window(rule.long_window)
            firing &= _above(lb, threshold, exact_limit, lg, lt)
            firing &= _above(sb, threshold, exact_limit, sg, st)
        out.append((rule.severity, firing))
    return out


def activity(
    objective: Objective,
    ts_us: Int64Array,
    good: Int64Array,
    total: Int64Array,
    interval: Interval,
    now_us: int,
) -> Activity:
    """The rules' activity over R from one SLO's accepted events (any order)."""
    first, last = minute_span(interval, now_us)
    if last < first:
        return Activity()
    names = {"1h", *(w for r in objective.rules for w in (r.long_window, r.short_window))}
    prev = first - MINUTE_US  # the minute before R's first: did an episode open at R's first minute?
    lo = min(int(window_start_us(name, np.array([prev], dtype=np.int64))[0]) for name in names)
    sums = MinuteSums(lo, last, ts_us, good, total)
    t_us = np.arange(prev, last + 1, MINUTE_US, dtype=np.int64)
    alert = np.zeros(t_us.size - 1, dtype=bool)
    pages = tickets = 0
    for severity, firing in rules_firing(objective, sums, t_us):
        now_f = firing[1:]
        alert |= now_f
        opened = int(np.count_nonzero(now_f & ~firing[:-1]))
        if severity is Severity.PAGE:
            pages += opened
        else:
            tickets += opened
    h_first, h_last = hour_span(interval, now_us)
    worst: float | None = None
    if h_last >= h_first:
        hours = np.arange(h_first, h_last + 1, HOUR_US, dtype=np.int64)
        g, n = sums.sums(hours - HOUR_US, hours)
        worst = float(burn_rates(g, n, objective.budget_ratio).max())
    return Activity(int(np.count_nonzero(alert)), pages, tickets, worst)
