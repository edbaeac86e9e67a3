"""What-if targets against the brute-force reference (tests/reference.py).

The engine's what-if evaluates an SLO's retained counts for another target (and
period); the reference evaluates the same accepted events for an SLO defined with
that target and period. Every figure must agree, as for the SLO's own evaluation
(tests/test_properties.check_report). Past months: the reference sums the events of
each closed month `[from, to)` and judges `sli >= target` exactly.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from app.core.enums import TimePeriod
from app.core.evaluation import evaluate
from app.core.intervals import first_day_covered_us
from app.core.live_report import source_of
from app.core.state import WindowState
from app.core.unit import SloUnit
from app.core.units import SloUnits
from app.core.whatif import past_months, what_if, what_if_objective
from app.domain.events import SliEvent
from app.domain.models import SLO
from app.domain.views import objective_of
from app.domain.whatif import what_if_view
from tests import reference as ref
from tests.reference import DAY, WINDOWS, Event
from tests.test_properties import PROPS, TARGETS, check_report, event_sets, nows, slo_sets

WHAT_IF_TARGETS = [*TARGETS, 99.5, 99.0, 98.0, 99.99]


def _rules_fit(slo: SLO, period: TimePeriod, now: int) -> bool:
    """The reference skips a rule whose long window is not shorter than the period even for an
    explicit threshold; the engine keeps those. Tests stay where both read the contract alike."""
    length = ref.period_of(period, now)[1]
    rules = slo.burn_rate_rules or []
    return all(r.burn_rate_threshold is None or WINDOWS[r.long_window] < length for r in rules)


def _accepted_units(slo: SLO, events: list[Event], now: int) -> tuple[SloUnits, list[Event]]:
    units = SloUnits(track=True)
    objective = objective_of(slo)
    accepted = []
    for offset, e in enumerate(events):
        if units.offer(objective, SliEvent(e.slo_id, e.ts_us, e.good, e.total), now, offset) is None:
            accepted.append(e)
    return units, accepted


@settings(PROPS, max_examples=300)
@given(data=st.data())
def test_what_if_matches_the_reference_for_the_other_target_and_period(data: st.DataObject) -> None:
    now = data.draw(nows(aligned=True), label="now")
    slo = data.draw(slo_sets(now), label="slo")[0].model_copy(update={"enabled": True})
    target = data.draw(st.sampled_from(WHAT_IF_TARGETS), label="target")
    period = data.draw(st.one_of(st.just(slo.time_period), st.sampled_from(list(TimePeriod))), label="period")
    assume(_rules_fit(slo, period, now))
    budget = 1 - target / 100
    events = data.draw(event_sets(now, (slo.slo_id,), big=False, max_size=60, budgets={slo.slo_id: budget}))
    units, accepted = _accepted_units(slo, events, now)
    at = now if all(e.ts_us <= now for e in accepted) else now + DAY  # bucket-aligned: exact sums

    objective = objective_of(slo)
    as_defined = units.evaluate(objective, at)
    unit = units.get(slo.slo_id)
    state = unit.state if unit is not None else WindowState(at)
    got = what_if(objective, state, target, period)

    other = slo.model_copy(update={"target_percentage": target, "time_period": period})
    check_report(got, other, ref.evaluate(accepted, other, at))
    check_report(as_defined, slo, ref.evaluate(accepted, slo, at))  # the SLO's own figures untouched
    # The same figures as an SLO defined with that target and period from the start.
    assert got == evaluate(objective_of(other), state)
    event(f"period changed {period != slo.time_period}")


@settings(PROPS, max_examples=150)
@given(data=st.data())
def test_past_months_are_judged_like_the_reference(data: st.DataObject) -> None:
    now = data.draw(nows(aligned=True), label="now")
    slo = data.draw(slo_sets(now), label="slo")[0].model_copy(update={"enabled": True})
    target = data.draw(st.sampled_from(WHAT_IF_TARGETS), label="target")
    events = data.draw(event_sets(now, (slo.slo_id,), big=False, max_size=60, budgets={slo.slo_id: 1 - target / 100}))
    # also events right at the past months' edges (counted in the month they start)
    edges = [ref.month_bounds(now - k * 28 * DAY)[0] for k in range(1, 14)]
    good_at_edge = data.draw(st.sampled_from([1, 3]), label="good at edges")
    events += [
        Event(slo.slo_id, t + d, good_at_edge, 3) for t in edges[:: data.draw(st.integers(1, 4))] for d in (-1, 0)
    ]
    units, accepted = _accepted_units(slo, events, now)
    at = now if all(e.ts_us <= now for e in accepted) else now + DAY
    units.evaluate(objective_of(slo), at)
    unit = units.get(slo.slo_id)
    assert unit is not None
    unit.advance(at)
    months = past_months(source_of(unit.state, unit.report), target)

    first = first_day_covered_us(at)
    want: list[tuple[int, int, int, int, bool | None]] = []
    end = ref.month_bounds(at)[0]
    while len(want) < 12:
        start = ref.month_bounds(end - 1)[0]
        if start < first:
            break
        good = sum(e.good for e in accepted if start <= e.ts_us < end)
        total = sum(e.total for e in accepted if start <= e.ts_us < end)
        want.append(
            (start, end, good, total, None if total == 0 else Fraction(good, total) >= Fraction(repr(target)) / 100)
        )
        end = start
    assert [(m.interval.from_us, m.interval.to_us, m.good, m.total, m.met) for m in months] == want
    event(f"months met {sum(w[4] is True for w in want)} of {sum(w[4] is not None for w in want)}")


def _us(text: str) -> int:
    return ref.us_of(datetime.fromisoformat(text).replace(tzinfo=UTC))


def test_a_looser_target_turns_an_exhausted_budget_into_a_healthy_one() -> None:
    """30 days at 99.7%: a 99.9% SLO has spent three budgets; at 99.5% 60% of it is spent."""
    slo = SLO(
        slo_id="co",
        slo_name="co",
        service_name="svc",
        slo_type="AVAILABILITY",
        target_percentage=99.9,
        time_period=TimePeriod.ROLLING_30D,
    )
    now = _us("2026-11-15T00:00:00")
    state = WindowState(now)
    for day in range(30):
        state.add(now - day * DAY - 3600 * 10**6, 9970, 10_000)
    objective = objective_of(slo)
    own = evaluate(objective, state)
    assert own.status.value == "EXHAUSTED"
    assert math.isclose(own.budget.consumed_ratio, 3.0)
    looser = what_if(objective, state, 99.5)
    assert looser.status.value == "HEALTHY"
    assert looser.budget.bad_events == 900
    assert math.isclose(looser.budget.allowed_bad_events, 1500.0)
    assert math.isclose(looser.budget.consumed_ratio, 0.6)  # 900 of the 1500 a 99.5% target allows
    weekly = what_if(objective, state, 99.5, TimePeriod.ROLLING_7D)
    assert weekly.budget.total_events == 70_000
    assert weekly.period_us == 7 * DAY
    unit = SloUnit(objective, state)
    view = what_if_view(slo, TimePeriod.ROLLING_7D, own, weekly, past_months(source_of(state, unit.report), 99.5))
    assert view.what_if.target_sli == 99.5
    assert view.what_if_error_budget.time_period is TimePeriod.ROLLING_7D
    assert view.as_defined.status.value == "EXHAUSTED"
    # October 16th..31st held 16 days at 99.7%: met at 99.5, not at 99.9
    assert view.past_months[0].month == "2026-10"
    assert (view.past_months[0].good, view.past_months[0].total) == (16 * 9970, 16 * 10_000)
    assert view.past_months[0].met is True
    assert view.months_met == view.months_with_data == 1


@pytest.mark.parametrize("bad", [0.0, 100.0, -1.0, 150.0, float("nan"), float("inf")])
def test_a_target_outside_0_100_is_refused_naming_the_field(bad: float) -> None:
    slo = SLO(
        slo_id="x", slo_name="x", service_name="s", slo_type="LATENCY", target_percentage=99.0, time_period="ROLLING_7D"
    )
    with pytest.raises(ValueError, match="target_percentage"):
        what_if_objective(objective_of(slo), bad)
