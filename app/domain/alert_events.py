"""Alert events: what a rule's firing or resolved transition publishes. Pure.

`alert_id` is a fingerprint of (slo_id, rule): stable across episodes, workers
and restarts, like Alertmanager's. `event_id` adds the rule's episode number
and the state, so a consumer can drop a duplicate delivery by it, even one
published again after a crash. A resolved event keeps the identity (names,
service, labels) its firing event had, so that Alertmanager, which tells
alerts apart by labels, resolves the very alert it was sent.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from app.core.alerts import STALE_RULE, Transition
from app.core.calendar import isoformat_z
from app.core.evaluation import SloEvaluation
from app.core.policy import BUDGET_RULE_PREFIX, is_budget_rule
from app.domain.enums import AlertState
from app.domain.messages import AlertEvent
from app.domain.models import SLO
from app.domain.views import format_duration


def alert_id(slo_id: str, rule: str) -> str:
    return hashlib.sha256(f"{slo_id}\x00{rule}".encode()).hexdigest()[:16]


def _custom(slo: SLO, rule: str) -> tuple[dict[str, str], dict[str, str]]:
    for custom in slo.alert_rules:
        if custom.rule_id == rule:
            annotations = dict(custom.annotations)
            if custom.runbook_url:
                annotations.setdefault("runbook_url", custom.runbook_url)
            return dict(custom.labels), annotations
    return {}, {}


def _describe(slo: SLO, report: SloEvaluation, t: Transition) -> tuple[str, str]:
    c = t.condition
    if c.rule == STALE_RULE:
        last = report.last_event_us
        silent = None if last is None else (report.now_us - last) / 1_000_000
        return (
            f"{slo.slo_name}: no SLI data",
            f"no event for {format_duration(silent)} (alert after {format_duration(slo.no_data_alert_after_s)}); "
            f"check the producers of {slo.slo_id}",
        )
    if is_budget_rule(c.rule):
        assert c.threshold is not None
        percent = c.rule.removeprefix(BUDGET_RULE_PREFIX)
        action = slo.budget_action(c.rule)
        return (
            f"{slo.slo_name}: {report.budget.consumed_ratio:.0%} of the error budget spent (policy: {percent}%)",
            f"{report.budget.consumed_ratio:.1%} of the {slo.time_period.value} error budget consumed, at or above "
            f"the policy threshold of {percent}%" + (f"; {action}" if action else ""),
        )
    assert c.long_window is not None and c.short_window is not None and c.threshold is not None
    burn_long, burn_short = report.burn_rates[c.long_window], report.burn_rates[c.short_window]
    return (
        f"{slo.slo_name}: error budget burning {burn_long:.1f}x over {c.long_window}",
        f"{c.long_window} burn rate {burn_long:.2f}x and {c.short_window} {burn_short:.2f}x against a "
        f"threshold of {c.threshold:.3g}x; {report.budget.remaining_ratio:.1%} of the budget left",
    )


def alert_event(slo: SLO, report: SloEvaluation, t: Transition) -> AlertEvent:
    """The alert event of a transition, with the figures of the evaluation that made it."""
    c = t.condition
    labels, annotations = _custom(slo, c.rule)
    summary, description = _describe(slo, report, t)
    fingerprint = alert_id(slo.slo_id, c.rule)
    return AlertEvent(
        event_id=f"{fingerprint}:{t.episode}:{t.state.value}",
        alert_id=fingerprint,
        episode=t.episode,
        timestamp=isoformat_z(report.now_us),
        slo_id=slo.slo_id,
        slo_name=slo.slo_name,
        service_name=slo.service_name,
        rule=c.rule,
        severity=c.severity,
        long_window=c.long_window,  # type: ignore[arg-type]  # a WINDOW_NAMES name
        short_window=c.short_window,  # type: ignore[arg-type]
        threshold=c.threshold,
        burn_rate_long=None if c.long_window is None else report.burn_rates[c.long_window],
        burn_rate_short=None if c.short_window is None else report.burn_rates[c.short_window],
        error_budget_remaining=report.budget.remaining_ratio,
        error_budget_consumed=report.budget.consumed_ratio,
        action=slo.budget_action(c.rule) if is_budget_rule(c.rule) else None,
        state=t.state,
        started_at=isoformat_z(t.started_us),
        resolved_at=None if t.resolved_us is None else isoformat_z(t.resolved_us),
        labels=labels,
        annotations={"summary": summary, "description": description, **annotations},
    )


def resolved_event(firing: AlertEvent, t: Transition, now: AlertEvent | None) -> AlertEvent:
    """The resolved event of an episode, from its firing event: the same identity
    (whatever the definition says now), `now`'s figures and annotations when the
    SLO can still be evaluated (`alert_event` of the resolution), else the firing's."""
    assert t.state is AlertState.RESOLVED and t.resolved_us is not None
    resolved_at = isoformat_z(t.resolved_us)
    return msgspec.structs.replace(
        now if now is not None else firing,
        alert_id=firing.alert_id,
        slo_id=firing.slo_id,
        slo_name=firing.slo_name,
        service_name=firing.service_name,
        rule=firing.rule,
        severity=firing.severity,
        labels=firing.labels,
        episode=firing.episode,
        event_id=f"{firing.alert_id}:{firing.episode}:{AlertState.RESOLVED.value}",
        timestamp=resolved_at,
        state=AlertState.RESOLVED,
        started_at=firing.started_at,
        resolved_at=resolved_at,
    )


def kept(event: AlertEvent) -> dict[str, Any]:
    """A firing event as the changelog keeps it (plain JSON data, in the SLO's META record)."""
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]


def restored(data: dict[str, Any]) -> AlertEvent:
    """A kept firing event; msgspec.ValidationError if it is not one."""
    return msgspec.convert(data, AlertEvent)
