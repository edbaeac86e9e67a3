"""Evaluation: from an SLO's objective and its window state to every figure.

`evaluate` is the single place where the contract's per-SLO figures are put
together; the replay CLI, the streaming worker and the API all call it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.core.adjusted import adjusted_state
from app.core.adjustments import Adjustment
from app.core.alerts import Condition, conditions, is_stale
from app.core.budget import Budget, BudgetRatio, period_budget, time_to_exhaustion_s
from app.core.calendar import seconds
from app.core.enums import SLOStatus, TimePeriod
from app.core.policy import DEFAULT_POLICY, BudgetThreshold, crossed
from app.core.rules import DEFAULT_RULES, BurnRateRule, FiringRule, firing_rules
from app.core.state import MONTH, QUARTER, YEAR, WindowState
from app.core.status import DEFAULT_THRESHOLDS, StatusThresholds, slo_status
from app.core.windows import US_PER_S, WINDOW_BY_NAME, WINDOW_INDEX, WINDOW_NAMES

CALENDAR_OF = {TimePeriod.CALENDAR_MONTH: MONTH, TimePeriod.CALENDAR_QUARTER: QUARTER, TimePeriod.CALENDAR_YEAR: YEAR}


@dataclass(frozen=True, slots=True)
class Objective:
    """What the engine needs to know of an SLO definition."""

    slo_id: str
    target_percentage: float
    time_period: TimePeriod
    rules: tuple[BurnRateRule, ...] = DEFAULT_RULES
    thresholds: StatusThresholds = field(default=DEFAULT_THRESHOLDS)
    min_short_window_events: int = 0
    stale_after_us: int = 0  # SLIDataStale after this long without an event; 0 = off
    enabled: bool = True  # a disabled SLO accepts no event
    budget_policy: tuple[BudgetThreshold, ...] = DEFAULT_POLICY  # error-budget alert thresholds
    # The budget adjustments that apply to the SLO (app/core/adjusted): none on the hot path.
    adjustments: tuple[Adjustment, ...] = ()
    budget_ratio: BudgetRatio = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget_ratio", BudgetRatio.of(self.target_percentage))
        policy = self.budget_policy
        if any(a.threshold > b.threshold for a, b in itertools.pairwise(policy)):
            object.__setattr__(self, "budget_policy", tuple(sorted(policy, key=lambda t: t.threshold)))


@dataclass(frozen=True, slots=True)
class SloEvaluation:
    slo_id: str
    now_us: int
    period_start_us: int
    period_us: int
    target_percentage: float
    budget: Budget
    burn_rates: dict[str, float]
    firing: Sequence[FiringRule]
    status: SLOStatus
    time_to_exhaustion_s: float | None
    stale: bool = False
    last_event_us: int | None = None
    # Every alert condition that holds: the firing burn-rate rules, the budget thresholds
    # reached (lowest first), then staleness.
    conditions: tuple[Condition, ...] = ()
    budget_crossed: tuple[BudgetThreshold, ...] = ()  # the policy's thresholds reached, lowest first
    calendar_start_us: int | None = None  # the calendar period's start; None for a rolling period
    excluded_good: int = 0  # taken out of the period's sums by budget adjustments
    excluded_total: int = 0

    @property
    def alert_triggered(self) -> bool:
        return bool(self.conditions)

    @property
    def alert_names(self) -> frozenset[str]:
        return frozenset(c.rule for c in self.conditions)

    @property
    def burn_rate(self) -> float:
        """The headline burn rate: the 1h window's."""
        return self.burn_rates["1h"]

    @property
    def projected_exhaustion_us(self) -> int | None:
        tte = self.time_to_exhaustion_s
        return None if tte is None else self.now_us + round(tte * US_PER_S)


_WINDOW_AT = tuple((name, 2 * WINDOW_INDEX[name]) for name in WINDOW_NAMES)  # offsets in Rings.win


def period_sums(objective: Objective, state: WindowState) -> tuple[int, int, int, int]:
    """(good, total, period start, period length) of the SLO period at `state.now_us`."""
    period = objective.time_period
    rolling = period.rolling_window
    if rolling is not None:
        good, total = state.window(rolling)
        length = WINDOW_BY_NAME[rolling].length_us
        return good, total, state.now_us - length, length
    i = CALENDAR_OF[period]
    good, total = state.calendar_sums_of(i)
    cal = state.calendar[i]
    return good, total, cal.start_us, cal.length_us


def evaluate(objective: Objective, state: WindowState) -> SloEvaluation:
    excluded = (0, 0)
    if objective.adjustments:
        adjusted = adjusted_state(state, objective.adjustments)
        if adjusted is not None:
            state, win_out, cal_out = adjusted
            excluded = _period_excluded(objective.time_period, win_out, cal_out)
    budget_ratio = objective.budget_ratio
    win, ratio = state.rings.win, budget_ratio.value  # burn_rate() for every window, inlined (hot path)
    burn_rates = {
        name: ((win[at + 1] - win[at]) / win[at + 1] / ratio if win[at + 1] else 0.0) for name, at in _WINDOW_AT
    }
    good, total, start_us, period_us = period_sums(objective, state)
    budget = period_budget(good, total, budget_ratio)
    firing = firing_rules(
        objective.rules, period_us, burn_rates, state.window, budget_ratio, objective.min_short_window_events
    )
    stale = is_stale(state.last_event_us, state.now_us, objective.stale_after_us)
    budget_crossed = tuple(crossed(objective.budget_policy, budget)) if objective.budget_policy else ()
    return SloEvaluation(
        slo_id=objective.slo_id,
        now_us=state.now_us,
        period_start_us=start_us,
        period_us=period_us,
        target_percentage=objective.target_percentage,
        budget=budget,
        burn_rates=burn_rates,
        firing=firing,
        status=slo_status(budget, firing, objective.thresholds),
        time_to_exhaustion_s=time_to_exhaustion_s(budget, seconds(period_us), burn_rates["1h"]),
        stale=stale,
        last_event_us=state.last_event_us,
        conditions=tuple(conditions(firing, stale, budget_crossed)) if firing or stale or budget_crossed else (),
        budget_crossed=budget_crossed,
        calendar_start_us=start_us if objective.time_period.is_calendar else None,
        excluded_good=excluded[0],
        excluded_total=excluded[1],
    )


def _period_excluded(period: TimePeriod, win_out: list[int], cal_out: list[int]) -> tuple[int, int]:
    rolling = period.rolling_window
    if rolling is not None:
        at = 2 * WINDOW_INDEX[rolling]
        return win_out[at], win_out[at + 1]
    i = CALENDAR_OF[period]
    return cal_out[2 * i], cal_out[2 * i + 1]
