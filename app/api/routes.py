"""FastAPI application: SLO management (writes go to the definitions topic) and queries.

Every body and parameter is validated by pydantic: a bad one is a 422 naming
the field (`detail[].loc`); an unknown SLO is a 404; no input yields a 5xx.
Mutating endpoints need `Authorization: Bearer <token>` when a token is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from app.api.service import SloService
from app.core.alerts import STALE_RULE
from app.core.calendar import to_us
from app.domain.enums import SLOStatus, SLOType
from app.domain.models import SLO, AlertRule, ErrorBudget, SLIMetric, SLOStatusReport
from app.errors import Unavailable

SloIdPath = Annotated[
    str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", description="SLO id")
]
RuleIdPath = Annotated[
    str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", description="rule id")
]
MAX_HISTORY_POINTS = 5000
M = TypeVar("M", bound=BaseModel)


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
    service: SloService, api_token: str | None = None, metrics: Callable[[], bytes] | None = None
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

    write = [Depends(TokenGuard(api_token))]
    not_found: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
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
        responses={**auth, **unreadable, 409: {"model": Problem}},
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
            422: {"description": "invalid body, or slo_id differs from the path"},
        },
    )
    async def replace_slo(slo_id: SloIdPath, slo: SLO) -> SLO:
        known(slo_id)
        if slo.slo_id != slo_id:
            raise _invalid("body", "slo_id", "must equal the path's slo_id")
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
        responses={**auth, **unreadable, **not_found, 409: {"model": Problem}},
    )
    async def add_alert_rule(slo_id: SloIdPath, rule: AlertRule) -> AlertRule:
        slo = known(slo_id)
        if rule.rule_id in {r.name for r in slo.rules()} | {STALE_RULE}:
            raise HTTPException(status.HTTP_409_CONFLICT, f"rule {rule.rule_id!r} exists on {slo_id!r}")
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

    @app.get("/api/v1/slos/{slo_id}/burn-rate-alert/{rule_id}", tags=["alerts"], responses=not_found)
    async def get_alert_rule(slo_id: SloIdPath, rule_id: RuleIdPath) -> AlertRule:
        return known_rule(known(slo_id), rule_id)

    @app.delete(
        "/api/v1/slos/{slo_id}/burn-rate-alert/{rule_id}",
        status_code=204,
        dependencies=write,
        tags=["alerts"],
        responses={**auth, **not_found},
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
        known(slo_id)
        return _found(await service.status(slo_id), f"no status for {slo_id!r} yet")

    @app.get("/api/v1/slos/{slo_id}/error-budget", tags=["state"], responses=not_found)
    async def get_error_budget(slo_id: SloIdPath) -> ErrorBudget:
        known(slo_id)
        return _found(await service.error_budget(slo_id), f"no error budget for {slo_id!r} yet")

    @app.get("/api/v1/slos/{slo_id}/history", tags=["state"], responses=not_found)
    async def get_history(
        slo_id: SloIdPath,
        start_time: datetime,
        end_time: datetime,
        step: Annotated[int | None, Query(ge=60, le=86_400, description="seconds between points")] = None,
    ) -> list[SLIMetric]:
        known(slo_id)
        start_us, end_us = to_us(_utc(start_time)), to_us(_utc(end_time))
        if end_us <= start_us:
            raise _invalid("query", "end_time", "must be after start_time")
        if step is not None and step % 60:
            raise _invalid("query", "step", "must be a whole number of minutes")
        span_s = (end_us - start_us) // 1_000_000
        step_s = step or (60 if span_s <= 86_400 else 3600)
        if span_s // step_s > MAX_HISTORY_POINTS:
            raise _invalid("query", "step", f"more than {MAX_HISTORY_POINTS} points")
        return await service.history(slo_id, start_us, end_us, step_s)

    return app


def _found(model: M | None, detail: str) -> M:
    """The model, or a 404 saying what is missing."""
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail)
    return model


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


def _invalid(where: str, field: str, msg: str) -> HTTPException:
    """A 422 in FastAPI's own validation shape, naming the field at fault."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_ENTITY, [{"loc": [where, field], "msg": msg, "type": "value_error"}]
    )


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
