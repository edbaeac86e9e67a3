"""Error-budget policies: alerts on how much of the period's budget is spent. Pure.

A policy is a list of thresholds on `error_budget_consumed` (the contract,
"Error-budget policies"; default 0.5, 0.8, 1.0). A threshold's rule,
`budget-<percent>`, holds while the SLO period's consumed fraction is at or
above it: its episode opens when the fraction first reaches the threshold and
closes when the fraction falls back below it (bad events leave a rolling
window, or good ones dilute them). For a calendar period an episode also ends
with the period (app/core/alerts.step's `period_start_us`): one opened in October is resolved at
November's first evaluation even if November's fraction is already above the
threshold again, which then opens a new episode.

Budget rules need no burn-rate window, so they alert every period, ROLLING_1H
included, which no burn-rate rule fits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from app.core.budget import Budget
from app.core.enums import Severity
from app.core.exact import decimal, greater

BUDGET_RULE_PREFIX = "budget-"


@lru_cache(maxsize=1024)  # named on every evaluation that reaches a threshold
def budget_rule_name(threshold: float) -> str:
    """`budget-<percent>` of the decimal written: 0.8 -> budget-80, 0.125 -> budget-12.5."""
    percent = (Decimal(repr(float(threshold))) * 100).normalize()
    text = format(percent, "f")
    if len(text) > 24:  # a tiny threshold (the model allows any above 0): 5E-322, not 300 zeros
        text = str(percent)
    return BUDGET_RULE_PREFIX + text


def is_budget_rule(rule: str) -> bool:
    return rule.startswith(BUDGET_RULE_PREFIX)


@dataclass(frozen=True, slots=True)
class BudgetThreshold:
    """One threshold of a policy: a fraction of the period's budget (may exceed 1)."""

    threshold: float
    severity: Severity

    @property
    def name(self) -> str:
        return budget_rule_name(self.threshold)


DEFAULT_POLICY: tuple[BudgetThreshold, ...] = (
    BudgetThreshold(0.5, Severity.TICKET),
    BudgetThreshold(0.8, Severity.TICKET),
    BudgetThreshold(1.0, Severity.PAGE),
)


def reaches(budget: Budget, threshold: float) -> bool:
    """`error_budget_consumed >= threshold`, exact at the boundary; never without data."""
    if budget.total_events == 0:
        return False

    def above() -> bool:  # threshold > consumed, i.e. threshold * allowed > bad, exactly
        allowed = budget.budget_ratio.exact * budget.total_events
        return decimal(threshold) * allowed > budget.bad_events

    return not greater(threshold, budget.consumed_ratio, above)


def crossed(policy: Iterable[BudgetThreshold], budget: Budget) -> list[BudgetThreshold]:
    """The thresholds the period's consumed fraction has reached, of a `policy` sorted
    lowest first (as app/core/evaluation.Objective keeps it)."""
    out = []
    if budget.bad_events:  # the common case costs one comparison
        for t in policy:
            if not reaches(budget, t.threshold):
                break
            out.append(t)
    return out
