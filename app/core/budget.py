"""Error-budget arithmetic, as in the Google SRE workbook.

References: "Implementing SLOs" (SRE workbook ch. 2) for the SLI as good/total
and the error budget as `1 - SLO` of events; "Alerting on SLOs" (ch. 5) for the
burn rate, the speed at which a window spends budget relative to a rate that
would spend exactly the whole budget over the SLO period.

All functions are total: no input makes them return NaN or infinity.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from app.core.exact import decimal, greater


def error_rate_ratio(good: int, total: int) -> float:
    """Share of bad events in a window; 0 when the window has no events."""
    return (total - good) / total if total else 0.0


@dataclass(frozen=True, slots=True)
class BudgetRatio:
    """`1 - target` as a fraction of events: 0.001 for a 99.9% target.

    Kept exactly (from the decimal the user wrote) and as the nearest float,
    so 99.9 gives 0.001, not 0.0010000000000000009, and never 0 for a valid
    target below 100."""

    exact: Fraction
    value: float

    @classmethod
    def of(cls, target_percentage: float) -> BudgetRatio:
        exact = (100 - decimal(target_percentage)) / 100
        return cls(exact, float(exact))


def burn_rate(good: int, total: int, budget_ratio: BudgetRatio) -> float:
    """How many times faster than "exactly on budget" the window burns.

    A burn rate of 1 spends the whole budget in exactly one SLO period;
    14.4 over 1h spends 2% of a 30-day budget in that hour.
    """
    return error_rate_ratio(good, total) / budget_ratio.value


@dataclass(frozen=True, slots=True)
class Budget:
    """The SLO period's budget, in events and as fractions."""

    good_events: int
    total_events: int
    current_sli: float | None  # percent; None = no data
    allowed_bad_events: float  # total_budget: (1 - target) * total
    bad_events: int  # consumed_budget
    consumed_ratio: float  # may exceed 1
    remaining_ratio: float  # 1 - consumed; may go negative

    @property
    def remaining_bad_events(self) -> float:
        return self.allowed_bad_events - self.bad_events

    budget_ratio: BudgetRatio

    @property
    def exhausted(self) -> bool:
        """Data, and nothing left: `bad >= allowed`, decided exactly at the edge."""
        return self.total_events > 0 and not self.remaining_above(0.0)

    def remaining_above(self, level: float) -> bool:
        """`remaining_ratio > level`, exact at the boundary."""

        def exact() -> bool:
            allowed = self.budget_ratio.exact * self.total_events
            return allowed - self.bad_events > decimal(level) * allowed

        return greater(self.remaining_ratio, level, exact)

    def remaining_below(self, level: float) -> bool:
        """`remaining_ratio < level`, exact at the boundary (no data: never below)."""
        if self.total_events == 0:
            return level > 1.0

        def exact() -> bool:
            allowed = self.budget_ratio.exact * self.total_events
            return decimal(level) * allowed > allowed - self.bad_events

        return greater(level, self.remaining_ratio, exact)


def period_budget(good: int, total: int, budget_ratio: BudgetRatio) -> Budget:
    bad = total - good
    allowed = budget_ratio.value * total
    consumed = bad / allowed if total else 0.0
    return Budget(
        good_events=good,
        total_events=total,
        current_sli=100.0 * good / total if total else None,
        allowed_bad_events=allowed,
        bad_events=bad,
        consumed_ratio=consumed,
        remaining_ratio=(allowed - bad) / allowed if total else 1.0,
        budget_ratio=budget_ratio,
    )


def time_to_exhaustion_s(budget: Budget, period_s: float, burn_rate_1h: float) -> float | None:
    """Seconds until the budget runs out at the current 1h burn rate.

    At burn rate 1 the whole budget lasts one period, so what remains lasts
    `remaining * period / burn_rate`. 0 when already exhausted; None when
    nothing is burning (or there is no data): no exhaustion is in sight.
    """
    if budget.exhausted:
        return 0.0
    if burn_rate_1h > 0 and budget.remaining_above(0.0):
        return budget.remaining_ratio * period_s / burn_rate_1h
    return None
