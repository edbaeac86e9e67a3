"""A compliance report row from a live SLO unit: rings, pending events and the report book.

For a day-aligned interval R = [from, to) (every PERIOD form is), good and total
are the daily ring's buckets `(from, to]`, corrected by the counts stamped
exactly at `from` (in) and `to` (out) that the report book keeps, plus the
events still pending (stamped ahead of `now`). The rules' activity is the book's
days in R; the worst 1h burn rate comes from the hourly ring for the hours it
still holds and from the book's captured days before that. With events in time
order this equals the offline report (app/report) exactly; docs/semantics.md
says where it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.budget import BudgetRatio, error_rate_ratio
from app.core.history import Buckets
from app.core.intervals import Interval
from app.core.report_activity import hour_span
from app.core.report_book import ReportBook
from app.core.reports import Activity, SloRow, slo_row
from app.core.state import WindowState
from app.core.unit import SloUnit
from app.core.windows import DAY_TIER, DAY_US, HOUR_TIER, HOUR_US


@dataclass(frozen=True, slots=True)
class ReportSource:
    """What an SLO's report row is computed from: its daily and hourly buckets, its report
    book, the events pending ahead of its time, and that time. A live unit gives one
    (`source_of`); so does a read model's copy of it (app/stream/read_model_reports)."""

    days: Buckets
    hours: Buckets
    book: ReportBook
    pending: Sequence[tuple[int, int, int]]  # (ts, good, total) stamped after now_us
    now_us: int  # the state's time


def source_of(state: WindowState, book: ReportBook) -> ReportSource:
    return ReportSource(
        Buckets.of_ring(state.rings.view(DAY_TIER)),
        Buckets.of_ring(state.rings.view(HOUR_TIER)),
        book,
        state.pending,
        state.now_us,
    )


def interval_sums(src: ReportSource, interval: Interval) -> tuple[int, int]:
    """(good, total) of the events with from <= ts < to that the source holds."""
    if interval.from_us % DAY_US or interval.to_us % DAY_US:
        raise ValueError("a live report needs a day-aligned interval")
    ring, book = src.days, src.book
    good = total = 0
    first_k = max(interval.from_us // DAY_US + 1, ring.head - ring.n + 1)
    for k in range(first_k, min(interval.to_us // DAY_US, ring.head) + 1):
        g, n = ring.counts(k)
        good += g
        total += n
    if interval.from_us <= src.now_us:  # its bucket (the day before) is not summed: add it
        g, n = book.edge(interval.from_us)
        good += g
        total += n
    if interval.to_us <= src.now_us:  # counted in R's last bucket, but not in R
        g, n = book.edge(interval.to_us)
        good -= g
        total -= n
    for ts_us, g, n in src.pending:
        if interval.from_us <= ts_us < interval.to_us:
            good += g
            total += n
    return good, total


def worst_error_rate(src: ReportSource, interval: Interval, now_us: int) -> float | None:
    """The largest error rate of a whole clock hour (h - 1h, h] of R, or None without one."""
    first, last = hour_span(interval, now_us)
    if last < first:
        return None
    ring = src.hours
    worst = 0.0
    days_seen: set[int] = set()
    for h in range(first, last + 1, HOUR_US):
        k = h // HOUR_US
        if ring.head - k < ring.n:
            worst = max(worst, error_rate_ratio(*ring.counts(k)))
            continue
        day = (h - 1) // DAY_US
        if day not in days_seen:
            days_seen.add(day)
            captured = src.book.worst_of_day(day)
            if captured is not None:
                worst = max(worst, captured)
    return worst


def source_row(slo_id: str, target_percentage: float, src: ReportSource, interval: Interval, now_us: int) -> SloRow:
    good, total = interval_sums(src, interval)
    minutes, pages, tickets = src.book.activity_days(interval.from_us // DAY_US, interval.to_us // DAY_US)
    rate = worst_error_rate(src, interval, now_us)
    worst = None if rate is None else rate / BudgetRatio.of(target_percentage).value
    activity = Activity(minutes, pages, tickets, worst)
    return slo_row(slo_id, target_percentage, interval, now_us, good, total, activity)


def live_row(unit: SloUnit, interval: Interval, now_us: int) -> SloRow:
    unit.advance(now_us)
    objective = unit.objective
    return source_row(
        objective.slo_id, objective.target_percentage, source_of(unit.state, unit.report), interval, now_us
    )


def empty_row(slo_id: str, target_percentage: float, interval: Interval, now_us: int) -> SloRow:
    """An SLO without a unit (no event yet): no data, and no whole hour burned."""
    first, last = hour_span(interval, now_us)
    activity = Activity(worst_burn_rate_1h=0.0 if last >= first else None)
    return slo_row(slo_id, target_percentage, interval, now_us, 0, 0, activity)
