"""Live report rows (rings + report book, what the worker answers) against the offline command.

The worker's path without the broker: SloUnits(track=True) offered the events in
time order at processing time = event time, evaluated now and then like the timer,
its changelog drained and recovered midway (a restart); then every row equals the
offline report's on the same events, float for float.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.core.intervals import Interval, parse_period
from app.core.live_report import empty_row, live_row
from app.core.report_book import is_period_start
from app.core.units import SloUnits
from app.domain.enums import TimePeriod
from app.domain.events import SliEvent
from app.domain.models import SLO
from app.domain.reports import slo_report_row
from app.domain.views import objective_of
from app.replay import prepare
from app.report import offline_report
from tests import reference as ref
from tests.reference import DAY, HOUR, MINUTE, Event

PROPS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _slo(i: int, target: float, period: TimePeriod) -> SLO:
    return SLO(
        slo_id=f"slo-{i}",
        slo_name=f"SLO {i}",
        service_name="api",
        slo_type="AVAILABILITY",
        target_percentage=target,
        time_period=period,
        min_short_window_events=0,
    )


def _lines(events: list[Event]) -> bytes:
    return b"".join(
        json.dumps({"slo_id": e.slo_id, "timestamp": e.ts_us // 1_000_000, "good": e.good, "total": e.total}).encode()
        + b"\n"
        for e in events
    )


def live_rows(
    slos: list[SLO], events: list[Event], interval: Interval, now: int, restart_at: int | None = None
) -> list[object]:
    objectives = {s.slo_id: objective_of(s) for s in slos}
    units = SloUnits(track=True)
    records: list[tuple[bytes, bytes | None]] = []
    last_us = 0
    for offset, e in enumerate(sorted(events, key=lambda e: e.ts_us)):
        if restart_at is not None and offset == restart_at:  # a restart right after the last event
            records += units.drain_records()
            units = SloUnits.recover(objectives, records, last_us)
        last_us = e.ts_us
        event = SliEvent(slo_id=e.slo_id, ts_us=e.ts_us, good=e.good, total=e.total)
        assert units.offer(objectives[e.slo_id], event, e.ts_us, offset) is None
        if offset % 7 == 0:  # the timer passes now and then
            for objective in objectives.values():
                units.evaluate(objective, e.ts_us)
    rows = []
    for slo in slos:
        unit = units.get(slo.slo_id)
        row = (
            live_row(unit, interval, now)
            if unit is not None
            else empty_row(slo.slo_id, slo.target_percentage, interval, now)
        )
        rows.append(slo_report_row(slo, row))
    return rows


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[SLO], list[Event], Interval, int]:
    year = draw(st.integers(2025, 2027))
    week = draw(st.integers(1, 52))
    interval = parse_period(f"{year}-W{week:02d}")
    if draw(st.booleans()):  # from a month's first day or a Monday to the next of either
        month_start = ref.us_of(datetime(year, draw(st.integers(1, 12)), 1, tzinfo=UTC))
        starts = sorted(
            {month_start, *(month_start + d * DAY for d in range(1, 15) if is_period_start(month_start + d * DAY))}
        )
        interval = Interval(starts[0], starts[1]) if draw(st.booleans()) else Interval(starts[1], starts[2])
    now = draw(
        st.one_of(
            st.integers(interval.to_us, interval.to_us + DAY),
            st.integers(interval.from_us, interval.to_us),
        )
    )
    slos = [
        _slo(i, draw(st.sampled_from([99.9, 99.0, 95.0])), draw(st.sampled_from(list(TimePeriod))))
        for i in range(draw(st.integers(1, 2)))
    ]
    events = []
    for slo in slos:
        budget = 1 - slo.target_percentage / 100
        for _ in range(draw(st.integers(0, 15))):
            where = draw(st.sampled_from(["in", "in", "edge", "before"]))
            if where == "in":
                ts = draw(st.integers(interval.from_us - 6 * HOUR, min(now, interval.to_us + HOUR)))
            elif where == "edge":
                ts = draw(st.sampled_from([interval.from_us, interval.to_us])) + draw(
                    st.sampled_from([-MINUTE, 0, 0, MINUTE])
                )
            else:
                ts = draw(st.integers(interval.from_us - DAY, interval.from_us))
            ts = min(ts - ts % 1_000_000, now)
            total = draw(st.integers(0, 3000))
            k = draw(st.sampled_from([0, 0.5, 1, 5, 20, 100]))
            events.append(Event(slo.slo_id, ts, total - min(total, round(total * budget * k)), total))
    return slos, events, interval, now


@PROPS
@given(scenario=scenarios(), restart=st.one_of(st.none(), st.integers(0, 40)))
def test_live_rows_equal_the_offline_report(
    scenario: tuple[list[SLO], list[Event], Interval, int], restart: int | None
) -> None:
    slos, events, interval, now = scenario
    offline = offline_report(prepare(slos, _lines(events), now, fallback_now_us=now), interval)
    assert live_rows(slos, events, interval, now, restart) == offline.slos
    event("alerting" if any(r.alert_minutes for r in offline.slos) else "quiet")
    event("restarted" if restart is not None and restart < len(events) else "one run")


def test_an_event_at_midnight_counts_in_the_day_it_starts() -> None:
    slo = _slo(0, 99.0, TimePeriod.CALENDAR_MONTH)
    november = parse_period("2026-11")
    events = [
        Event(slo.slo_id, november.from_us, 10, 10),  # 00:00 on Nov 1st: in November
        Event(slo.slo_id, november.to_us, 5, 7),  # 00:00 on Dec 1st: in December, not November
        Event(slo.slo_id, november.from_us + HOUR, 1, 2),
    ]
    now = november.to_us + MINUTE
    (row,) = live_rows([slo], events, november, now)
    assert (row.good, row.total) == (11, 12)
    (december,) = live_rows([slo], events, parse_period("2026-12"), now)
    assert (december.good, december.total) == (5, 7)
    assert offline_report(prepare([slo], _lines(events), now, fallback_now_us=now), november).slos == [row]
