"""Window state of one SLO: every rolling window plus the calendar month, quarter and year.

The state has its own `now` (passed in, never read from a clock) that only
moves forward. An event is counted in every window that covers its timestamp,
whatever order it arrives in, so the sums depend only on the set of events
added. Events stamped after `now` (clock skew ahead) wait in `pending` until
`now` reaches them, so the near edge of every window is exact. An event older
than every window still counts in the history rings (app/core/ring) that hold
its hour or day.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from app.core.calendar import Period, month_of, quarter_of, year_of
from app.core.ring import Int64Array, Rings
from app.core.windows import WINDOW_INDEX

CALENDARS: tuple[Callable[[int], Period], ...] = (month_of, quarter_of, year_of)
MONTH, QUARTER, YEAR = 0, 1, 2


class WindowState:
    __slots__ = ("calendar", "calendar_sums", "last_event_us", "now_us", "pending", "rings")

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us
        self.rings = Rings(now_us)
        self.calendar: list[Period] = [of(now_us) for of in CALENDARS]  # month, quarter, year
        self.calendar_sums = [0] * 6  # good, total of the month, then the quarter, then the year
        self.pending: list[tuple[int, int, int]] = []
        self.last_event_us: int | None = None  # `now` when the latest event was added (staleness)

    @property
    def month(self) -> Period:
        return self.calendar[MONTH]

    @property
    def quarter(self) -> Period:
        return self.calendar[QUARTER]

    @property
    def year(self) -> Period:
        return self.calendar[YEAR]

    # -- time ----------------------------------------------------------------
    def advance(self, now_us: int) -> None:
        """Move `now` forward (never back) and count pending events it reaches."""
        if now_us <= self.now_us:
            return
        self.now_us = now_us
        self.rings.advance(now_us)
        for i, of in enumerate(CALENDARS):
            if now_us >= self.calendar[i].end_us:
                self.calendar[i] = of(now_us)
                self.calendar_sums[2 * i] = self.calendar_sums[2 * i + 1] = 0
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
        sums, calendar = self.calendar_sums, self.calendar
        for i in (YEAR, QUARTER, MONTH):  # widest first: an event before the year is in none
            if ts_us < calendar[i].start_us:
                break
            sums[2 * i] += good
            sums[2 * i + 1] += total

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
        for i, period in enumerate(self.calendar):
            inside = ts_us >= period.start_us
            self.calendar_sums[2 * i] += int(good[inside].sum())
            self.calendar_sums[2 * i + 1] += int(total[inside].sum())

    # -- reads ---------------------------------------------------------------
    def window(self, name: str) -> tuple[int, int]:
        """(good, total) of a rolling window by name ("5m" ... "90d")."""
        return self.rings.window(WINDOW_INDEX[name])

    def calendar_sums_of(self, i: int) -> tuple[int, int]:
        return self.calendar_sums[2 * i], self.calendar_sums[2 * i + 1]

    def month_sums(self) -> tuple[int, int]:
        return self.calendar_sums_of(MONTH)

    def quarter_sums(self) -> tuple[int, int]:
        return self.calendar_sums_of(QUARTER)

    def year_sums(self) -> tuple[int, int]:
        return self.calendar_sums_of(YEAR)

    def nbytes(self) -> int:
        """Bytes of counters held (buckets, sums, pending), for the state budget."""
        return self.rings.nbytes() + 8 * len(self.calendar_sums) + 24 * len(self.pending)
