"""One SLO's unit of evaluation: its objective, window state, alert book and dedup ids.

Replay, the streaming worker's partition stores and the API all hold SLOs as
these units (app/core/units collects them), so a feature added here is added
everywhere at once. Pure: `now` is always passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.alerts import AlertBook, Condition, Transition, step
from app.core.changelog import FINEST_BUCKET_US, Guard, Part, add_guarded, calendar_parts_of, ring_parts_of_bucket
from app.core.dedup import DedupWindow
from app.core.evaluation import Objective, SloEvaluation, evaluate
from app.core.report_book import ReportBook, is_period_start
from app.core.state import WindowState

META = "meta"

StatusKey = tuple[str, frozenset[str]]  # (status, alert conditions): what a status event is published on


def status_key(report: SloEvaluation) -> StatusKey:
    """What a timer-driven status event is published on a change of: the status and
    the alert conditions (firing rules, staleness)."""
    return report.status.value, report.alert_names


@dataclass(slots=True)
class SloUnit:
    objective: Objective
    state: WindowState
    book: AlertBook = field(default_factory=AlertBook)  # open alert episodes (never re-fired)
    dedup: DedupWindow | None = None  # created by the first event_id (most SLOs' producers send none)
    seq: int = 0  # sequence of the last status event published
    last_status: StatusKey | None = None  # the last published; a timer publishes on a change only
    firing_events: dict[str, Any] = field(default_factory=dict)  # rule -> its open episode's event
    report: ReportBook = field(default_factory=ReportBook)  # rule activity per day, for compliance reports
    # Changelog bookkeeping (only when the collection tracks changes):
    guard: Guard | None = None  # parts recovered from the changelog, until replay passes them
    guard_until: int = -1  # highest offset in the guard
    dirty: dict[Part, int] = field(default_factory=dict)  # part -> offset of its last event
    dirty_buckets: dict[int, int] = field(default_factory=dict)  # finest bucket -> offset, parts not listed yet
    expired: list[Part] = field(default_factory=list)  # parts to delete from the changelog

    def ids(self) -> DedupWindow:
        """The SLO's dedup ids, created on first use."""
        if self.dedup is None:
            self.dedup = DedupWindow()
        return self.dedup

    @property
    def slo_id(self) -> str:
        return self.objective.slo_id

    def count(self, ts_us: int, good: int, total: int, offset: int, now_us: int, track: bool) -> None:
        """Count an accepted event read at input `offset`, at processing time `now_us`.
        A timestamp ahead of `now_us` (within the skew) moves the SLO's time forward
        with it, so nothing waits in a buffer."""
        state = self.state
        self.advance(max(now_us, ts_us), inclusive=False)
        guarded = self.guard is not None and offset <= self.guard_until
        if guarded:
            assert self.guard is not None
            add_guarded(state, ts_us, good, total, offset, self.guard)
        else:
            self.guard = None
            state.add(ts_us, good, total)
        if is_period_start(ts_us):
            self.report.count_edge(ts_us, good, total, offset, guarded)
        if track:
            self.dirty_buckets[-(-ts_us // FINEST_BUCKET_US)] = offset  # ring parts: listed at the drain
            self.note_report_changes(offset)
            dirty = self.dirty
            for part in calendar_parts_of(state, ts_us):
                dirty[part] = offset
            dirty[META] = offset

    def changed_parts(self) -> dict[Part, int]:
        """Every part changed since the last drain -> offset of the last event counted in it."""
        if self.dirty_buckets:
            dirty = self.dirty
            for k0, offset in self.dirty_buckets.items():
                for part in ring_parts_of_bucket(self.state, k0):
                    if dirty.get(part, -1) < offset:
                        dirty[part] = offset
            self.dirty_buckets = {}
        return self.dirty

    def advance(self, now_us: int, inclusive: bool = True) -> None:
        """Move the SLO's time to `now_us`, evaluating every whole minute up to it (before it
        unless `inclusive`) for the report book first (app/core/report_book)."""
        if now_us > self.state.now_us or (inclusive and now_us > self.report.last_us):
            self.report.close_minutes(self.objective, self.state, now_us, inclusive)
            self.state.advance(now_us)

    def evaluate(self, now_us: int) -> SloEvaluation:
        # The minute ending exactly at `now_us` stays open: an event stamped `now_us` may
        # still arrive (a report read at `now_us` closes it, as the offline command does).
        self.advance(now_us, inclusive=False)
        return evaluate(self.objective, self.state)

    def note_report_changes(self, offset: int) -> bool:
        """Mark the report book's changed parts for the changelog; True if there were any."""
        changed = self.report.changed
        if not changed:
            return False
        for part in changed:
            self.dirty[part] = max(offset, self.dirty.get(part, -1))
        changed.clear()
        self.report.version += 1
        return True

    def step_alerts(
        self, now: Sequence[Condition], now_us: int, period_start_us: int | None = None
    ) -> list[Transition]:
        """Advance the alert state machines to an evaluation at `now_us` that found
        the `now` conditions (`period_start_us`: the calendar period's start, which
        ends the budget episodes opened before it)."""
        return step(self.book, now, now_us, period_start_us)

    def step_report(self, report: SloEvaluation) -> list[Transition]:
        """Advance the alert state machines to what `report` found."""
        return step(self.book, report.conditions, report.now_us, report.calendar_start_us)

    def touch(self) -> None:
        """Mark the META record (sequence, status, alert book) as changed."""
        self.dirty[META] = self.dirty.get(META, -1)
