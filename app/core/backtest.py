"""Alert backtesting: which pages and tickets a rule set would have sent over past events.

The rules are evaluated exactly as a report's activity is (app/core/report_activity):
at every whole minute `t` of R = [from, to) with `from + 60 s <= t <= min(to, now)`, on
the engine's windows (the rings' bucket edges), each rule firing when both its burn rates
exceed its threshold (exact at the boundary, with the low-traffic guard). An episode of a
rule opens at the first minute it fires (not firing the minute before, which may lie
before R) and resolves at the first minute it no longer fires; an episode still firing at
R's last minute has no resolution. So `pages` and `tickets` equal a report's over R.

Backtesting a candidate rule set is the same evaluation with the objective's rules
replaced: the counts do not depend on the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.enums import Severity
from app.core.evaluation import Objective
from app.core.intervals import Interval
from app.core.report_activity import MinuteSums, minute_span, rules_firing, window_start_us
from app.core.ring import Int64Array
from app.core.windows import MINUTE_US


@dataclass(frozen=True, slots=True)
class Episode:
    rule: str
    severity: Severity
    opened_us: int  # the first minute it fired
    resolved_us: int | None  # the first minute it no longer fired; None: firing at R's last minute


@dataclass(frozen=True, slots=True)
class Backtest:
    slo_id: str
    episodes: tuple[Episode, ...]  # by opening time, then rule order
    alert_minutes: int  # minutes at which at least one rule fires

    @property
    def pages(self) -> int:
        return sum(e.severity is Severity.PAGE for e in self.episodes)

    @property
    def tickets(self) -> int:
        return sum(e.severity is Severity.TICKET for e in self.episodes)


def backtest(
    objective: Objective,
    ts_us: Int64Array,
    good: Int64Array,
    total: Int64Array,
    interval: Interval,
    now_us: int,
) -> Backtest:
    """The episodes the objective's rules open in R, from one SLO's accepted events (any order)."""
    first, last = minute_span(interval, now_us)
    if last < first or not objective.rules:
        return Backtest(objective.slo_id, (), 0)
    names = {w for r in objective.rules for w in (r.long_window, r.short_window)}
    prev = first - MINUTE_US  # the minute before R's first: was a rule already firing?
    lo = min(int(window_start_us(name, np.array([prev], dtype=np.int64))[0]) for name in names)
    sums = MinuteSums(lo, last, ts_us, good, total)
    t_us = np.arange(prev, last + 1, MINUTE_US, dtype=np.int64)
    minutes = t_us[1:]
    alert = np.zeros(minutes.size, dtype=bool)
    episodes: list[tuple[int, int, Episode]] = []
    for order, (rule, (severity, firing)) in enumerate(
        zip(objective.rules, rules_firing(objective, sums, t_us), strict=True)
    ):
        now_f, before = firing[1:], firing[:-1]
        alert |= now_f
        opened = np.flatnonzero(now_f & ~before)
        resolved = np.flatnonzero(~now_f & before)
        for i in opened.tolist():
            j = int(np.searchsorted(resolved, i, side="right"))
            end = int(minutes[resolved[j]]) if j < resolved.size else None
            start = int(minutes[i])
            episodes.append((start, order, Episode(rule.name, severity, start, end)))
    episodes.sort(key=lambda e: (e[0], e[1]))
    return Backtest(objective.slo_id, tuple(e for _, _, e in episodes), int(np.count_nonzero(alert)))
