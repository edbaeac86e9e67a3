"""Multiwindow, multi-burn-rate alert rules (SRE workbook ch. 5, "Alerting on SLOs").

A rule guards a fraction of the period's budget: it fires when the long window
has burned that fraction, i.e. when its burn rate exceeds
`fraction * period / long_window`, and the short window (about 1/12 of the
long one) confirms the burn is still going on, so the alert resets quickly once
the incident ends. With a 30-day period the defaults give the workbook's 14.4,
6, 3 and 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from app.core.budget import BudgetRatio
from app.core.enums import Severity
from app.core.exact import decimal, greater
from app.core.windows import WINDOW_BY_NAME


@dataclass(frozen=True, slots=True)
class BurnRateRule:
    """A rule on two windows. Exactly one of `budget_fraction` and
    `burn_rate_threshold` sets the threshold."""

    severity: Severity
    long_window: str
    short_window: str
    budget_fraction: float | None = None
    burn_rate_threshold: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        for w in (self.long_window, self.short_window):
            if w not in WINDOW_BY_NAME:
                raise ValueError(f"unknown window {w!r}")
        if (self.budget_fraction is None) == (self.burn_rate_threshold is None):
            raise ValueError("set exactly one of budget_fraction, burn_rate_threshold")
        if not self.name:
            object.__setattr__(self, "name", f"{self.severity.value}-{self.long_window}-{self.short_window}")

    @property
    def long_us(self) -> int:
        return WINDOW_BY_NAME[self.long_window].length_us

    def applies_to(self, period_us: int) -> bool:
        """Budget-fraction rules apply only when the long window is shorter than the period."""
        return self.burn_rate_threshold is not None or self.long_us < period_us

    def threshold(self, period_us: int) -> float:
        if self.burn_rate_threshold is not None:
            return self.burn_rate_threshold
        assert self.budget_fraction is not None
        return self.budget_fraction * period_us / self.long_us

    def exact_threshold(self, period_us: int) -> Fraction:
        if self.burn_rate_threshold is not None:
            return decimal(self.burn_rate_threshold)
        assert self.budget_fraction is not None
        return decimal(self.budget_fraction) * Fraction(period_us, self.long_us)


DEFAULT_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule(Severity.PAGE, "1h", "5m", budget_fraction=0.02),
    BurnRateRule(Severity.PAGE, "6h", "30m", budget_fraction=0.05),
    BurnRateRule(Severity.TICKET, "24h", "2h", budget_fraction=0.10),
    BurnRateRule(Severity.TICKET, "3d", "6h", budget_fraction=0.10),
)


@dataclass(frozen=True, slots=True)
class FiringRule:
    rule: BurnRateRule
    threshold: float
    burn_rate_long: float
    burn_rate_short: float

    @property
    def severity(self) -> Severity:
        return self.rule.severity


def burns_above(
    rule: BurnRateRule,
    period_us: int,
    window: str,
    burn: float,
    counts: tuple[int, int],
    budget_ratio: BudgetRatio,
) -> bool:
    """`burn_rate(window) > threshold`, exact at the boundary."""
    threshold = rule.threshold(period_us)

    def exact() -> bool:
        good, total = counts
        limit = rule.exact_threshold(period_us) * budget_ratio.exact * total
        return total > 0 and total - good > limit

    return greater(burn, threshold, exact)


_CLEARLY_BELOW = 1 - 1e-6  # far outside `greater`'s near-tie band (1e-9 relative)


def firing_rules(
    rules: Iterable[BurnRateRule],
    period_us: int,
    burn_rates: Mapping[str, float],
    window_counts: Callable[[str], tuple[int, int]],
    budget_ratio: BudgetRatio,
    min_short_events: int = 0,
) -> list[FiringRule]:
    """The rules whose long AND short burn rates both exceed their threshold.

    Low-traffic guard: a rule whose short window holds fewer than
    `min_short_events` events does not fire (one error of three must not page)."""
    firing = []
    for rule in rules:
        if not rule.applies_to(period_us):
            continue
        long_w, short_w = rule.long_window, rule.short_window
        if burn_rates[long_w] < rule.threshold(period_us) * _CLEARLY_BELOW:
            continue  # the common case, decided without the exact comparison below
        if min_short_events and window_counts(short_w)[1] < min_short_events:
            continue
        if burns_above(rule, period_us, long_w, burn_rates[long_w], window_counts(long_w), budget_ratio) and (
            burns_above(rule, period_us, short_w, burn_rates[short_w], window_counts(short_w), budget_ratio)
        ):
            threshold = rule.threshold(period_us)
            firing.append(FiringRule(rule, threshold, burn_rates[long_w], burn_rates[short_w]))
    return firing
