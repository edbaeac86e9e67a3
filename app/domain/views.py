"""Presenting an engine report as the spec's models. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from app.core.adjustments import Adjustment, for_slo
from app.core.calendar import isoformat_z, to_datetime
from app.core.evaluation import Objective, SloEvaluation, evaluate
from app.core.policy import BUDGET_RULE_PREFIX
from app.core.state import WindowState
from app.domain.enums import SLOStatus
from app.domain.events import MAX_TS_US
from app.domain.messages import StatusEvent, StatusUpdate
from app.domain.models import SLO, BudgetAlert, ErrorBudget, FiringAlert, SLOStatusReport

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


def exhaustion_text(seconds: float | None) -> str | None:
    """The service spec's duration (app/domain/messages.DURATION_TEXT_RULE): whole minutes,
    the largest non-zero unit of d/h/m and the next one when not zero; "0m" under a minute."""
    if seconds is None:
        return None
    days, minutes = divmod(int(seconds // 60), 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def _instant(ts_us: int | None) -> datetime | None:
    """A datetime, or None for an instant past what datetimes hold (year 9999)."""
    return None if ts_us is None or ts_us >= MAX_TS_US else to_datetime(ts_us)


def objective_of(slo: SLO, adjustments: Sequence[Adjustment] = ()) -> Objective:
    """The engine's view of a definition; `adjustments`: every adjustment known (those
    that apply to the SLO are kept)."""
    return Objective(
        slo_id=slo.slo_id,
        target_percentage=slo.target_percentage,
        time_period=slo.time_period,
        rules=slo.rules(),
        thresholds=slo.thresholds(),
        min_short_window_events=slo.min_short_window_events,
        stale_after_us=slo.no_data_alert_after_s * 1_000_000,
        enabled=slo.enabled,
        budget_policy=tuple(t.to_core() for t in slo.policy()),
        adjustments=tuple(for_slo(adjustments, slo.slo_id, slo.service_name)) if adjustments else (),
    )


def with_adjustments(objective: Objective, slo: SLO, adjustments: Sequence[Adjustment]) -> Objective:
    """The objective with the adjustments of `adjustments` that apply to the SLO (itself when
    they are the ones it has)."""
    mine = tuple(for_slo(adjustments, slo.slo_id, slo.service_name))
    return objective if mine == objective.adjustments else dataclasses.replace(objective, adjustments=mine)


def firing_alerts(report: SloEvaluation) -> list[FiringAlert]:
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


def status_report(slo: SLO, report: SloEvaluation) -> SLOStatusReport:
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
        time_to_exhaustion=exhaustion_text(report.time_to_exhaustion_s),
        projected_exhaustion=_instant(projected),
        total_budget=budget.allowed_bad_events,
        consumed_budget=budget.bad_events,
        remaining_budget=budget.remaining_bad_events,
        firing_alerts=firing_alerts(report),
        budget_alerts=[
            BudgetAlert(name=t.name, severity=t.severity, threshold=t.threshold, action=slo.budget_action(t.name) or "")
            for t in report.budget_crossed
        ],
        last_updated=to_datetime(report.now_us),
        excluded_good=report.excluded_good,
        excluded_total=report.excluded_total,
    )


def error_budget(slo: SLO, report: SloEvaluation) -> ErrorBudget:
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
        excluded_good=report.excluded_good,
        excluded_total=report.excluded_total,
    )


def recommendations(slo: SLO, report: SloEvaluation) -> list[str]:
    """Concrete advice from the firing rules, staleness, the error-budget policy (the action
    of the highest threshold reached) and the budget; empty when all is well."""
    out: list[str] = []
    budget = report.budget
    period_h = report.period_us / 3_600_000_000
    for f in report.firing:
        spend_per_hour = f.burn_rate_long / period_h
        out.append(
            f"{f.rule.name}: {f.rule.long_window} burn rate {f.burn_rate_long:.1f}x and "
            f"{f.rule.short_window} {f.burn_rate_short:.1f}x exceed {f.threshold:.3g}x; "
            f"spending {spend_per_hour:.2%} of the budget per hour"
        )
    if report.stale and report.last_event_us is not None:
        silent_s = (report.now_us - report.last_event_us) / 1_000_000
        out.append(
            f"SLIDataStale: no event for {format_duration(silent_s)}; the figures are frozen until "
            f"data returns: check the producers of {slo.slo_id}"
        )
    if report.budget_crossed:
        top = report.budget_crossed[-1]
        action = slo.budget_action(top.name) or "see the SLO's error-budget policy"
        out.append(
            f"{top.name}: {budget.consumed_ratio:.1%} of the error budget consumed, at or above "
            f"{top.name.removeprefix(BUDGET_RULE_PREFIX)}%: {action}"
        )
    if not (budget.exhausted or report.firing or report.status in (SLOStatus.CRITICAL, SLOStatus.WARNING)):
        return out  # the common case, on every status event: nothing more to say
    tte = exhaustion_text(report.time_to_exhaustion_s)
    if budget.exhausted:
        out.append(
            f"error budget exhausted: {budget.bad_events} bad events against "
            f"{budget.allowed_bad_events:.0f} allowed this period; freeze risky changes"
        )
    elif report.firing and tte is not None:
        out.append(f"at the 1h burn rate the budget runs out in {tte}")
    elif report.status in (SLOStatus.CRITICAL, SLOStatus.WARNING):
        level = slo.critical_budget_ratio if report.status is SLOStatus.CRITICAL else slo.warning_budget_ratio
        advice = f"; at the 1h burn rate it runs out in {tte}" if tte is not None else ""
        out.append(
            f"{budget.remaining_ratio:.1%} of the error budget left, below the {report.status.value} "
            f"level of {level:.0%}{advice}"
        )
    return out


def status_update(slo: SLO, report: SloEvaluation) -> StatusUpdate:
    """The `slo_status_update` body of a status event (positional: the hot path)."""
    budget = report.budget
    tte_s = report.time_to_exhaustion_s
    return StatusUpdate(
        slo.slo_id,
        slo.slo_name,
        slo.service_name,
        slo.slo_type,
        slo.target_percentage,
        budget.current_sli,
        budget.good_events,
        budget.total_events,
        report.status,
        budget.remaining_ratio,  # error_budget_remaining
        budget.consumed_ratio,  # error_budget_consumed
        report.burn_rate,
        report.burn_rates,  # type: ignore[arg-type]  # keyed by WINDOW_NAMES
        exhaustion_text(tte_s),  # time_to_exhaustion
        tte_s,  # time_to_exhaustion_seconds
        report.alert_triggered,
        [c.rule for c in report.conditions],  # firing_alerts
        recommendations(slo, report),
    )


def status_event(slo: SLO, report: SloEvaluation, sequence: int, published_us: int) -> StatusEvent:
    """A `slo_status_updated` event. `event_id` is `<slo_id>:<sequence>`: stable across
    a republish after a crash, so consumers can drop duplicates by id or sequence.
    Replay passes the evaluation instant as `published_us`: its clock is event time."""
    evaluated_at = isoformat_z(report.now_us)
    return StatusEvent(
        f"{slo.slo_id}:{sequence}",  # event_id
        evaluated_at if published_us == report.now_us else isoformat_z(published_us),  # timestamp
        sequence,
        evaluated_at,
        status_update(slo, report),
    )


def no_data_report(slo: SLO, now_us: int) -> SloEvaluation:
    """The evaluation of an SLO that has received no event yet: no SLI, HEALTHY, a zero budget."""
    return evaluate(objective_of(slo), WindowState(now_us))
