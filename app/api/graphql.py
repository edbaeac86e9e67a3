"""`/graphql`: read-only queries over SLOs, status, budget, history, alert timeline and
reports, and a subscription to status events over the same hub as the event streams.

Queries read what the REST API reads (the SloService); nothing here writes. The web UI
uses it to load a page's figures in one request. Subscriptions speak graphql-transport-ws
(and the older graphql-ws) on the same path.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import msgspec
import strawberry
from strawberry.fastapi import GraphQLRouter
from strawberry.scalars import JSON
from strawberry.types import Info

from app.api.hub import STATUS_EVENT, EventHub, make_filter
from app.api.routes import MAX_HISTORY_POINTS, history_step_s
from app.api.service import SloService
from app.core.calendar import to_us
from app.domain.messages import STATUS_DECODER
from app.domain.models import SLO
from app.domain.views import error_budget, no_data_report, status_report

MAX_RANGE_S = 400 * 86_400
Context = dict[str, Any]


@strawberry.type
class WindowBurn:
    window: str
    burn_rate: float


@strawberry.type
class FiringRule:
    name: str
    severity: str
    long_window: str | None
    short_window: str | None
    threshold: float | None
    burn_rate_long: float | None
    burn_rate_short: float | None


@strawberry.type
class SloStatus:
    status: str
    current_sli: float | None
    target_sli: float
    error_budget_remaining: float
    error_budget_consumed: float
    burn_rate: float
    burn_rates: list[WindowBurn]
    time_to_exhaustion: str | None
    time_to_exhaustion_seconds: float | None
    total_budget: float = strawberry.field(description="Allowed bad events in the period.")
    consumed_budget: int
    remaining_budget: float
    firing: list[FiringRule]
    last_updated: datetime
    has_data: bool


@strawberry.type
class Budget:
    period_start: datetime
    total_budget: float
    consumed_budget: int
    remaining_budget: float
    error_budget_remaining: float
    error_budget_consumed: float
    time_to_exhaustion_seconds: float | None
    projected_exhaustion: datetime | None


@strawberry.type
class HistoryPoint:
    timestamp: datetime
    interval_seconds: int
    good_events: int
    total_events: int
    sli_value: float | None


@strawberry.type
class RuleRow:
    name: str
    kind: str = strawberry.field(description="burn-rate, budget or stale.")
    severity: str
    long_window: str | None
    short_window: str | None
    threshold: float | None


@strawberry.type
class Slo:
    definition: strawberry.Private[SLO]

    @strawberry.field
    def slo_id(self) -> str:
        return self.definition.slo_id

    @strawberry.field
    def slo_name(self) -> str:
        return self.definition.slo_name

    @strawberry.field
    def service_name(self) -> str:
        return self.definition.service_name

    @strawberry.field
    def slo_type(self) -> str:
        return self.definition.slo_type.value

    @strawberry.field
    def target_percentage(self) -> float:
        return self.definition.target_percentage

    @strawberry.field
    def time_period(self) -> str:
        return self.definition.time_period.value

    @strawberry.field
    def period_seconds(self) -> float:
        return period_us(self.definition) / 1e6

    @strawberry.field
    def enabled(self) -> bool:
        return self.definition.enabled

    @strawberry.field(description="The definition as the REST API returns it.")
    def spec(self) -> JSON:
        spec: JSON = json.loads(self.definition.model_dump_json())
        return spec

    @strawberry.field
    async def status(self, info: Info[Context, None]) -> SloStatus:
        service = info.context["service"]
        found = await service.status(self.definition.slo_id)
        report = found or status_report(self.definition, no_data_report(self.definition, _now_us()))
        firing = [
            FiringRule(
                name=f.name,
                severity=f.severity.value,
                long_window=f.long_window,
                short_window=f.short_window,
                threshold=f.threshold,
                burn_rate_long=f.burn_rate_long,
                burn_rate_short=f.burn_rate_short,
            )
            for f in report.firing_alerts
        ] + [
            FiringRule(
                name=b.name,
                severity=b.severity.value,
                long_window=None,
                short_window=None,
                threshold=b.threshold,
                burn_rate_long=None,
                burn_rate_short=None,
            )
            for b in report.budget_alerts
        ]
        latest = _latest(info.context["hub"], self.definition.slo_id)
        if latest is not None and latest.firing_alerts and "SLIDataStale" in latest.firing_alerts:
            firing.append(
                FiringRule(
                    name="SLIDataStale",
                    severity="ticket",
                    long_window=None,
                    short_window=None,
                    threshold=None,
                    burn_rate_long=None,
                    burn_rate_short=None,
                )
            )
        return SloStatus(
            status=report.status.value,
            current_sli=report.current_sli,
            target_sli=report.target_sli,
            error_budget_remaining=report.error_budget_remaining,
            error_budget_consumed=report.error_budget_consumed,
            burn_rate=report.burn_rate,
            burn_rates=[WindowBurn(window=w, burn_rate=r) for w, r in report.burn_rates.items()],
            time_to_exhaustion=report.time_to_exhaustion,
            time_to_exhaustion_seconds=report.time_to_exhaustion_seconds,
            total_budget=report.total_budget,
            consumed_budget=report.consumed_budget,
            remaining_budget=report.remaining_budget,
            firing=firing,
            last_updated=report.last_updated,
            has_data=found is not None,
        )

    @strawberry.field
    async def budget(self, info: Info[Context, None]) -> Budget:
        found = await info.context["service"].error_budget(self.definition.slo_id)
        b = found or error_budget(self.definition, no_data_report(self.definition, _now_us()))
        return Budget(
            period_start=b.period_start,
            total_budget=b.total_budget,
            consumed_budget=b.consumed_budget,
            remaining_budget=b.remaining_budget,
            error_budget_remaining=b.error_budget_remaining,
            error_budget_consumed=b.error_budget_consumed,
            time_to_exhaustion_seconds=b.time_to_exhaustion_seconds,
            projected_exhaustion=b.projected_exhaustion,
        )

    @strawberry.field(description=f"Points in (start, end]; at most {MAX_HISTORY_POINTS} (the step widens).")
    async def history(
        self, info: Info[Context, None], start: datetime, end: datetime, step_seconds: int | None = None
    ) -> list[HistoryPoint]:
        start_us, end_us = to_us(_utc(start)), to_us(_utc(end))
        if end_us <= start_us:
            return []
        if step_seconds is not None and (step_seconds < 60 or step_seconds % 60 or step_seconds > 86_400):
            raise ValueError("stepSeconds: whole minutes from 60 to 86400")
        start_us = max(start_us, end_us - MAX_RANGE_S * 1_000_000)
        step_s = history_step_s(start_us, end_us, step_seconds)
        points = await info.context["service"].history(self.definition.slo_id, start_us, end_us, step_s)
        return [
            HistoryPoint(
                timestamp=p.timestamp,
                interval_seconds=p.interval_seconds,
                good_events=p.good_events,
                total_events=p.total_events,
                sli_value=p.sli_value,
            )
            for p in points
        ]

    @strawberry.field(description="Every rule evaluated: burn-rate rules, budget thresholds, SLIDataStale.")
    def rules(self) -> list[RuleRow]:
        d = self.definition
        period = period_us(d)
        rows = [
            RuleRow(
                name=r.name,
                kind="burn-rate",
                severity=r.severity.value,
                long_window=r.long_window,
                short_window=r.short_window,
                threshold=r.threshold(period),
            )
            for r in d.rules()
            if r.applies_to(period)
        ]
        rows += [
            RuleRow(
                name=t.name,
                kind="budget",
                severity=t.severity.value,
                long_window=None,
                short_window=None,
                threshold=t.threshold,
            )
            for t in d.policy()
        ]
        rows.append(
            RuleRow(
                name="SLIDataStale",
                kind="stale",
                severity="ticket",
                long_window=None,
                short_window=None,
                threshold=None,
            )
        )
        return rows

    @strawberry.field(description="The SLO's latest alert events (firing and resolved), newest first.")
    def alert_timeline(self, info: Info[Context, None]) -> list[JSON]:
        return [json.loads(data) for data in info.context["hub"].timeline(self.definition.slo_id)]

    @strawberry.field(description="Advice from the latest status event this worker has seen.")
    def recommendations(self, info: Info[Context, None]) -> list[str]:
        latest = _latest(info.context["hub"], self.definition.slo_id)
        return [] if latest is None else list(latest.recommendations)

    @strawberry.field(description="Events in the period as of the latest status event seen (null: none seen).")
    def total_events(self, info: Info[Context, None]) -> int | None:
        latest = _latest(info.context["hub"], self.definition.slo_id)
        return None if latest is None else latest.total_events


@strawberry.type
class StatusEventType:
    event_id: str
    sequence: int
    timestamp: str
    slo_id: str
    service_name: str
    status: str
    current_sli: float | None
    error_budget_remaining: float
    burn_rate: float
    firing_alerts: list[str]
    payload: JSON


@strawberry.type
class Query:
    @strawberry.field
    def slos(self, info: Info[Context, None], service_name: str | None = None) -> list[Slo]:
        items = sorted(info.context["service"].definitions().values(), key=lambda s: s.slo_id)
        return [Slo(definition=s) for s in items if service_name is None or s.service_name == service_name]

    @strawberry.field
    def slo(self, info: Info[Context, None], slo_id: str) -> Slo | None:
        found = info.context["service"].definitions().get(slo_id)
        return None if found is None else Slo(definition=found)

    @strawberry.field(description="The compliance report of a period (YYYY-MM, YYYY-Qn, YYYY, YYYY-Www).")
    async def report(self, info: Info[Context, None], period: str, service_name: str | None = None) -> JSON:
        report: JSON = await _report(info.context["service"], period, service_name)
        return report


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Status events as they are published (filter by SLO or service).")
    async def status_events(
        self, info: Info[Context, None], slo_id: list[str] | None = None, service_name: list[str] | None = None
    ) -> AsyncGenerator[StatusEventType, None]:
        hub = info.context["hub"]
        async with hub.subscribe(make_filter(slo_id or (), service_name or (), [STATUS_EVENT])) as sub:
            while not sub.cut_off:
                event = await sub.queue.get()
                if event.event_type != STATUS_EVENT:
                    return
                decoded = STATUS_DECODER.decode(event.data)
                u = decoded.slo_status_update
                yield StatusEventType(
                    event_id=event.event_id,
                    sequence=decoded.sequence,
                    timestamp=decoded.timestamp,
                    slo_id=u.slo_id,
                    service_name=u.service_name,
                    status=u.status.value,
                    current_sli=u.current_sli,
                    error_budget_remaining=u.error_budget_remaining,
                    burn_rate=u.burn_rate,
                    firing_alerts=list(u.firing_alerts),
                    payload=json.loads(event.data),
                )


SCHEMA = strawberry.Schema(query=Query, subscription=Subscription)


def graphql_router(service: SloService, hub: EventHub) -> GraphQLRouter[Context, None]:
    async def context() -> Context:
        return {"service": service, "hub": hub}

    return GraphQLRouter(SCHEMA, context_getter=context, graphql_ide="graphiql")


def period_us(slo: SLO) -> int:
    return no_data_report(slo, _now_us()).period_us


def _latest(hub: EventHub, slo_id: str) -> Any:
    data = hub.latest_status.get(slo_id)
    if data is None:
        return None
    try:
        return STATUS_DECODER.decode(data).slo_status_update
    except msgspec.DecodeError:
        return None


async def _report(service: SloService, period: str, service_name: str | None) -> Any:
    """The compliance report, as GET /api/v1/reports?format=json answers it, where the engine has
    reports (app.domain.reports); an error saying so where it has not."""
    try:
        intervals = importlib.import_module("app.core.intervals")
        reports = importlib.import_module("app.domain.reports")
    except ModuleNotFoundError as exc:
        raise ValueError("reports are not available in this version of the engine") from exc
    try:
        interval = intervals.parse_period(period)
        slos = reports.select_slos(list(service.definitions().values()), service_name)
    except intervals.BadInterval as exc:
        raise ValueError(f"period: {exc.reason}") from exc
    report = await getattr(service, "report")(interval, sorted(slos, key=lambda s: s.slo_id))  # noqa: B009
    return json.loads(report.model_dump_json(by_alias=True))


def _now_us() -> int:
    import time

    return time.time_ns() // 1000


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
