"""What-if targets: every figure of an SLO recomputed for another target (and period).

The engine keeps counts, not verdicts: the rings and calendar sums of a
`WindowState` do not depend on the SLO's target or period. So an SLO's figures
for another objective are exactly what the contract gives for that objective
over the same accepted events: the same `evaluate`, with the objective's
target (and, if asked, its period) replaced. Everything that depends on the
target follows: the budget (`allowed = (1 - target) * total`), every burn
rate, the rules' thresholds for the period, the status, the time to
exhaustion and the error-budget policy's thresholds reached.

Past calendar months are judged from the daily history (UTC days, 400 days) as
a report would judge them (app/core/live_report): `past_months` says in which
retained months the events meet a target
("a 99.5% target would have been met 11 of the last 12 months").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from app.core.enums import TimePeriod
from app.core.evaluation import Objective, SloEvaluation, evaluate
from app.core.exact import decimal
from app.core.intervals import Interval, closed_since, first_day_covered_us
from app.core.live_report import ReportSource, interval_sums
from app.core.state import WindowState


def what_if_objective(
    objective: Objective, target_percentage: float, time_period: TimePeriod | None = None
) -> Objective:
    """The objective with another target (and period); rules, thresholds and policy kept.

    Raises ValueError naming the field for a target outside (0, 100) or not a number."""
    if not 0 < target_percentage < 100:  # also refuses NaN
        raise ValueError(f"target_percentage must be in (0, 100), got {target_percentage!r}")
    period = objective.time_period if time_period is None else time_period
    return dataclasses.replace(objective, target_percentage=target_percentage, time_period=period)


def what_if(
    objective: Objective, state: WindowState, target_percentage: float, time_period: TimePeriod | None = None
) -> SloEvaluation:
    """Every figure of the SLO at `state.now_us` as if its objective were this target (and period)."""
    return evaluate(what_if_objective(objective, target_percentage, time_period), state)


@dataclass(frozen=True, slots=True)
class MonthCompliance:
    """One past calendar month from the history, judged against a target."""

    interval: Interval
    good: int
    total: int
    met: bool | None  # None: no data in the month

    @property
    def sli(self) -> float | None:
        return 100.0 * self.good / self.total if self.total else None


def past_months(src: ReportSource, target_percentage: float, limit: int = 12) -> list[MonthCompliance]:
    """The last `limit` closed calendar months that the history holds entirely (their first day
    is retained), newest first; each `met` when `100 * good >= target * total` exactly, the
    report's verdict for a closed interval (app/core/reports)."""
    now_us = src.now_us
    first_us = first_day_covered_us(now_us)
    months = [m for m in closed_since("month", first_us - 1, now_us) if m.from_us >= first_us]
    target = decimal(target_percentage)
    out = []
    for month in months[::-1][:limit]:
        good, total = interval_sums(src, month)
        out.append(MonthCompliance(month, good, total, None if total == 0 else 100 * good >= target * total))
    return out
