"""Status precedence: EXHAUSTED, then CRITICAL, then WARNING, else HEALTHY."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.budget import Budget
from app.core.enums import Severity, SLOStatus
from app.core.rules import FiringRule


@dataclass(frozen=True, slots=True)
class StatusThresholds:
    """Budget-remaining levels below which an SLO is CRITICAL / WARNING."""

    critical_remaining_ratio: float = 0.10
    warning_remaining_ratio: float = 0.25


DEFAULT_THRESHOLDS = StatusThresholds()


def slo_status(
    budget: Budget,
    firing: Sequence[FiringRule],
    thresholds: StatusThresholds = DEFAULT_THRESHOLDS,
) -> SLOStatus:
    if budget.exhausted:
        return SLOStatus.EXHAUSTED
    severities = {f.severity for f in firing}
    if budget.remaining_below(thresholds.critical_remaining_ratio) or Severity.PAGE in severities:
        return SLOStatus.CRITICAL
    if budget.remaining_below(thresholds.warning_remaining_ratio) or Severity.TICKET in severities:
        return SLOStatus.WARNING
    return SLOStatus.HEALTHY
