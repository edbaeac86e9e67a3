"""Alertmanager's v2 API: alert events become Alertmanager alerts.

Labels identify an alert (Alertmanager's fingerprint is their hash): alertname,
slo_id, service, rule, severity and the rule's own labels. A firing alert is
posted with `endsAt` a few resend intervals ahead and re-posted while it lasts,
as Prometheus does, so Alertmanager resolves it by itself if the engine dies;
a resolved one is posted with `endsAt` = the instant it resolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import msgspec

from app.core.alerts import STALE_RULE
from app.core.policy import is_budget_rule
from app.domain.enums import AlertState
from app.domain.messages import ALERT_DECODER, AlertEvent
from app.errors import DeliveryFailed

ALERTNAME_BURN = "SLOBurnRate"
ALERTNAME_BUDGET = "SLOErrorBudget"  # the error-budget policy's budget-<percent> rules
VALID_FOR_RESENDS = 4  # a firing alert stays valid for this many resend intervals


def parse_alert_event(raw: bytes | None) -> AlertEvent | None:
    """An alert event from the alerts topic, or None for a record that is not one
    (the topic is ours, but anyone with write access can put anything there)."""
    if raw is None:
        return None
    try:
        event = ALERT_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):  # not JSON, not an alert event, or nested too deep
        return None
    if event.state is AlertState.RESOLVED and not event.resolved_at:
        return None
    return event


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _alertname(rule: str) -> str:
    if rule == STALE_RULE:
        return STALE_RULE
    return ALERTNAME_BUDGET if is_budget_rule(rule) else ALERTNAME_BURN


def am_alert(event: AlertEvent, now: datetime, resend_interval_s: float, generator_url: str) -> dict[str, Any]:
    """One Alertmanager alert from an alert event (`now`: when it is posted)."""
    labels = {
        **event.labels,
        "alertname": _alertname(event.rule),
        "slo_id": event.slo_id,
        "service": event.service_name,
        "rule": event.rule,
        "severity": event.severity.value,
    }
    annotations = {
        **event.annotations,
        "slo_name": event.slo_name,
        "error_budget_remaining": f"{event.error_budget_remaining:.4f}",
    }
    if event.burn_rate_long is not None and event.burn_rate_short is not None:
        annotations["burn_rate_long"] = f"{event.burn_rate_long:.3f}"
        annotations["burn_rate_short"] = f"{event.burn_rate_short:.3f}"
    if event.error_budget_consumed is not None:
        annotations["error_budget_consumed"] = f"{event.error_budget_consumed:.4f}"
    if event.action is not None:
        annotations["action"] = event.action
    if event.state is AlertState.RESOLVED and event.resolved_at is not None:
        ends_at = event.resolved_at
    else:
        ends_at = _iso(now + timedelta(seconds=VALID_FOR_RESENDS * resend_interval_s))
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": event.started_at,
        "endsAt": ends_at,
    }
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


class AlertsRejected(DeliveryFailed):
    """Alertmanager refused the alerts themselves (a 4xx, e.g. an invalid label name):
    sending them again cannot succeed."""

    def __init__(self, reason: str) -> None:
        super().__init__("alertmanager", reason)


class AlertmanagerClient:
    """POST /api/v2/alerts. Any failure (refused, timeout, non-2xx) is a DeliveryFailed."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, alerts: Iterable[dict[str, Any]]) -> None:
        body = list(alerts)
        if not body:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(self.endpoint, json=body) as response:
                if response.status >= 300:
                    detail = (await response.text())[:500]
                    if 400 <= response.status < 500 and response.status not in (408, 429):
                        raise AlertsRejected(f"HTTP {response.status}: {detail}")
                    raise DeliveryFailed("alertmanager", f"HTTP {response.status}: {detail}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed("alertmanager", f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
