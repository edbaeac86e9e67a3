"""The what-if answer: an SLO's figures as defined, next to the same figures for another
target (and period), both from the same retained counts (app/core/whatif). Pure."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.core.calendar import to_datetime
from app.core.evaluation import SloEvaluation
from app.core.whatif import MonthCompliance
from app.domain.enums import TimePeriod
from app.domain.models import SLO, ErrorBudget, SLOStatusReport
from app.domain.views import error_budget, status_report


class MonthVerdict(BaseModel):
    month: str = Field(description="YYYY-MM (UTC).")
    start: datetime
    end: datetime
    good: int
    total: int
    sli: float | None = Field(description="Percent; null without data.")
    met: bool | None = Field(description="sli >= the target asked for; null without data.")


class WhatIf(BaseModel):
    slo_id: str
    target_percentage: float = Field(description="The target asked for.")
    time_period: TimePeriod = Field(description="The period asked for (the SLO's own when not given).")
    as_defined: SLOStatusReport = Field(description="The SLO's figures with its own target and period.")
    what_if: SLOStatusReport = Field(description="Every figure for the target and period asked for.")
    what_if_error_budget: ErrorBudget
    past_months: list[MonthVerdict] = Field(
        description="The closed calendar months the history holds entirely (up to 12, newest first), "
        "judged against the target asked for."
    )
    months_met: int = Field(description="Of past_months with data, how many meet the target asked for.")
    months_with_data: int


def month_verdict(m: MonthCompliance) -> MonthVerdict:
    return MonthVerdict(
        month=m.interval.label,
        start=to_datetime(m.interval.from_us),
        end=to_datetime(m.interval.to_us),
        good=m.good,
        total=m.total,
        sli=m.sli,
        met=m.met,
    )


def what_if_view(
    slo: SLO,
    time_period: TimePeriod,
    as_defined: SloEvaluation,
    other: SloEvaluation,
    months: list[MonthCompliance],
) -> WhatIf:
    """The answer; `other` evaluated with the target and `time_period` replaced."""
    changed = slo.model_copy(update={"target_percentage": other.target_percentage, "time_period": time_period})
    return WhatIf(
        slo_id=slo.slo_id,
        target_percentage=other.target_percentage,
        time_period=changed.time_period,
        as_defined=status_report(slo, as_defined),
        what_if=status_report(changed, other),
        what_if_error_budget=error_budget(changed, other),
        past_months=[month_verdict(m) for m in months],
        months_met=sum(m.met is True for m in months),
        months_with_data=sum(m.met is not None for m in months),
    )
