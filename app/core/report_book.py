"""What a live SLO keeps for compliance reports besides its rings.

Good and total of a report come from the rings (app/core/state): a report's
intervals are day-aligned, and the daily ring holds 400 days. Two things the
rings cannot give are kept here, per SLO, compactly:

- **Rule activity per UTC day**, filled as whole minutes close: at each whole
  minute `t` the SLO's rules are evaluated on its windows at `t` (exactly what
  app/core/report_activity computes offline); the day holding `[t - 60 s, t)`
  counts an alert minute if any rule fires, and a page or ticket for each rule
  that fires at `t` and did not at `t - 60 s`. Only days with activity take room.
- **The worst 1h error rate of each day older than the hourly ring** (35 days):
  captured from the hourly ring just before the day's hours leave it (a rate, not a
  burn rate, so that a later change of target divides it like the offline report does).
- **Counts stamped exactly at a period's first instant** (a Monday or a month's
  first day, 00:00 UTC): a ring bucket holds `(start, end]` while a report holds
  `[from, to)`, so these few counts move an event at a boundary to the right side.

All of it is part of the changelog state (app/core/units), so a restart or a
failover continues the same figures. Pure: time is passed in.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.core.budget import burn_rate, error_rate_ratio
from app.core.calendar import to_datetime
from app.core.enums import Severity
from app.core.evaluation import CALENDAR_OF, Objective
from app.core.rules import firing_rules
from app.core.state import WindowState
from app.core.windows import DAY_US, HISTORY_DAYS, HISTORY_HOURS, HOUR_TIER, MINUTE_US, WINDOW_BY_NAME

HOUR_DAYS = HISTORY_HOURS // 24  # days the hourly ring holds (35)
ACTIVITY, WORST, EDGES = "A", "W", "E"  # changelog parts
BOOK_PARTS = (ACTIVITY, WORST, EDGES)


def is_period_start(ts_us: int) -> bool:
    """A UTC midnight that starts an ISO week (Monday) or a month: where reports begin and end."""
    if ts_us % DAY_US:
        return False
    dt = to_datetime(ts_us)
    return dt.weekday() == 0 or dt.day == 1


@dataclass(slots=True)
class ReportBook:
    last_us: int = -1  # the last whole minute evaluated
    firing: frozenset[str] = frozenset()  # the rules firing at last_us
    days: dict[int, list[int]] = field(default_factory=dict)  # day -> [alert minutes, pages, tickets]
    worst: array | None = None  # type: ignore[type-arg]  # day % 400 -> worst 1h error rate (NaN: unknown)
    worst_last_day: int = -1  # the newest day captured into `worst`
    edges: array | None = None  # type: ignore[type-arg]  # [ts, good, total] * n, period starts only
    edges_offset: int = -1  # input offset of the last event counted in `edges`
    changed: set[str] = field(default_factory=set)  # parts to write to the changelog
    version: int = 0  # counts the changes noted (app/core/unit): a copy of the book knows it is behind

    # -- events ----------------------------------------------------------------------
    def count_edge(self, ts_us: int, good: int, total: int, offset: int, guarded: bool) -> None:
        """An event stamped exactly at a period start; `guarded`: recovered state may hold it."""
        if guarded and offset <= self.edges_offset:
            return
        edges = self.edges if self.edges is not None else array("q")
        for i in range(0, len(edges), 3):
            if edges[i] == ts_us:
                edges[i + 1] += good
                edges[i + 2] += total
                break
        else:
            edges.extend((ts_us, good, total))
        self.edges = edges
        self.edges_offset = max(self.edges_offset, offset)
        self.changed.add(EDGES)

    def edge(self, ts_us: int) -> tuple[int, int]:
        edges = self.edges
        if edges is not None:
            for i in range(0, len(edges), 3):
                if edges[i] == ts_us:
                    return edges[i + 1], edges[i + 2]
        return 0, 0

    # -- time ------------------------------------------------------------------------
    def close_minutes(self, objective: Objective, state: WindowState, until_us: int, inclusive: bool = True) -> None:
        """Evaluate every whole minute up to `until_us` (before it unless `inclusive`: an event
        stamped at `until_us` is still to be counted) not evaluated yet, advancing the state
        to each (a minute the state has already passed can no longer be evaluated)."""
        if not inclusive:
            until_us -= 1
        t = max(self.last_us + MINUTE_US, -(-state.now_us // MINUTE_US) * MINUTE_US)
        t -= t % MINUTE_US
        if t > until_us:
            return
        # A rule fires only while its short window holds bad events: with every short
        # window empty, nothing fires until a new event arrives.
        shorts = {r.short_window for r in objective.rules}
        while t <= until_us:
            if not self.firing and not state.pending and all(state.window(w)[1] == 0 for w in shorts):
                # Nothing can fire before a new event: jump, stopping only at day boundaries.
                last = until_us - until_us % MINUTE_US
                day_end = (t // DAY_US + 1) * DAY_US if t % DAY_US else t
                if day_end > last:
                    self.last_us = last
                    return
                state.advance(day_end)
                self._capture(day_end, state)
                self.last_us = day_end
                t = day_end + MINUTE_US
                continue
            state.advance(t)
            self._evaluate(objective, state, t)
            if t % DAY_US == 0:
                self._capture(t, state)
            self.last_us = t
            t += MINUTE_US

    def _evaluate(self, objective: Objective, state: WindowState, t_us: int) -> None:
        ratio = objective.budget_ratio
        rolling = objective.time_period.rolling_window
        if rolling is not None:
            period_us = WINDOW_BY_NAME[rolling].length_us
        else:
            period_us = state.calendar[CALENDAR_OF[objective.time_period]].length_us
        names = {w for r in objective.rules for w in (r.long_window, r.short_window)}
        burns = {w: burn_rate(*state.window(w), ratio) for w in names}
        firing = firing_rules(objective.rules, period_us, burns, state.window, ratio, objective.min_short_window_events)
        now = frozenset(f.rule.name for f in firing)
        if now or self.firing:
            if now:
                day = self.days.setdefault((t_us - 1) // DAY_US, [0, 0, 0])
                day[0] += 1
                for f in firing:
                    if f.rule.name not in self.firing:
                        day[1 if f.severity is Severity.PAGE else 2] += 1
                self._prune(t_us)
            self.firing = now
            self.changed.add(ACTIVITY)

    def _capture(self, t_us: int, state: WindowState) -> None:
        """At the day boundary t: keep the worst hour of the day about to leave the hourly ring."""
        day = t_us // DAY_US - HOUR_DAYS
        ring = state.rings.view(HOUR_TIER)
        worst = -1.0
        for k in range(day * 24 + 1, day * 24 + 25):
            if ring.head - k < ring.n:
                good, total = ring.bucket(k % ring.n)
                worst = max(worst, error_rate_ratio(good, total))
        if self.worst is None:
            self.worst = array("d", [math.nan]) * HISTORY_DAYS
        for d in range(max(self.worst_last_day + 1, day - HISTORY_DAYS + 1), day):
            self.worst[d % HISTORY_DAYS] = math.nan  # days the book missed (the worker was away)
        self.worst[day % HISTORY_DAYS] = max(worst, 0.0)
        self.worst_last_day = day
        self.changed.add(WORST)
        self._prune_edges(t_us)

    def _prune_edges(self, t_us: int) -> None:
        edges = self.edges
        oldest = t_us - (HISTORY_DAYS + 1) * DAY_US
        if edges is not None and len(edges) and min(edges[0::3]) < oldest:
            kept = [v for i in range(0, len(edges), 3) if edges[i] >= oldest for v in edges[i : i + 3]]
            self.edges = array("q", kept) if kept else None
            self.changed.add(EDGES)

    def _prune(self, t_us: int) -> None:
        oldest = t_us // DAY_US - HISTORY_DAYS
        for day in [d for d in self.days if d < oldest]:
            del self.days[day]

    # -- reads -----------------------------------------------------------------------
    def activity_days(self, first_day: int, end_day: int) -> tuple[int, int, int]:
        minutes = pages = tickets = 0
        for day, (m, p, t) in self.days.items():
            if first_day <= day < end_day:
                minutes, pages, tickets = minutes + m, pages + p, tickets + t
        return minutes, pages, tickets

    def worst_of_day(self, day: int) -> float | None:
        """The captured worst hourly error rate of a day older than the hourly ring (None: not captured)."""
        if day > self.worst_last_day or day <= self.worst_last_day - HISTORY_DAYS:
            return None
        if self.worst is None:
            return None
        value = self.worst[day % HISTORY_DAYS]
        return None if math.isnan(value) else value

    # -- the changelog ---------------------------------------------------------------
    def part_value(self, part: str) -> Any:
        if part == ACTIVITY:
            return [self.last_us, sorted(self.firing), [[d, *v] for d, v in sorted(self.days.items())]]
        if part == WORST:
            values = [] if self.worst is None else [None if math.isnan(x) else x for x in self.worst]
            return [self.worst_last_day, values]
        return [self.edges_offset, [] if self.edges is None else list(self.edges)]

    def restore(self, parts: Iterable[tuple[str, Any]]) -> None:
        for part, value in parts:
            if part == ACTIVITY:
                self.last_us, firing, days = value
                self.firing = frozenset(firing)
                self.days = {d: [m, p, t] for d, m, p, t in days}
            elif part == WORST:
                self.worst_last_day, values = value
                self.worst = array("d", [math.nan if x is None else x for x in values]) if values else None
            elif part == EDGES:
                self.edges_offset, flat = value
                self.edges = array("q", flat) if flat else None

    def nbytes(self) -> int:
        size = 64 + 8 * len(self.firing) + sum(100 for _ in self.days)
        if self.worst is not None:
            size += 8 * len(self.worst)
        if self.edges is not None:
            size += 8 * len(self.edges)
        return size
