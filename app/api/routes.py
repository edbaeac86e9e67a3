"""FastAPI application: SLO management (writes go to the definitions topic) and queries.

Every body and parameter is validated by pydantic: a bad one is a 422 naming
the field (`detail[].loc`); an unknown SLO is a 404; no input yields a 5xx.
Mutating endpoints need `Authorization: Bearer <token>` when a token is set.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.api.adjustments import add_adjustment_routes
from app.api.service import SloService
from app.core.alerts import STALE_RULE
from app.core.calendar import to_us
from app.core.intervals import PERIOD_FORMS, BadInterval, parse_period
from app.domain.enums import SLOStatus, SLOType, TimePeriod
from app.domain.models import DUPLICATE_RULE, SLO, AlertRule, ErrorBudget, SLIMetric, SLOStatusReport
from app.domain.reports import ComplianceReport, ReportFormat, render, select_slos
from app.domain.views import error_budget, no_data_report, status_report
from app.domain.whatif import WhatIf
from app.errors import Unavailable

SloIdPath = Annotated[
    str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", description="SLO id")
]
RuleIdPath = Annotated[
    str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", description="rule id")
]
PeriodQuery = Annotated[
    str,
    Query(
        pattern=r"^(19[7-9][0-9]|[2-9][0-9]{3})(-(0[1-9]|1[0-2])|-Q[1-4]|-W(0[1-9]|[1-4][0-9]|5[0-3]))?$",
        description=f"The report's interval: {PERIOD_FORMS} (a month, quarter, year or ISO week, UTC). "
        "A period beyond the history's retention (400 days) or a week 53 its ISO year lacks is a 422.",
    ),
]
FormatQuery = Annotated[
    ReportFormat, Query(description="json (default), csv (one row per SLO) or md (summary, then the table).")
]
ServiceQuery = Annotated[str | None, Query(min_length=1, max_length=100, description="Only this service's SLOs.")]
MAX_HISTORY_POINTS = 5000
MAX_ALERT_RULES = 32  # SLO.alert_rules' max_length
M = TypeVar("M", bound=BaseModel)


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class SLOList(BaseModel):
    items: list[SLO]
    total: int = Field(description="SLOs matching the filters.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


class Problem(BaseModel):
    detail: str
    slo_id: str | None = None


_BEARER = HTTPBearer(auto_error=False, description="Required by mutating endpoints when SLO_API_TOKEN is set.")


class TokenGuard:
    """401 without a bearer token, 403 with a wrong one; open when no token is configured."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    async def __call__(self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if self.token is None:
            return
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "bearer token required", headers={"WWW-Authenticate": "Bearer"}
            )
        if not hmac.compare_digest(credentials.credentials.encode(), self.token.encode()):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid token")


def create_app(
    service: SloService,
    api_token: str | None = None,
    metrics: Callable[[], bytes] | None = None,
    clock_us: Callable[[], int] = wall_clock_us,
) -> FastAPI:
    app = FastAPI(
        title="SLO engine",
        version="0.1.0",
        description="Real-time SLO engine: definitions, status, error budgets and history.",
    )

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "dependency": exc.dependency}, status_code=503, headers={"Retry-After": "1"}
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        """422 naming the field; a body valid but for a rule name used twice is a 409."""
        errors = exc.errors()
        if errors and all(e["type"] == DUPLICATE_RULE for e in errors):
            return JSONResponse({"detail": errors[0]["msg"]}, status_code=status.HTTP_409_CONFLICT)
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """A 405's `Allow` lists every method of the path (Starlette names one route's only)."""
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            allowed: set[str] = set()
            for route in app.router.routes:
                if route.matches(request.scope)[0] is not Match.NONE:
                    allowed |= getattr(route, "methods", None) or set()
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
        return await http_exception_handler(request, exc)

    write = [Depends(TokenGuard(api_token))]
    not_found: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No SLO of that id."}}
    no_rule: dict[int | str, dict[str, Any]] = {
        404: {"model": Problem, "description": "No SLO, or no such rule on it."}
    }
    # Mutating endpoints: the token's answers are documented like the others.
    auth: dict[int | str, dict[str, Any]] = {
        401: {"model": Problem, "description": "A token is configured and the request has no bearer token."},
        403: {"model": Problem, "description": "The bearer token is wrong."},
    }
    # Endpoints with a JSON body: bytes that are not UTF-8 cannot even be parsed
    # (FastAPI's answer; malformed JSON in UTF-8 is a 422 naming its position).
    unreadable: dict[int | str, dict[str, Any]] = {
        400: {"model": Problem, "description": "The body could not be parsed (not UTF-8)."}
    }

    add_adjustment_routes(app, service, write, {**auth, **unreadable})

    def known(slo_id: str) -> SLO:
        slo = service.definitions().get(slo_id)
        if slo is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no SLO {slo_id!r}")
        return slo

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def prometheus_metrics() -> PlainTextResponse:
        body = metrics() if metrics is not None else b""
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/readyz", tags=["ops"], responses={503: {"model": Problem}})
    async def readyz(response: Response) -> dict[str, str]:
        if not service.ready():
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            return {"status": "recovering"}
        return {"status": "ready"}

    @app.post(
        "/api/v1/slos",
        status_code=201,
        dependencies=write,
        tags=["slos"],
        responses={
            **auth,
            **unreadable,
            409: {"model": Problem, "description": "An SLO of that id exists, or a rule name is used twice."},
        },
    )
    async def create_slo(slo: SLO) -> SLO:
        if slo.slo_id in service.definitions():
            raise HTTPException(status.HTTP_409_CONFLICT, f"SLO {slo.slo_id!r} exists")
        await service.put_definition(_storable(slo))
        return slo

    @app.get("/api/v1/slos", tags=["slos"])
    async def list_slos(
        service_name: Annotated[str | None, Query(max_length=100)] = None,
        slo_type: SLOType | None = None,
        slo_status: Annotated[SLOStatus | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> SLOList:
        items = sorted(service.definitions().values(), key=lambda s: s.slo_id)
        if service_name is not None:
            items = [s for s in items if s.service_name == service_name]
        if slo_type is not None:
            items = [s for s in items if s.slo_type is slo_type]
        if slo_status is not None:
            kept = []
            for s in items:
                current = await service.status(s.slo_id)
                if (current.status if current else SLOStatus.HEALTHY) is slo_status:
                    kept.append(s)
            items = kept
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        return SLOList(
            items=page,
            total=len(items),
            limit=limit,
            offset=offset,
            next_offset=offset + limit if more else None,
        )

    @app.get("/api/v1/slos/{slo_id}", tags=["slos"], responses=not_found)
    async def get_slo(slo_id: SloIdPath) -> SLO:
        return known(slo_id)

    @app.put(
        "/api/v1/slos/{slo_id}",
        dependencies=write,
        tags=["slos"],
        responses={
            **auth,
            **unreadable,
            **not_found,
            409: {
                "model": Problem,
                "description": "The body's slo_id is not the path's (an SLO's id never changes), "
                "or a rule name is used twice.",
            },
        },
    )
    async def replace_slo(slo_id: SloIdPath, slo: SLO) -> SLO:
        known(slo_id)
        if slo.slo_id != slo_id:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"the body's slo_id {slo.slo_id!r} is not the path's {slo_id!r}"
            )
        await service.put_definition(_storable(slo))
        return slo

    @app.delete(
        "/api/v1/slos/{slo_id}", status_code=204, dependencies=write, tags=["slos"], responses={**auth, **not_found}
    )
    async def delete_slo(slo_id: SloIdPath) -> Response:
        known(slo_id)
        await service.delete_definition(slo_id)
        return Response(status_code=204)

    @app.post(
        "/api/v1/slos/{slo_id}/burn-rate-alert",
        status_code=201,
        dependencies=write,
        tags=["alerts"],
        responses={
            **auth,
            **unreadable,
            **not_found,
            409: {
                "model": Problem,
                "description": f"A rule of that name exists on the SLO, or it has {MAX_ALERT_RULES} custom rules.",
            },
        },
    )
    async def add_alert_rule(slo_id: SloIdPath, rule: AlertRule) -> AlertRule:
        slo = known(slo_id)
        if rule.rule_id in {r.name for r in slo.rules()} | {STALE_RULE}:
            raise HTTPException(status.HTTP_409_CONFLICT, f"rule {rule.rule_id!r} exists on {slo_id!r}")
        if len(slo.alert_rules) >= MAX_ALERT_RULES:
            raise HTTPException(status.HTTP_409_CONFLICT, f"{slo_id!r} has {MAX_ALERT_RULES} custom rules already")
        _storable(rule)
        await service.put_definition(_storable(slo.model_copy(update={"alert_rules": [*slo.alert_rules, rule]})))
        return rule

    @app.get("/api/v1/slos/{slo_id}/burn-rate-alert", tags=["alerts"], responses=not_found)
    async def list_alert_rules(slo_id: SloIdPath) -> list[AlertRule]:
        """The SLO's custom rules (evaluated besides its burn-rate policy)."""
        return known(slo_id).alert_rules

    def known_rule(slo: SLO, rule_id: str) -> AlertRule:
        for rule in slo.alert_rules:
            if rule.rule_id == rule_id:
                return rule
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id!r} on {slo.slo_id!r}")

    @app.get("/api/v1/slos/{slo_id}/burn-rate-alert/{rule_id}", tags=["alerts"], responses=no_rule)
    async def get_alert_rule(slo_id: SloIdPath, rule_id: RuleIdPath) -> AlertRule:
        return known_rule(known(slo_id), rule_id)

    @app.delete(
        "/api/v1/slos/{slo_id}/burn-rate-alert/{rule_id}",
        status_code=204,
        dependencies=write,
        tags=["alerts"],
        responses={**auth, **no_rule},
    )
    async def delete_alert_rule(slo_id: SloIdPath, rule_id: RuleIdPath) -> Response:
        """Remove a custom rule; an alert of it that is firing resolves at the next evaluation."""
        slo = known(slo_id)
        known_rule(slo, rule_id)
        kept = [r for r in slo.alert_rules if r.rule_id != rule_id]
        await service.put_definition(_storable(slo.model_copy(update={"alert_rules": kept})))
        return Response(status_code=204)

    @app.get("/api/v1/slos/{slo_id}/status", tags=["state"], responses=not_found)
    async def get_status(slo_id: SloIdPath) -> SLOStatusReport:
        """The SLO's latest status; one that has no data yet is HEALTHY with no SLI and a zero budget."""
        slo = known(slo_id)
        found = await service.status(slo_id)
        return found if found is not None else status_report(slo, no_data_report(slo, clock_us()))

    @app.get("/api/v1/slos/{slo_id}/error-budget", tags=["state"], responses=not_found)
    async def get_error_budget(slo_id: SloIdPath) -> ErrorBudget:
        """The SLO's error budget in its period; zero while it has no data."""
        slo = known(slo_id)
        found = await service.error_budget(slo_id)
        return found if found is not None else error_budget(slo, no_data_report(slo, clock_us()))

    @app.get("/api/v1/slos/{slo_id}/history", tags=["state"], responses=not_found)
    async def get_history(
        slo_id: SloIdPath,
        start_time: datetime,
        end_time: datetime,
        step: Annotated[
            int | None,
            Query(
                ge=60,
                le=86_400,
                multiple_of=60,
                description="Seconds between points, whole minutes (default: 60 up to a day's range, else 3600).",
            ),
        ] = None,
    ) -> list[SLIMetric]:
        """Points ending at multiples of the step in (start_time, end_time]; none when end_time is not
        after start_time. At most 5000 points: a longer range widens the step to the smallest multiple
        of it that fits (each point says its interval_seconds). Points the engine no longer holds are
        left out."""
        slo = known(slo_id)
        start_us, end_us = to_us(_utc(start_time)), to_us(_utc(end_time))
        if end_us <= start_us:
            return []
        step_s = history_step_s(start_us, end_us, step)
        points = await service.history(slo_id, start_us, end_us, step_s)
        return [p.judged(slo.target_percentage) for p in points]

    report_responses: dict[int | str, dict[str, Any]] = {
        200: {"content": {"text/csv": {}, "text/markdown": {}}, "description": "The report"},
    }

    async def _report(period: str, slos: list[SLO], fmt: ReportFormat) -> Response | ComplianceReport:
        try:
            interval = parse_period(period)
            report = await service.report(interval, slos)
        except BadInterval as exc:
            raise _unprocessable("period", exc.reason) from exc
        if fmt is ReportFormat.JSON:
            return report
        media = "text/csv" if fmt is ReportFormat.CSV else "text/markdown"
        return PlainTextResponse(render(report, fmt), media_type=f"{media}; charset=utf-8")

    @app.get("/api/v1/reports", tags=["reports"], responses=report_responses, response_model=ComplianceReport)
    async def get_reports(
        period: PeriodQuery,
        service_name: ServiceQuery = None,
        format: FormatQuery = ReportFormat.JSON,
    ) -> Response | ComplianceReport:
        """Compliance report of every enabled SLO (or one service's) over a period: per SLO, per
        service and overall, from the worker's history (docs/semantics.md, "Reports")."""
        try:
            slos = select_slos(list(service.definitions().values()), service_name)
        except BadInterval as exc:
            raise _unprocessable("service_name", exc.reason) from exc
        return await _report(period, sorted(slos, key=lambda s: s.slo_id), format)

    @app.get(
        "/api/v1/slos/{slo_id}/report",
        tags=["reports"],
        responses={**not_found, **report_responses},
        response_model=ComplianceReport,
    )
    async def get_slo_report(
        slo_id: SloIdPath,
        period: PeriodQuery,
        format: FormatQuery = ReportFormat.JSON,
    ) -> Response | ComplianceReport:
        """One SLO's compliance report over a period (its service's and the overall rollups are its own)."""
        slo = known(slo_id)
        return await _report(period, [slo], format)

    @app.get(
        "/api/v1/slos/{slo_id}/what-if",
        tags=["analytics"],
        responses={**not_found, 503: {"model": Problem, "description": "Another worker owns the SLO."}},
    )
    async def get_what_if(
        slo_id: SloIdPath,
        target: Annotated[float, Query(gt=0, lt=100, description="The target to try, percent in (0, 100).")],
        time_period: Annotated[TimePeriod | None, Query(description="The period to try (default: the SLO's).")] = None,
    ) -> WhatIf:
        """Every figure of the SLO recomputed from its retained counts for another target (and
        period), next to its figures as defined, and the past months judged against that target."""
        slo = known(slo_id)
        return await service.what_if(slo, target, time_period or slo.time_period)

    return app


def _unprocessable(parameter: str, reason: str) -> HTTPException:
    """A 422 shaped like pydantic's, naming the query parameter."""
    return HTTPException(
        422,
        [{"loc": ["query", parameter], "msg": reason, "type": "value_error"}],
    )


def history_step_s(start_us: int, end_us: int, step_s: int | None) -> int:
    """The step (seconds) of a history range: the one asked for, or the default, widened to the
    smallest multiple of it that gives at most MAX_HISTORY_POINTS points (whole hours from one hour:
    each point then sums hourly buckets)."""
    span_s = -(-(end_us - start_us) // 1_000_000)
    base_s = step_s or (60 if span_s <= 86_400 else 3600)
    factor = max(1, -(-span_s // (base_s * MAX_HISTORY_POINTS)))
    wide_s = base_s * factor
    if factor > 1 and wide_s > 3600:
        wide_s = -(-wide_s // 3600) * 3600
    return wide_s


def _storable(model: M) -> M:
    """The model, if it reads back from its own JSON: what is written to the definitions
    topic must validate on every worker, or it would be ignored there (and the write
    would wait for it in vain). Fields the model derives (an alert rule's rule_id) can
    fail that; a 422 names them."""
    try:
        type(model).model_validate_json(model.model_dump_json())
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            [{"loc": ["body", *e["loc"]], "msg": f"{e['msg']} (as stored)", "type": e["type"]} for e in exc.errors()],
        ) from exc
    return model


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
