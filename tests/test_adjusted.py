"""Adjustments applied live, at evaluation, to a state that counted every event
(app/core/adjusted): for ranges on whole UTC days (aligned with every ring) the
evaluation equals the one of a state that never saw the excluded events, and the
excluded counts equal that of a state that saw only them, for every period."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.adjustments import Adjustment
from app.core.enums import TimePeriod
from app.core.evaluation import Objective, SloEvaluation, evaluate
from app.core.state import WindowState

S = 1_000_000
MIN = 60 * S
HOUR = 60 * MIN
DAY = 24 * HOUR
BASE_DAY = 20_500  # 2026-02-16


def _state(now: int, events: list[tuple[int, int, int]]) -> WindowState:
    state = WindowState(now)
    if events:
        ts, good, total = (np.asarray(c, dtype=np.int64) for c in zip(*events, strict=True))
        state.add_batch(ts, good, total)
    return state


def _same(a: SloEvaluation, b: SloEvaluation) -> None:
    for f in fields(SloEvaluation):
        if f.name not in ("excluded_good", "excluded_total", "last_event_us"):  # excluded events did arrive
            assert getattr(a, f.name) == getattr(b, f.name), f.name


@st.composite
def day_ranges(draw: st.DrawFn, i: int) -> tuple[Adjustment, list[tuple[int, int]]]:
    start = (BASE_DAY + draw(st.integers(-120, 2))) * DAY
    days = draw(st.integers(1, 5))
    if draw(st.booleans()):
        return Adjustment(f"a{i}", start, days * DAY, slo_ids=frozenset({"x"})), [(start, start + days * DAY)]
    every, count = draw(st.integers(days, days + 10)), draw(st.integers(1, 6))
    rule = f"FREQ=DAILY;INTERVAL={every};COUNT={count}"
    ranges = [(start + j * every * DAY, start + j * every * DAY + days * DAY) for j in range(count)]
    return Adjustment(f"a{i}", start, days * DAY, rule, service_name="svc"), ranges


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    drawn=st.integers(1, 3).flatmap(lambda n: st.tuples(*[day_ranges(i) for i in range(n)])),
    offsets=st.lists(st.tuples(st.integers(-130, 0), st.integers(1, DAY - 1), st.integers(0, 20), st.integers(0, 5))),
    now_in_day=st.integers(1, DAY - 1),
    period=st.sampled_from(list(TimePeriod)),
)
def test_aligned_adjustments_are_exact_for_every_period(
    drawn: tuple[tuple[Adjustment, list[tuple[int, int]]], ...],
    offsets: list[tuple[int, int, int, int]],
    now_in_day: int,
    period: TimePeriod,
) -> None:
    now = BASE_DAY * DAY + now_in_day
    events = [((BASE_DAY + d) * DAY + t, g, g + b) for d, t, g, b in offsets if (BASE_DAY + d) * DAY + t <= now]
    ranges = [r for _, rs in drawn for r in rs]
    # the first and last second, minute and hour of every range, and just outside
    near = [t for s, e in ranges for t in (s + 1, s + MIN - 1, e - 1, e - HOUR + 1, e + 1, s - 1, s + HOUR)]
    events += [(t, 3, 7) for t in near if t <= now and t % DAY]
    excluded = [e for e in events if any(s <= e[0] < end for s, end in ranges)]
    kept = [e for e in events if not any(s <= e[0] < end for s, end in ranges)]
    plain = Objective("x", 99.0, period)
    adjusted = Objective("x", 99.0, period, adjustments=tuple(a for a, _ in drawn))
    got = evaluate(adjusted, _state(now, events))
    _same(got, evaluate(plain, _state(now, kept)))
    only = evaluate(plain, _state(now, excluded)).budget
    assert (got.excluded_good, got.excluded_total) == (only.good_events, only.total_events)


def test_a_maintenance_hour_leaves_the_1h_and_2h_windows_and_comes_back_when_deleted() -> None:
    """Minute-aligned range in the last two hours: exact in the 1-minute ring's windows."""
    now = BASE_DAY * DAY + 10 * HOUR
    events = [(BASE_DAY * DAY + 8 * HOUR + m * MIN + 7 * S, 90, 100) for m in range(120)]  # 08:00-10:00, 10% bad
    state = _state(now, events)
    window = Adjustment("m", BASE_DAY * DAY + 9 * HOUR, HOUR, slo_ids=frozenset({"x"}))  # 09:00-10:00
    adjusted = evaluate(Objective("x", 99.0, TimePeriod.ROLLING_24H, adjustments=(window,)), state)
    plain = evaluate(Objective("x", 99.0, TimePeriod.ROLLING_24H), state)
    assert plain.burn_rates["2h"] == 10.0 and adjusted.burn_rates["2h"] == 10.0  # same error rate, fewer events
    assert adjusted.burn_rates["1h"] == 0.0  # the last hour: all excluded
    assert state.window("1h") == (60 * 90, 60 * 100)  # the state itself is untouched
    # The period (24h) sits on 24-minute buckets (edges 09:12, 09:36, 10:00 of the UTC day): only
    # (09:12, 10:00] lies wholly in the range, so 09:00-09:12 still counts: bucket resolution.
    assert (adjusted.excluded_good, adjusted.excluded_total) == (48 * 90, 48 * 100)
    assert (adjusted.budget.good_events, adjusted.budget.total_events) == (72 * 90, 72 * 100)
    # deleting the adjustment: the next evaluation counts them again
    assert evaluate(Objective("x", 99.0, TimePeriod.ROLLING_24H), state).burn_rates["1h"] == 10.0


def test_no_adjustment_of_the_slo_is_the_plain_evaluation() -> None:
    now = BASE_DAY * DAY + 5 * S
    state = _state(now, [(now - HOUR, 5, 10)])
    far = Adjustment("old", (BASE_DAY - 500) * DAY, DAY, slo_ids=frozenset({"x"}))
    assert evaluate(Objective("x", 99.0, TimePeriod.ROLLING_30D, adjustments=(far,)), state) == evaluate(
        Objective("x", 99.0, TimePeriod.ROLLING_30D), state
    )


def test_a_range_across_the_hourly_rings_oldest_day_is_exact_in_the_year() -> None:
    """Year sums: hourly buckets for the last 35 days, daily ones before; a range across
    the seam loses every one of its days once."""
    now = BASE_DAY * DAY + 5 * HOUR
    events = [((BASE_DAY - d) * DAY + 7 * HOUR, 3, 7) for d in range(1, 45)]
    state = _state(now, events)
    adj = Adjustment("seam", (BASE_DAY - 40) * DAY, 10 * DAY, slo_ids=frozenset({"x"}))  # days -40 .. -31
    got = evaluate(Objective("x", 99.0, TimePeriod.CALENDAR_YEAR, adjustments=(adj,)), state)
    assert (got.excluded_good, got.excluded_total) == (10 * 3, 10 * 7)
    assert got.budget.total_events == (44 - 10) * 7


def test_no_alert_fires_from_excluded_events() -> None:
    """A fast burn caused only by events in an adjusted range: the rules fire without the
    adjustment and not with it (a firing alert then resolves at the next evaluation)."""
    now = BASE_DAY * DAY + 12 * HOUR
    base = [(now - d * HOUR - 7 * S, 1000, 1000) for d in range(2, 24 * 20)]  # 20 days all good
    burst = [(now - 50 * MIN + m * MIN + 7 * S, 0, 1000) for m in range(50)]  # the last 50 minutes all bad
    state = _state(now, base + burst)
    plain = evaluate(Objective("x", 99.9, TimePeriod.ROLLING_30D), state)
    assert {f.rule.name for f in plain.firing}  # the page rules fire
    window = Adjustment("incident", now - HOUR, 2 * HOUR, slo_ids=frozenset({"x"}))  # whole hours
    adjusted = evaluate(Objective("x", 99.9, TimePeriod.ROLLING_30D, adjustments=(window,)), state)
    assert len(adjusted.firing) == 0
    assert adjusted.conditions == ()
    assert adjusted.excluded_total == 50 * 1000 and adjusted.budget.bad_events == 0
