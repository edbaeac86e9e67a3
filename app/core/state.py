"""Window state of one SLO: every rolling window plus the calendar month and quarter.

The state has its own `now` (passed in, never read from a clock) that only
moves forward. An event is counted in every window that covers its timestamp,
whatever order it arrives in, so the sums depend only on the set of events
added. Events stamped after `now` (clock skew ahead) wait in `pending` until
`now` reaches them, so the near edge of every window is exact.
"""

from __future__ import annotations

import heapq

from app.core.calendar import Period, month_of, quarter_of
from app.core.ring import Int64Array, Rings
from app.core.windows import WINDOW_INDEX


class WindowState:
    __slots__ = (
        "last_event_us",
        "month",
        "month_good",
        "month_total",
        "now_us",
        "pending",
        "quarter",
        "quarter_good",
        "quarter_total",
        "rings",
    )

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us
        self.rings = Rings(now_us)
        self.month: Period = month_of(now_us)
        self.quarter: Period = quarter_of(now_us)
        self.month_good = self.month_total = 0
        self.quarter_good = self.quarter_total = 0
        self.pending: list[tuple[int, int, int]] = []
        self.last_event_us: int | None = None  # `now` when the latest event was added (staleness)

    # -- time ----------------------------------------------------------------
    def advance(self, now_us: int) -> None:
        """Move `now` forward (never back) and count pending events it reaches."""
        if now_us <= self.now_us:
            return
        self.now_us = now_us
        self.rings.advance(now_us)
        if now_us >= self.month.end_us:
            self.month = month_of(now_us)
            self.month_good = self.month_total = 0
        if now_us >= self.quarter.end_us:
            self.quarter = quarter_of(now_us)
            self.quarter_good = self.quarter_total = 0
        pending = self.pending
        while pending and pending[0][0] <= now_us:
            ts_us, good, total = heapq.heappop(pending)
            self._count(ts_us, good, total)

    # -- events --------------------------------------------------------------
    def add(self, ts_us: int, good: int, total: int) -> None:
        """Count one accepted event (acceptance is the caller's policy)."""
        self.last_event_us = self.now_us
        if ts_us > self.now_us:
            heapq.heappush(self.pending, (ts_us, good, total))
        else:
            self._count(ts_us, good, total)

    def _count(self, ts_us: int, good: int, total: int) -> None:
        self.rings.add(ts_us, good, total)
        if ts_us >= self.quarter.start_us:
            self.quarter_good += good
            self.quarter_total += total
            if ts_us >= self.month.start_us:
                self.month_good += good
                self.month_total += total

    def add_batch(self, ts_us: Int64Array, good: Int64Array, total: Int64Array) -> None:
        """Count many accepted events at once (replay, recovery): numpy, same result."""
        if ts_us.size:
            self.last_event_us = self.now_us
        future = ts_us > self.now_us
        if future.any():
            for t, g, n in zip(ts_us[future].tolist(), good[future].tolist(), total[future].tolist(), strict=True):
                heapq.heappush(self.pending, (t, g, n))
            now = ~future
            ts_us, good, total = ts_us[now], good[now], total[now]
        if ts_us.size == 0:
            return
        self.rings.add_batch(ts_us, good, total)
        in_quarter = ts_us >= self.quarter.start_us
        self.quarter_good += int(good[in_quarter].sum())
        self.quarter_total += int(total[in_quarter].sum())
        in_month = ts_us >= self.month.start_us
        self.month_good += int(good[in_month].sum())
        self.month_total += int(total[in_month].sum())

    # -- reads ---------------------------------------------------------------
    def window(self, name: str) -> tuple[int, int]:
        """(good, total) of a rolling window by name ("5m" ... "30d")."""
        return self.rings.window(WINDOW_INDEX[name])

    def month_sums(self) -> tuple[int, int]:
        return self.month_good, self.month_total

    def quarter_sums(self) -> tuple[int, int]:
        return self.quarter_good, self.quarter_total

    def nbytes(self) -> int:
        """Bytes of counters held (buckets, sums, pending), for the state budget."""
        counters = self.rings.nbytes()
        return counters + 4 * 8 + 24 * len(self.pending) + 4 * 8
