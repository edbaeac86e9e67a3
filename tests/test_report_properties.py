"""Compliance reports against the brute-force reference (tests/reference.report_row).

Random SLOs, random events (background plus incidents that make rules fire),
random intervals, open and closed, aligned and not; the offline command's path
(decode, acceptance at `now`, per-SLO rows, rollups) against the reference.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.core.intervals import BadInterval, Interval, custom_interval, first_day_covered_us, parse_period
from app.core.windows import TIERS
from app.domain.enums import TimePeriod
from app.domain.models import SLO
from app.replay import prepare
from app.report import offline_report
from tests import reference as ref
from tests.reference import DAY, HOUR, MINUTE, Event

PROPS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BUCKET_OF: dict[str, int] = {w.name: tier.bucket_us for tier in TIERS for w in tier.windows}
PERIODS = list(TimePeriod)


def _close(a: float | None, b: Fraction | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, float(b), rel_tol=rel, abs_tol=1e-12)


def _slo(i: int, target: float, period: TimePeriod, service: str, min_short: int) -> SLO:
    return SLO(
        slo_id=f"slo-{i}",
        slo_name=f"SLO {i}",
        service_name=service,
        slo_type="AVAILABILITY",
        target_percentage=target,
        time_period=period,
        min_short_window_events=min_short,
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[SLO], list[Event], Interval, int]:
    year = draw(st.integers(2024, 2027))
    month = draw(st.integers(1, 12))
    base = ref.us_of(datetime(year, month, 1, tzinfo=UTC)) + draw(st.integers(0, 27)) * DAY
    kind = draw(st.sampled_from(["minutes", "hours", "day", "any", "any"]))
    if kind == "minutes":
        from_us = base + draw(st.integers(0, 24 * 60)) * MINUTE
        to_us = from_us + draw(st.integers(1, 8 * 60)) * MINUTE
    elif kind == "hours":
        from_us = base + draw(st.integers(0, 23)) * HOUR
        to_us = from_us + draw(st.integers(1, 30)) * HOUR
    elif kind == "day":
        from_us, to_us = base, base + DAY
    else:
        from_us = base + draw(st.integers(0, DAY))
        to_us = from_us + draw(st.integers(1, 20 * HOUR))
    length = to_us - from_us
    now = draw(
        st.one_of(
            st.just(to_us),
            st.integers(to_us, to_us + 2 * DAY),  # closed
            st.integers(from_us, to_us - 1),  # open
            st.integers(from_us - HOUR, from_us),  # not begun
        )
    )
    n_slos = draw(st.integers(1, 3))
    slos = [
        _slo(
            i,
            draw(st.sampled_from([99.9, 99.0, 95.0, 99.5, 90.0])),
            draw(st.sampled_from(PERIODS)),
            draw(st.sampled_from(["api", "web"])),
            draw(st.sampled_from([0, 0, 10])),
        )
        for i in range(n_slos)
    ]
    events: list[Event] = []
    for slo in slos:
        budget = 1 - slo.target_percentage / 100
        level = draw(st.sampled_from([0.3, 0.6, 0.85, 0.95, 1.0, 2.0]))
        for _ in range(draw(st.integers(0, 25))):
            kind_ts = draw(st.sampled_from(["in", "in", "edge", "before"]))
            if kind_ts == "in":
                ts = draw(st.integers(from_us - 2 * HOUR, to_us + HOUR))
            elif kind_ts == "edge":
                edge = draw(st.sampled_from([from_us, to_us, from_us + HOUR, now, to_us - length // 2]))
                ts = edge + draw(st.sampled_from([-MINUTE, -1, 0, 1, MINUTE, -HOUR]))
            else:
                ts = draw(st.integers(from_us - 4 * DAY, from_us))
            total = draw(st.integers(0, 5000))
            k = draw(st.sampled_from([0, level, level, level, 3, 10, 20, 100]))
            bad = min(total, round(total * budget * k))
            events.append(Event(slo.slo_id, max(ts, 0), total - bad, total))
    return slos, events, Interval(from_us, to_us), now


def _lines(events: list[Event]) -> bytes:
    return b"".join(
        json.dumps(
            {
                "slo_id": e.slo_id,
                "timestamp": e.ts_us / 1e6 if e.ts_us % 1_000_000 else e.ts_us // 1_000_000,
                "good": e.good,
                "total": e.total,
            }
        ).encode()
        + b"\n"
        for e in events
    )


@PROPS
@given(scenario=scenarios())
def test_offline_report_matches_the_reference(scenario: tuple[list[SLO], list[Event], Interval, int]) -> None:
    slos, events, interval, now = scenario
    prepared = prepare(slos, _lines(events), now, fallback_now_us=now)
    # Float epoch seconds may round to a neighbouring microsecond: use what was decoded.
    decoded = [
        Event(slos[i].slo_id, t, g, n)
        for i, t, g, n in zip(
            prepared.slo_index.tolist(),
            prepared.ts_us.tolist(),
            prepared.good.tolist(),
            prepared.total.tolist(),
            strict=True,
        )
    ]
    accepted = [e for e in decoded if ref.accepted(e.ts_us, now, TimePeriod.ROLLING_30D)]
    assert len(accepted) == len(decoded)
    report = offline_report(prepared, interval)
    assert report.interval.closed == (interval.to_us <= now)
    assert report.interval.complete == (interval.from_us >= ref.first_day_covered(now))
    expected = [ref.report_row(slo, accepted, interval.from_us, interval.to_us, now, BUCKET_OF) for slo in slos]
    assert [r.slo_id for r in report.slos] == [e.slo_id for e in expected]
    for got, want in zip(report.slos, expected, strict=True):
        assert (got.slo_id, got.good, got.total, got.status.value) == (want.slo_id, want.good, want.total, want.status)
        assert _close(got.sli, want.sli, 1e-12)
        assert _close(got.error_budget_consumed, want.consumed)
        assert _close(got.budget_minutes, want.budget_minutes)
        assert _close(got.consumed_minutes, want.consumed_minutes)
        assert _close(got.worst_burn_rate_1h, want.worst_burn_rate_1h)
        assert (got.alert_minutes, got.pages, got.tickets) == (want.alert_minutes, want.pages, want.tickets)
        event(f"status {want.status}")
        event("alerting" if want.alert_minutes else "quiet")
        event("closed" if report.interval.closed else "open")
    for service in report.services:
        rows = [w for w, s in zip(expected, slos, strict=True) if s.service_name == service.service_name]
        _check_rollup(service.model_dump(), ref.report_rollup(rows))
    _check_rollup(report.all.model_dump(), ref.report_rollup(expected))
    assert {s.service_name for s in report.services} == {s.service_name for s in slos}


def _check_rollup(got: dict[str, object], want: dict[str, object]) -> None:
    for key in ("good", "total", "met", "at_risk", "failed", "no_data"):
        assert got[key] == want[key], key
    for key in ("sli", "compliance_percentage"):
        value = got[key]
        assert value is None or isinstance(value, float)
        expected = want[key]
        assert expected is None or isinstance(expected, Fraction)
        assert _close(value, expected, 1e-12), key


def test_a_rule_firing_through_r_counts_every_minute_and_one_episode() -> None:
    """A known answer: 1 hour of 10% errors on a 99.9% ROLLING_30D SLO, one event a minute."""
    slo = _slo(0, 99.9, TimePeriod.ROLLING_30D, "api", 0)
    start = ref.us_of(datetime(2026, 10, 5, tzinfo=UTC))
    events = [Event(slo.slo_id, start + m * MINUTE, 900, 1000) for m in range(1, 61)]
    interval = parse_period("2026-10")
    now = ref.us_of(datetime(2026, 11, 2, tzinfo=UTC))
    report = offline_report(prepare([slo], _lines(events), now, fallback_now_us=now), interval)
    row = report.slos[0]
    want = ref.report_row(slo, events, interval.from_us, interval.to_us, now, BUCKET_OF)
    # page-1h-5m (14.4) and page-6h-30m (6) fire at once: burn 100 in both windows from the
    # first minute; the 1h rule stops 60 min after the last event... (the reference decides).
    assert row.pages == want.pages == 2
    assert row.tickets == want.tickets == 2
    assert row.alert_minutes == want.alert_minutes > 60
    assert row.worst_burn_rate_1h == pytest.approx(100.0)
    assert row.status.value == "failed" and report.interval.closed


# -- periods ----------------------------------------------------------------------------


@given(st.integers(1971, 2100), st.integers(1, 12))
def test_month_and_quarter_periods(year: int, month: int) -> None:
    iv = parse_period(f"{year}-{month:02d}")
    assert (iv.from_us, iv.to_us) == ref.month_bounds(ref.us_of(datetime(year, month, 15, tzinfo=UTC)))
    q = (month - 1) // 3 + 1
    iv = parse_period(f"{year}-Q{q}")
    assert (iv.from_us, iv.to_us) == ref.quarter_bounds(ref.us_of(datetime(year, month, 15, tzinfo=UTC)))
    iv = parse_period(str(year))
    assert (iv.from_us, iv.to_us) == ref.year_bounds(ref.us_of(datetime(year, 6, 1, tzinfo=UTC)))


@given(st.dates(date(1971, 1, 1), date(2100, 12, 31)))
def test_iso_weeks_start_on_monday(day: date) -> None:
    year, week, _ = day.isocalendar()
    iv = parse_period(f"{year}-W{week:02d}")
    assert (iv.from_us, iv.to_us) == ref.iso_week_bounds(year, week)
    start = ref.dt_of(iv.from_us)
    assert start.weekday() == 0 and start.hour == 0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("2026-13", "month 13"),
        ("2026-00", "month 0"),
        ("2026-Q5", "quarter 5"),
        ("2026-W54", "no week 54"),
        ("2025-W53", "no week 53"),
        ("26-10", "is not a period"),
        ("october", "is not a period"),
        ("", "is not a period"),
        ("0999", "outside"),
    ],
)
def test_bad_periods_name_what_is_wrong(text: str, needle: str) -> None:
    with pytest.raises(BadInterval) as info:
        parse_period(text)
    assert needle in str(info.value) and info.value.argument == "period"


def test_2026_w53_exists_and_from_must_precede_to() -> None:
    assert parse_period("2026-W53").length_us == 7 * DAY
    with pytest.raises(BadInterval, match="must be before"):
        custom_interval(5, 5)


def test_first_day_covered_is_400_days_back() -> None:
    now = ref.us_of(datetime(2026, 11, 3, 12, tzinfo=UTC))
    assert first_day_covered_us(now) == ref.first_day_covered(now) == ref.us_of(datetime(2025, 9, 30, tzinfo=UTC))
