"""Alertmanager's v2 API: alert events become Alertmanager alerts.

Labels identify an alert (Alertmanager's fingerprint is their hash): alertname,
slo_id, service, rule, severity and the rule's own labels. A firing alert is
posted with `endsAt` a few resend intervals ahead and re-posted while it lasts,
as Prometheus does, so Alertmanager resolves it by itself if the engine dies;
a resolved one is posted with `endsAt` = the instant it resolved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from app.core.alerts import STALE_RULE
from app.errors import DeliveryFailed

ALERTNAME_BURN = "SLOBurnRate"
VALID_FOR_RESENDS = 4  # a firing alert stays valid for this many resend intervals


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "alert_id": str,
    "slo_id": str,
    "slo_name": str,
    "service_name": str,
    "rule": str,
    "severity": str,
    "state": str,
    "started_at": str,
    "error_budget_remaining": (int, float),
}


def parse_alert_event(raw: bytes | None) -> dict[str, Any] | None:
    """An alert event from the alerts topic, or None for a record that is not one
    (the topic is ours, but anyone with write access can put anything there)."""
    if raw is None:
        return None
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        return None
    if not isinstance(event, dict) or event.get("event_type") != "slo_alert":
        return None
    if any(not isinstance(event.get(k), t) for k, t in _REQUIRED.items()):
        return None
    if event["state"] not in ("firing", "resolved") or (event["state"] == "resolved" and not event.get("resolved_at")):
        return None
    for optional in ("burn_rate_long", "burn_rate_short"):
        if not isinstance(event.get(optional), (int, float, type(None))):
            return None
    if not isinstance(event.get("labels", {}), dict) or not isinstance(event.get("annotations", {}), dict):
        return None
    return event


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def am_alert(event: dict[str, Any], now: datetime, resend_interval_s: float, generator_url: str) -> dict[str, Any]:
    """One Alertmanager alert from an alert event (`now`: when it is posted)."""
    labels = {
        **event.get("labels", {}),
        "alertname": STALE_RULE if event["rule"] == STALE_RULE else ALERTNAME_BURN,
        "slo_id": event["slo_id"],
        "service": event["service_name"],
        "rule": event["rule"],
        "severity": event["severity"],
    }
    annotations = {
        **event.get("annotations", {}),
        "slo_name": event["slo_name"],
        "error_budget_remaining": f"{event['error_budget_remaining']:.4f}",
    }
    if event.get("burn_rate_long") is not None and event.get("burn_rate_short") is not None:
        annotations["burn_rate_long"] = f"{event['burn_rate_long']:.3f}"
        annotations["burn_rate_short"] = f"{event['burn_rate_short']:.3f}"
    if event["state"] == "resolved":
        ends_at = event["resolved_at"]
    else:
        ends_at = _iso(now + timedelta(seconds=VALID_FOR_RESENDS * resend_interval_s))
    alert = {"labels": labels, "annotations": annotations, "startsAt": event["started_at"], "endsAt": ends_at}
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
