"""Multiwindow, multi-burn-rate alert rules (SRE workbook ch. 5, "Alerting on SLOs").

A rule guards a fraction of the period's budget: it fires when the long window
has burned that fraction, i.e. when its burn rate exceeds
`fraction * period / long_window`, and the short window (about 1/12 of the
long one) confirms the burn is still going on, so the alert resets quickly once
the incident ends. With a 30-day period the defaults give the workbook's 14.4,
6, 3 and 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.core.windows import WINDOW_BY_NAME
from app.domain.enums import Severity


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


def firing_rules(
    rules: Iterable[BurnRateRule],
    period_us: int,
    burn_rate_of: Callable[[str], float],
) -> list[FiringRule]:
    """The rules whose long AND short burn rates both exceed their threshold."""
    firing = []
    for rule in rules:
        if not rule.applies_to(period_us):
            continue
        threshold = rule.threshold(period_us)
        long_rate = burn_rate_of(rule.long_window)
        if long_rate <= threshold:
            continue
        short_rate = burn_rate_of(rule.short_window)
        if short_rate > threshold:
            firing.append(FiringRule(rule, threshold, long_rate, short_rate))
    return firing
