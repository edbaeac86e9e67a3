"""The whole HTTP surface of a worker: the REST API (routes.py), the live event streams,
GraphQL, the web UI, request metrics and per-client rate limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from app.api.events_stream import install_events
from app.api.graphql import graphql_router
from app.api.hub import EventHub
from app.api.ratelimit import ApiMetrics, RateLimit, RequestMetrics, TokenBuckets, exempt
from app.api.routes import create_app, wall_clock_us
from app.api.service import SloService
from app.api.ui import install_ui


@dataclass(frozen=True)
class Limits:
    rate_per_s: float = 50.0  # 0: no limit
    burst: int = 200


def create_web_app(
    service: SloService,
    hub: EventHub,
    *,
    api_token: str | None = None,
    metrics: Callable[[], bytes] | None = None,
    limits: Limits = Limits(),  # frozen
    clock_us: Callable[[], int] = wall_clock_us,
) -> FastAPI:
    api_metrics = ApiMetrics()

    def all_metrics() -> bytes:
        return (metrics() if metrics is not None else b"") + api_metrics.render()

    app = create_app(service, api_token=api_token, metrics=all_metrics, clock_us=clock_us)
    install_events(app, hub)
    app.include_router(graphql_router(service, hub), prefix="/graphql", include_in_schema=False)
    install_ui(app)
    buckets = TokenBuckets(limits.rate_per_s, limits.burst) if limits.rate_per_s > 0 else None
    app.add_middleware(RateLimit, buckets=buckets)
    if buckets is not None:
        document_limits(app)
    app.add_middleware(RequestMetrics, metrics=api_metrics, routes=lambda: app.router.routes)  # outermost: sees 429s
    return app


TOO_MANY: dict[str, Any] = {
    "description": "This client's rate limit is spent; retry after `Retry-After` seconds.",
    "headers": {
        "Retry-After": {"description": "Whole seconds until a request is admitted.", "schema": {"type": "integer"}}
    },
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def document_limits(app: FastAPI) -> None:
    """Every rate-limited operation documents its 429 in /openapi.json."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path, operations in schema.get("paths", {}).items():
                if not exempt(path):
                    for operation in operations.values():
                        operation.setdefault("responses", {}).setdefault("429", TOO_MANY)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
