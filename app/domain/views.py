"""Presenting an engine report as the spec's models. Pure."""

from __future__ import annotations

from datetime import datetime

from app.core.calendar import to_datetime
from app.core.report import Objective, SloReport
from app.domain.events import MAX_TS_US
from app.domain.models import SLO, ErrorBudget, FiringAlert, SLOStatusReport

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def format_duration(seconds: float | None) -> str | None:
    """Human duration in its largest unit and the next: "12h", "1d 6h", "45m 10s"."""
    if seconds is None:
        return None
    whole_s = int(seconds)
    for i, (unit, size) in enumerate(_UNITS):
        if whole_s >= size or size == 1:
            major, rest = divmod(whole_s, size)
            text = f"{major}{unit}"
            if i + 1 < len(_UNITS):
                next_unit, next_size = _UNITS[i + 1]
                if minor := rest // next_size:
                    text += f" {minor}{next_unit}"
            return text
    raise AssertionError("unreachable: the last unit is one second")


def _instant(ts_us: int | None) -> datetime | None:
    """A datetime, or None for an instant past what datetimes hold (year 9999)."""
    return None if ts_us is None or ts_us >= MAX_TS_US else to_datetime(ts_us)


def objective_of(slo: SLO) -> Objective:
    return Objective(
        slo_id=slo.slo_id,
        target_percentage=slo.target_percentage,
        time_period=slo.time_period,
        rules=slo.rules(),
        thresholds=slo.thresholds(),
    )


def firing_alerts(report: SloReport) -> list[FiringAlert]:
    return [
        FiringAlert(
            name=f.rule.name,
            severity=f.severity,
            long_window=f.rule.long_window,
            short_window=f.rule.short_window,
            threshold=f.threshold,
            burn_rate_long=f.burn_rate_long,
            burn_rate_short=f.burn_rate_short,
        )
        for f in report.firing
    ]


def status_report(slo: SLO, report: SloReport) -> SLOStatusReport:
    budget = report.budget
    projected = report.projected_exhaustion_us
    return SLOStatusReport(
        slo_id=slo.slo_id,
        slo_name=slo.slo_name,
        service_name=slo.service_name,
        current_sli=budget.current_sli,
        target_sli=slo.target_percentage,
        status=report.status,
        error_budget_remaining=budget.remaining_ratio,
        error_budget_consumed=budget.consumed_ratio,
        burn_rate=report.burn_rate,
        burn_rates=report.burn_rates,
        time_to_exhaustion_seconds=report.time_to_exhaustion_s,
        time_to_exhaustion=format_duration(report.time_to_exhaustion_s),
        projected_exhaustion=_instant(projected),
        total_budget=budget.allowed_bad_events,
        consumed_budget=budget.bad_events,
        remaining_budget=budget.remaining_bad_events,
        firing_alerts=firing_alerts(report),
        last_updated=to_datetime(report.now_us),
    )


def error_budget(slo: SLO, report: SloReport) -> ErrorBudget:
    budget = report.budget
    projected = report.projected_exhaustion_us
    return ErrorBudget(
        slo_id=slo.slo_id,
        time_period=slo.time_period,
        period_start=to_datetime(report.period_start_us),
        total_budget=budget.allowed_bad_events,
        consumed_budget=budget.bad_events,
        remaining_budget=budget.remaining_bad_events,
        error_budget_remaining=budget.remaining_ratio,
        error_budget_consumed=budget.consumed_ratio,
        burn_rate_1h=report.burn_rates["1h"],
        burn_rate_24h=report.burn_rates["24h"],
        time_to_exhaustion_seconds=report.time_to_exhaustion_s,
        projected_exhaustion=_instant(projected),
        last_updated=to_datetime(report.now_us),
    )
