"""Each formula of the contract with hand-computed literal values.

Scenarios are evaluated at day-aligned instants, where every window sum is
exact, so the figures are exactly the contract's.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import pytest

from app.core.budget import (
    BudgetRatio,
    burn_rate,
    error_rate_ratio,
    period_budget,
    time_to_exhaustion_s,
)
from app.core.evaluation import SloEvaluation, evaluate
from app.core.rules import DEFAULT_RULES, BurnRateRule, FiringRule
from app.core.state import WindowState
from app.core.status import StatusThresholds, slo_status
from app.domain.enums import Severity, SLOStatus, TimePeriod
from app.domain.messages import DURATION_TEXT_PATTERN
from app.domain.models import SLO
from app.domain.views import error_budget, exhaustion_text, format_duration, objective_of, status_report
from tests.slo_fields import checkout_fields

S = 1_000_000
MIN = 60 * S
HOUR = 60 * MIN
DAY = 24 * HOUR


def at(text: str) -> int:
    """Microseconds of a naive ISO date-time read as UTC."""
    dt = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(dt.timestamp()) * S + dt.microsecond


NOW = at("2026-03-10T00:00:00")  # a Tuesday in a 31-day month of a 90-day quarter


def make_slo(**kw: object) -> SLO:
    return SLO.model_validate(checkout_fields(**kw))


def run(slo: SLO, now: int, events: list[tuple[int, int, int]]) -> SloEvaluation:
    state = WindowState(now)
    for ts, good, total in events:
        state.add(ts, good, total)
    return evaluate(objective_of(slo), state)


def firing_names(rep: SloEvaluation) -> list[str]:
    return sorted(f.rule.name for f in rep.firing)


approx = pytest.approx  # default rel 1e-6 is too loose here; pass rel explicitly


# -- per-window figures ---------------------------------------------------------------


def test_error_rate() -> None:
    assert error_rate_ratio(990, 1000) == 0.01
    assert error_rate_ratio(1000, 1000) == 0.0
    assert error_rate_ratio(0, 4) == 1.0
    assert error_rate_ratio(3, 4) == 0.25
    assert error_rate_ratio(0, 0) == 0.0  # no events: 0, not NaN


@pytest.mark.parametrize(
    ("target", "budget"),
    [
        (99.9, 0.001),
        (99.0, 0.01),
        (99.5, 0.005),
        (99.95, 0.0005),
        (90.0, 0.1),
        (50.0, 0.5),
        (99.999, 0.00001),
    ],
)
def test_error_budget_ratio_is_one_minus_target(target: float, budget: float) -> None:
    assert BudgetRatio.of(target).value == approx(budget, rel=1e-15)


def test_error_budget_ratio_of_99_9_is_exactly_one_per_mille() -> None:
    assert BudgetRatio.of(99.9).value == 0.001


@pytest.mark.parametrize(
    ("good", "total", "target", "expected"),
    [
        (9_900, 10_000, 99.9, 10.0),  # 1% errors against a 0.1% budget
        (9_990, 10_000, 99.9, 1.0),  # exactly on budget
        (10_000, 10_000, 99.9, 0.0),
        (0, 10, 99.0, 100.0),  # everything failing: 1 / (1 - target)
        (98, 100, 99.0, 2.0),
        (0, 0, 99.9, 0.0),  # no events
        (144, 10_000, 99.9, 985.6),  # 98.56% errors
    ],
)
def test_burn_rate(good: int, total: int, target: float, expected: float) -> None:
    assert burn_rate(good, total, BudgetRatio.of(target)) == approx(expected, rel=1e-12)


def test_burn_rate_per_window_from_events() -> None:
    # 99.9% target; at NOW - 1 min: 1% errors; 3h before: 0.1% errors; 2 days before: 5% errors.
    rep = run(
        make_slo(),
        NOW,
        [
            (NOW - MIN, 9_900, 10_000),
            (NOW - 3 * HOUR, 99_900, 100_000),
            (NOW - 2 * DAY, 1_900, 2_000),
        ],
    )
    expected = {
        "5m": 10.0,
        "30m": 10.0,
        "1h": 10.0,
        "2h": 10.0,
        "6h": 200 / 110_000 / 0.001,  # (100 + 100) bad of 110 000
        "24h": 200 / 110_000 / 0.001,
        "3d": 300 / 112_000 / 0.001,
        "7d": 300 / 112_000 / 0.001,
        "30d": 300 / 112_000 / 0.001,
        "90d": 300 / 112_000 / 0.001,
    }
    assert rep.burn_rates == {k: approx(v, rel=1e-12) for k, v in expected.items()}
    assert rep.burn_rate == approx(10.0, rel=1e-12)  # headline = 1h


def test_window_edges_are_half_open() -> None:
    # now - W < ts <= now: an event exactly W old is out, one at now is in.
    rep = run(
        make_slo(target_percentage=99.0),
        NOW,
        [(NOW - 5 * MIN, 0, 10), (NOW, 9, 10), (NOW - HOUR, 0, 5), (NOW - 30 * DAY, 0, 7)],
    )
    assert rep.burn_rates["5m"] == approx(10.0, rel=1e-12)  # only the event at NOW: 1 bad of 10
    assert rep.burn_rates["30m"] == approx(11 / 20 / 0.01, rel=1e-12)  # 1 + 10 bad of 20
    assert rep.burn_rates["1h"] == approx(11 / 20 / 0.01, rel=1e-12)
    assert rep.burn_rates["2h"] == approx(16 / 25 / 0.01, rel=1e-12)
    assert rep.burn_rates["30d"] == approx(16 / 25 / 0.01, rel=1e-12)
    assert (rep.budget.good_events, rep.budget.total_events) == (9, 25)


# -- budget ---------------------------------------------------------------------------


def test_budget_consumed_and_remaining() -> None:
    # 99.9% over 30 days: 100 000 events, 50 bad; allowed 100.
    rep = run(make_slo(), NOW, [(NOW - 10 * DAY, 99_950, 100_000)])
    b = rep.budget
    assert b.current_sli == approx(99.95, rel=1e-12)
    assert b.allowed_bad_events == approx(100.0, rel=1e-12)
    assert b.bad_events == 50
    assert b.consumed_ratio == approx(0.5, rel=1e-12)
    assert b.remaining_ratio == approx(0.5, rel=1e-12)
    assert b.remaining_bad_events == approx(50.0, rel=1e-12)
    assert rep.time_to_exhaustion_s is None  # nothing burns in the last hour
    assert rep.status is SLOStatus.HEALTHY
    eb = error_budget(make_slo(), rep)
    assert (eb.total_budget, eb.consumed_budget, eb.remaining_budget) == (
        approx(100.0, rel=1e-12),
        50,
        approx(50.0, rel=1e-12),
    )
    assert eb.period_start == datetime(2026, 2, 8, tzinfo=UTC)  # now - 30 days


def test_budget_overspent_goes_negative() -> None:
    b = period_budget(good=9_700, total=10_000, budget_ratio=BudgetRatio.of(99.0))  # 300 bad of 100 allowed
    assert b.consumed_ratio == approx(3.0, rel=1e-12)
    assert b.remaining_ratio == approx(-2.0, rel=1e-12)
    assert b.remaining_bad_events == approx(-200.0, rel=1e-12)
    assert b.exhausted


def test_time_to_exhaustion() -> None:
    # 99.9% over 30 days. 10 days ago: 99 000 events, 40 bad. 10 minutes ago: 1 000 events, 10 bad.
    # Period: 100 000 events, 50 bad, allowed 100 -> remaining 0.5.
    # 1h burn: 1% / 0.1% = 10.  TTE = 0.5 * 2 592 000 s / 10 = 129 600 s = 1.5 days.
    slo = make_slo()
    rep = run(slo, NOW, [(NOW - 10 * DAY, 98_960, 99_000), (NOW - 10 * MIN, 990, 1_000)])
    assert rep.budget.remaining_ratio == approx(0.5, rel=1e-12)
    assert rep.burn_rate == approx(10.0, rel=1e-12)
    assert rep.time_to_exhaustion_s == approx(129_600.0, rel=1e-12)
    assert rep.projected_exhaustion_us == NOW + 129_600 * S
    view = status_report(slo, rep)
    assert view.time_to_exhaustion == "1d 12h"
    assert view.projected_exhaustion == datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
    # 5m has nothing (the burst is 10 minutes old); 30m, 6h, 2h, 24h, 3d burn at 10.
    assert firing_names(rep) == ["page-6h-30m", "ticket-24h-2h", "ticket-3d-6h"]
    assert rep.status is SLOStatus.CRITICAL


def test_time_to_exhaustion_direct() -> None:
    b = period_budget(good=950, total=1_000, budget_ratio=BudgetRatio.of(90.0))  # 50 bad of 100 allowed
    assert time_to_exhaustion_s(b, period_s=86_400.0, burn_rate_1h=2.0) == approx(21_600.0, rel=1e-12)
    assert time_to_exhaustion_s(b, period_s=86_400.0, burn_rate_1h=0.0) is None
    spent = period_budget(good=800, total=1_000, budget_ratio=BudgetRatio.of(90.0))  # 200 bad of 100 allowed
    assert time_to_exhaustion_s(spent, period_s=86_400.0, burn_rate_1h=5.0) == 0.0
    assert time_to_exhaustion_s(spent, period_s=86_400.0, burn_rate_1h=0.0) == 0.0
    empty = period_budget(good=0, total=0, budget_ratio=BudgetRatio.of(90.0))
    assert time_to_exhaustion_s(empty, period_s=86_400.0, burn_rate_1h=0.0) is None


@pytest.mark.parametrize(
    ("now", "days_in_month"),
    [(at("2026-02-10T00:00:00"), 28), (at("2024-02-10T00:00:00"), 29), (at("2026-03-10T00:00:00"), 31)],
)
def test_calendar_month_time_to_exhaustion_uses_the_whole_month(now: int, days_in_month: int) -> None:
    # 99%: 10 000 events 30 minutes ago, 10 bad -> consumed 0.1, remaining 0.9, 1h burn 0.1.
    rep = run(make_slo(target_percentage=99.0, time_period="CALENDAR_MONTH"), now, [(now - 30 * MIN, 9_990, 10_000)])
    assert rep.period_us == days_in_month * DAY
    assert rep.budget.remaining_ratio == approx(0.9, rel=1e-12)
    assert rep.burn_rate == approx(0.1, rel=1e-12)
    assert rep.time_to_exhaustion_s == approx(0.9 * days_in_month * 86_400 / 0.1, rel=1e-12)
    assert {28: 21_772_800.0, 29: 22_550_400.0, 31: 24_105_600.0}[days_in_month] == approx(
        rep.time_to_exhaustion_s, rel=1e-12
    )


def test_calendar_quarter_period_and_counts() -> None:
    # Q1 2026: Jan 1st .. Apr 1st (90 days). An event on Jan 1st 00:00:00 counts, Dec 31st does not.
    slo = make_slo(target_percentage=99.0, time_period="CALENDAR_QUARTER")
    rep = run(
        slo,
        NOW,
        [(at("2026-01-01T00:00:00"), 95, 100), (at("2025-12-31T23:59:59"), 0, 1_000), (NOW, 100, 100)],
    )
    assert rep.period_start_us == at("2026-01-01T00:00:00")
    assert rep.period_us == 90 * DAY
    assert (rep.budget.good_events, rep.budget.total_events) == (195, 200)
    assert rep.budget.current_sli == approx(97.5, rel=1e-12)
    assert rep.budget.consumed_ratio == approx(2.5, rel=1e-12)
    assert rep.status is SLOStatus.EXHAUSTED
    assert rep.time_to_exhaustion_s == 0.0


# -- zero data ------------------------------------------------------------------------


@pytest.mark.parametrize("period", list(TimePeriod))
@pytest.mark.parametrize("events", [[], [(NOW - HOUR, 0, 0), (NOW, 0, 0)]], ids=["none", "zero-totals"])
def test_no_data_gives_null_sli_and_healthy(period: TimePeriod, events: list[tuple[int, int, int]]) -> None:
    slo = make_slo(time_period=period)
    rep = run(slo, NOW, events)
    assert rep.budget.current_sli is None
    assert rep.budget.consumed_ratio == 0.0
    assert rep.budget.remaining_ratio == 1.0
    assert rep.budget.allowed_bad_events == 0.0
    assert rep.burn_rates == dict.fromkeys(rep.burn_rates, 0.0)
    assert len(rep.burn_rates) == 10
    assert rep.firing == []
    assert rep.time_to_exhaustion_s is None
    assert rep.status is SLOStatus.HEALTHY
    view = status_report(slo, rep).model_dump(mode="json")
    assert view["current_sli"] is None
    assert view["time_to_exhaustion"] is None
    assert view["projected_exhaustion"] is None


# -- rules ----------------------------------------------------------------------------

MAR = at("2026-03-10T00:00:00")  # March: 31 days, Q1: 90 days
FEB = at("2026-02-10T00:00:00")  # February 2026: 28 days
FEB_LEAP = at("2024-02-10T00:00:00")  # February 2024: 29 days
APR = at("2026-04-10T00:00:00")  # April: 30 days
AUG = at("2026-08-10T00:00:00")  # Q3: 92 days


@pytest.mark.parametrize(
    ("period", "now", "factors"),
    [
        (
            TimePeriod.ROLLING_30D,
            MAR,
            {"page-1h-5m": 14.4, "page-6h-30m": 6.0, "ticket-24h-2h": 3.0, "ticket-3d-6h": 1.0},
        ),
        (
            TimePeriod.ROLLING_7D,
            MAR,
            {"page-1h-5m": 3.36, "page-6h-30m": 1.4, "ticket-24h-2h": 0.7, "ticket-3d-6h": 0.7 / 3},
        ),
        (TimePeriod.ROLLING_24H, MAR, {"page-1h-5m": 0.48, "page-6h-30m": 0.2}),
        (TimePeriod.ROLLING_1H, MAR, {}),
        (
            TimePeriod.CALENDAR_MONTH,
            FEB,
            {"page-1h-5m": 13.44, "page-6h-30m": 5.6, "ticket-24h-2h": 2.8, "ticket-3d-6h": 2.8 / 3},
        ),
        (
            TimePeriod.CALENDAR_MONTH,
            FEB_LEAP,
            {"page-1h-5m": 13.92, "page-6h-30m": 5.8, "ticket-24h-2h": 2.9, "ticket-3d-6h": 2.9 / 3},
        ),
        (
            TimePeriod.CALENDAR_MONTH,
            MAR,
            {"page-1h-5m": 14.88, "page-6h-30m": 6.2, "ticket-24h-2h": 3.1, "ticket-3d-6h": 3.1 / 3},
        ),
        (
            TimePeriod.CALENDAR_MONTH,
            APR,
            {"page-1h-5m": 14.4, "page-6h-30m": 6.0, "ticket-24h-2h": 3.0, "ticket-3d-6h": 1.0},
        ),
        (
            TimePeriod.CALENDAR_QUARTER,
            MAR,
            {"page-1h-5m": 43.2, "page-6h-30m": 18.0, "ticket-24h-2h": 9.0, "ticket-3d-6h": 3.0},
        ),
        (
            TimePeriod.CALENDAR_QUARTER,
            AUG,
            {"page-1h-5m": 44.16, "page-6h-30m": 18.4, "ticket-24h-2h": 9.2, "ticket-3d-6h": 9.2 / 3},
        ),
    ],
)
def test_default_rule_factors_and_applicability(period: TimePeriod, now: int, factors: dict[str, float]) -> None:
    # Everything failing for the last 3 days: burn 1000 in every window up to 3d,
    # above every factor, so exactly the applicable rules fire.
    slo = make_slo(time_period=period)
    rep = run(slo, now, [(now - k * HOUR, 0, 100) for k in range(72)] + [(now, 0, 100)])
    assert {f.rule.name: f.threshold for f in rep.firing} == {k: approx(v, rel=1e-12) for k, v in factors.items()}
    for f in rep.firing:
        assert f.burn_rate_long == approx(1000.0, rel=1e-12)
        assert f.burn_rate_short == approx(1000.0, rel=1e-12)


def test_default_rules_table() -> None:
    assert [(r.severity, r.long_window, r.short_window, r.budget_fraction) for r in DEFAULT_RULES] == [
        (Severity.PAGE, "1h", "5m", 0.02),
        (Severity.PAGE, "6h", "30m", 0.05),
        (Severity.TICKET, "24h", "2h", 0.10),
        (Severity.TICKET, "3d", "6h", 0.10),
    ]


def test_rule_applies_only_when_long_window_is_shorter_than_the_period() -> None:
    rule = DEFAULT_RULES[2]  # 24h / 2h
    assert not rule.applies_to(DAY)
    assert rule.applies_to(DAY + 1)
    assert not rule.applies_to(HOUR)
    assert rule.threshold(30 * DAY) == approx(3.0, rel=1e-12)


def test_rule_fires_only_when_both_windows_burn_above_the_factor() -> None:
    slo = make_slo()  # 99.9%, 30d: page-1h-5m factor 14.4
    # 1h burns at 20, 5m at 0: the long window alone does not fire.
    rep = run(slo, NOW, [(NOW - 30 * MIN, 980, 1_000), (NOW - 10 * DAY, 10**7, 10**7)])
    assert "page-1h-5m" not in firing_names(rep)
    # 5m burns at 20 but 1h, diluted by good events, at 20 / 101 000 / 0.001 = 0.198: no page either.
    rep = run(
        slo,
        NOW,
        [(NOW - MIN, 980, 1_000), (NOW - 50 * MIN, 100_000, 100_000), (NOW - 10 * DAY, 10**7, 10**7)],
    )
    assert "page-1h-5m" not in firing_names(rep)
    # both at 20: fires.
    rep = run(slo, NOW, [(NOW - MIN, 980, 1_000), (NOW - 10 * DAY, 10**7, 10**7)])
    assert "page-1h-5m" in firing_names(rep)
    f = next(f for f in rep.firing if f.rule.name == "page-1h-5m")
    assert (f.threshold, f.burn_rate_long, f.burn_rate_short) == (
        approx(14.4, rel=1e-12),
        approx(20.0, rel=1e-12),
        approx(20.0, rel=1e-12),
    )


def test_burn_exactly_at_the_factor_does_not_fire() -> None:
    """`burn > factor` is strict. 95% over 7 days: page-6h-30m guards 5% of the
    budget, factor 0.05 * 168h / 6h = 1.4. An incident at exactly 7% errors burns
    at 0.07 / 0.05 = 1.4 in the 30m and 6h windows: the page must not fire. The
    24h/2h ticket rule (factor 0.7) does fire, so the status is WARNING."""
    slo = make_slo(target_percentage=95.0, time_period="ROLLING_7D")
    rep = run(slo, NOW, [(NOW - 10 * MIN, 93, 100), (NOW - 2 * DAY, 10**6, 10**6)])
    assert rep.burn_rates["30m"] == approx(1.4, rel=1e-12)
    assert rep.burn_rates["6h"] == approx(1.4, rel=1e-12)
    # 3d burns at 7 / 1 000 100 / 0.05, far below ticket-3d-6h's 0.7 / 3.
    assert firing_names(rep) == ["ticket-24h-2h"]
    assert rep.status is SLOStatus.WARNING


def test_custom_rule_with_explicit_threshold_replaces_the_defaults() -> None:
    slo = make_slo(
        target_percentage=99.0,
        burn_rate_rules=[{"severity": "ticket", "long_window": "1h", "short_window": "5m", "burn_rate_threshold": 2.0}],
    )
    # 2% errors against a 1% budget: burn exactly 2, not above it.
    at_threshold = run(slo, NOW, [(NOW, 980, 1_000), (NOW - 10 * DAY, 10**6, 10**6)])
    assert at_threshold.burn_rate == approx(2.0, rel=1e-12)
    assert at_threshold.firing == []
    assert at_threshold.status is SLOStatus.HEALTHY
    # The long window exactly at the threshold, the short one above it: still no alert.
    long_at = run(slo, NOW, [(NOW, 970, 1_000), (NOW - 30 * MIN, 500, 500), (NOW - 10 * DAY, 10**6, 10**6)])
    assert long_at.burn_rates["1h"] == approx(2.0, rel=1e-12)  # 30 bad of 1 500
    assert long_at.burn_rates["5m"] == approx(3.0, rel=1e-12)  # 30 bad of 1 000
    assert long_at.firing == []
    # 10% errors: burn 10 -> the ticket fires; the default page rules are gone.
    above = run(slo, NOW, [(NOW, 900, 1_000), (NOW - 10 * DAY, 10**6, 10**6)])
    assert firing_names(above) == ["ticket-1h-5m"]
    assert above.firing[0].threshold == 2.0
    assert above.status is SLOStatus.WARNING


def test_custom_rule_with_budget_fraction_scales_with_the_period() -> None:
    slo = make_slo(
        time_period="ROLLING_7D",
        burn_rate_rules=[{"severity": "page", "long_window": "2h", "short_window": "5m", "budget_fraction": 0.5}],
    )
    rep = run(slo, NOW, [(NOW, 0, 10)])  # burn 1000
    assert [(f.rule.name, f.threshold) for f in rep.firing] == [("page-2h-5m", approx(42.0, rel=1e-12))]  # 0.5*168/2


# -- status ---------------------------------------------------------------------------


def _budget_only(bad: int, **kw: object) -> SloEvaluation:
    """99% over 30 days, 10 000 events 10 days ago (so no rule fires): allowed 100 bad."""
    return run(make_slo(target_percentage=99.0, **kw), NOW, [(NOW - 10 * DAY, 10_000 - bad, 10_000)])


@pytest.mark.parametrize(
    ("bad", "remaining", "status"),
    [
        (0, 1.0, SLOStatus.HEALTHY),
        (75, 0.25, SLOStatus.HEALTHY),  # exactly 0.25 is not below 0.25
        (76, 0.24, SLOStatus.WARNING),
        (90, 0.10, SLOStatus.WARNING),  # exactly 0.10 is not below 0.10
        (91, 0.09, SLOStatus.CRITICAL),
        (99, 0.01, SLOStatus.CRITICAL),  # just above 0
        (100, 0.0, SLOStatus.EXHAUSTED),  # exactly 0
        (101, -0.01, SLOStatus.EXHAUSTED),
        (10_000, -99.0, SLOStatus.EXHAUSTED),
    ],
)
def test_status_budget_boundaries(bad: int, remaining: float, status: SLOStatus) -> None:
    rep = _budget_only(bad)
    assert rep.firing == []
    assert rep.budget.remaining_ratio == approx(remaining, rel=1e-9, abs=1e-12)
    assert rep.status is status
    if status is SLOStatus.EXHAUSTED:
        assert rep.time_to_exhaustion_s == 0.0
        assert rep.projected_exhaustion_us == NOW


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        (10, SLOStatus.HEALTHY),  # remaining 0.9
        (20, SLOStatus.HEALTHY),  # remaining exactly 0.8: not below 0.8
        (21, SLOStatus.WARNING),
        (40, SLOStatus.WARNING),  # 0.6
        (50, SLOStatus.WARNING),  # exactly 0.5: not below 0.5
        (51, SLOStatus.CRITICAL),
        (60, SLOStatus.CRITICAL),  # 0.4
        (100, SLOStatus.EXHAUSTED),
    ],
)
def test_status_custom_thresholds(bad: int, status: SLOStatus) -> None:
    rep = _budget_only(bad, critical_budget_ratio=0.5, warning_budget_ratio=0.8)
    assert rep.status is status


def test_page_rule_makes_critical_with_plenty_of_budget() -> None:
    # 99.9%: 10^7 good events 10 days ago; a minute ago 1 000 events with 20 bad (burn 20 > 14.4).
    rep = run(make_slo(), NOW, [(NOW - 10 * DAY, 10**7, 10**7), (NOW - MIN, 980, 1_000)])
    assert rep.budget.remaining_ratio == approx(1 - 20 / 10_001, rel=1e-12)
    assert firing_names(rep) == ["page-1h-5m", "page-6h-30m", "ticket-24h-2h", "ticket-3d-6h"]
    assert rep.status is SLOStatus.CRITICAL


def test_ticket_rule_makes_warning() -> None:
    # burn 4: above the ticket factors (3 and 1), below the page ones (14.4 and 6).
    rep = run(make_slo(), NOW, [(NOW - 10 * DAY, 10**7, 10**7), (NOW - MIN, 996, 1_000)])
    assert firing_names(rep) == ["ticket-24h-2h", "ticket-3d-6h"]
    assert rep.status is SLOStatus.WARNING


def test_exhausted_takes_precedence_over_firing_pages() -> None:
    rep = run(make_slo(), NOW, [(NOW - MIN, 0, 1_000)])
    assert "page-1h-5m" in firing_names(rep)
    assert rep.status is SLOStatus.EXHAUSTED


def test_page_firing_without_data_in_the_calendar_period_is_critical() -> None:
    # Ten minutes into April: the month is empty, but the last minutes of March burn.
    apr1 = at("2026-04-01T00:00:00")
    now = apr1 + 10 * MIN
    slo = make_slo(time_period="CALENDAR_MONTH")
    rep = run(slo, now, [(apr1 - MIN, 0, 1_000), (apr1 + 9 * MIN, 500, 500)])
    assert rep.budget.total_events == 500
    assert rep.budget.current_sli == 100.0
    rep = run(slo, now, [(apr1 - MIN, 0, 1_000)])
    assert rep.budget.current_sli is None
    assert rep.period_start_us == apr1
    assert rep.period_us == 30 * DAY
    # 1h, 6h and 30m burn at 1000; 5m is empty, so page-1h-5m does not fire.
    assert rep.burn_rates["5m"] == 0.0
    assert rep.burn_rates["30m"] == approx(1000.0, rel=1e-12)
    assert firing_names(rep) == ["page-6h-30m", "ticket-24h-2h", "ticket-3d-6h"]
    assert rep.status is SLOStatus.CRITICAL
    # remaining 1, burn 1000: TTE = 30 days / 1000
    assert rep.time_to_exhaustion_s == approx(30 * 86_400 / 1000, rel=1e-12)


def test_slo_status_precedence_directly() -> None:
    ok = period_budget(good=1_000, total=1_000, budget_ratio=BudgetRatio.of(99.0))
    page = FiringRule(DEFAULT_RULES[0], 14.4, 20.0, 20.0)
    ticket = FiringRule(DEFAULT_RULES[2], 3.0, 4.0, 4.0)
    assert slo_status(ok, []) is SLOStatus.HEALTHY
    assert slo_status(ok, [ticket]) is SLOStatus.WARNING
    assert slo_status(ok, [ticket, page]) is SLOStatus.CRITICAL
    spent = period_budget(good=990, total=1_000, budget_ratio=BudgetRatio.of(99.0))
    assert slo_status(spent, [page]) is SLOStatus.EXHAUSTED
    low = period_budget(good=995, total=1_000, budget_ratio=BudgetRatio.of(99.0))  # remaining 0.5
    assert slo_status(low, [], StatusThresholds(0.6, 0.7)) is SLOStatus.CRITICAL
    assert slo_status(low, [], StatusThresholds(0.1, 0.7)) is SLOStatus.WARNING
    assert slo_status(low, [], StatusThresholds(0.1, 0.2)) is SLOStatus.HEALTHY
    empty = period_budget(good=0, total=0, budget_ratio=BudgetRatio.of(99.0))
    assert slo_status(empty, []) is SLOStatus.HEALTHY
    assert slo_status(empty, [page]) is SLOStatus.CRITICAL


def test_explicit_rule_validates_its_windows() -> None:
    with pytest.raises(ValueError, match="unknown window"):
        BurnRateRule(Severity.PAGE, "90m", "5m", budget_fraction=0.1)
    with pytest.raises(ValueError, match="exactly one"):
        BurnRateRule(Severity.PAGE, "1h", "5m")


# -- extremes ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", [0.001, 50.0, 99.9999999, 99.99999999999])
def test_extreme_valid_targets_evaluate_to_finite_figures(target: float) -> None:
    """Any target the SLO model accepts (0 < target < 100) must evaluate without
    error and without NaN or infinity."""
    slo = make_slo(target_percentage=target)
    cases = [
        ([], SLOStatus.HEALTHY),
        ([(NOW - MIN, 1_000_000, 1_000_000)], SLOStatus.HEALTHY),
        (
            [(NOW - MIN, 0, 1_000_000)],
            SLOStatus.EXHAUSTED,
        ),  # every event bad: consumed = 1 / (1 - target) >= 1
    ]
    for events, status in cases:
        rep = run(slo, NOW, events)
        view = status_report(slo, rep).model_dump()
        for key in (
            "error_budget_remaining",
            "error_budget_consumed",
            "burn_rate",
            "total_budget",
            "remaining_budget",
        ):
            assert math.isfinite(view[key]), (key, view[key])
        assert all(math.isfinite(v) for v in view["burn_rates"].values())
        assert rep.status is status


def test_tiny_burn_rate_far_in_the_future_still_reports() -> None:
    """A busy service (10^8 events in the last hour, 99.9%) with a single bad
    event: burn 1e-5, so the budget would last ~8 200 years, past the year 9999.
    The status report must still be produced (with the time to exhaustion in
    seconds), not crash while converting the projected instant to a datetime."""
    slo = make_slo()
    rep = run(slo, NOW, [(NOW - MIN, 10**8 - 1, 10**8)])
    assert rep.burn_rate == approx(1e-5, rel=1e-9)
    remaining = 1 - 1 / (0.001 * 10**8)
    assert rep.time_to_exhaustion_s == approx(remaining * 2_592_000 / 1e-5, rel=1e-9)
    view = status_report(slo, rep)  # must not raise
    assert view.time_to_exhaustion_seconds == approx(remaining * 2_592_000 / 1e-5, rel=1e-9)
    assert view.projected_exhaustion is None or view.projected_exhaustion.year >= 9999
    error_budget(slo, rep)  # must not raise either


def test_large_counts_sum_exactly() -> None:
    big = 2**40
    rep = run(make_slo(), NOW, [(NOW - k * HOUR, big, big) for k in range(500)] + [(NOW, big - 1, big)])
    assert (rep.budget.good_events, rep.budget.total_events) == (501 * big - 1, 501 * big)
    assert rep.budget.bad_events == 1


# -- presentation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, None),
        (0.0, "0s"),
        (59.9, "59s"),
        (60.0, "1m"),
        (2_710.0, "45m 10s"),
        (3_600.0, "1h"),
        (129_600.0, "1d 12h"),
        (86_400 * 30 + 5.0, "30d"),
    ],
)
def test_format_duration(seconds: float | None, text: str | None) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, None),
        (0.0, "0m"),  # exhausted
        (59.9, "0m"),
        (60.0, "1m"),
        (2_710.0, "45m"),
        (3_600.0, "1h"),
        (3_959.0, "1h 5m"),
        (43_200.0, "12h"),
        (86_400.0, "1d"),
        (86_400 * 3 + 4 * 3_600 + 59 * 60 + 59.9, "3d 4h"),
        (86_400 * 30 + 5 * 60, "30d"),  # the next unit only: minutes below days are dropped
        (86_400 * 400.0, "400d"),
    ],
)
def test_exhaustion_text_is_the_specs_duration(seconds: float | None, text: str | None) -> None:
    assert exhaustion_text(seconds) == text
    if text is not None:
        assert re.fullmatch(DURATION_TEXT_PATTERN, text)


# -- low-traffic guard (issue 5) ---------------------------------------------------------


def test_a_quiet_service_with_one_error_does_not_page() -> None:
    """1 bad of 3 events in the last 5 minutes burns at 333x a 99.9% budget, but the
    short windows hold fewer than the default 10 events: no rule fires, no page."""
    slo = make_slo()
    rep = run(slo, NOW, [(NOW - MIN, 2, 3)])
    assert rep.burn_rates["5m"] == approx(333.333333, rel=1e-6)
    assert rep.firing == []
    assert rep.status is SLOStatus.EXHAUSTED  # 1 bad > 0.003 allowed: the budget is gone all the same


def test_the_guard_is_per_slo_and_can_be_switched_off() -> None:
    quiet = [(NOW - MIN, 2, 3)]
    guarded = run(make_slo(), NOW, quiet)
    unguarded = run(make_slo(min_short_window_events=0), NOW, quiet)
    assert guarded.firing == []
    assert [f.rule.name for f in unguarded.firing] == ["page-1h-5m", "page-6h-30m", "ticket-24h-2h", "ticket-3d-6h"]


def test_the_guard_lets_a_busy_service_page() -> None:
    rep = run(make_slo(), NOW, [(NOW - MIN, 900, 1_000)])  # 1,000 events in the short windows
    assert "page-1h-5m" in [f.rule.name for f in rep.firing]
    assert rep.status is SLOStatus.EXHAUSTED  # 100 bad against 1 allowed
