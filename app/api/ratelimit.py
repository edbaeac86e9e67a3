"""Per-client rate limits on the API, and request metrics (count and latency per route).

A token bucket per client: the bearer token when the request has one (its SHA-256,
never the token itself), else the client's address. `rate_per_s` tokens come back
each second up to `burst`; a request that finds the bucket empty is answered 429
with `Retry-After` (whole seconds until a token is back). Exempt: the UI and its
assets, the event streams (long-lived; their events are not requests), GraphQL
subscriptions (WebSocket), and the ops endpoints (/healthz, /readyz, /metrics).

Both are plain ASGI middlewares: streaming responses pass through untouched.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXEMPT_PREFIXES = ("/static/", "/ui/", "/api/v1/events/")
EXEMPT_PATHS = frozenset({"/", "/slos", "/reports", "/healthz", "/readyz", "/metrics", "/favicon.ico"})
MAX_CLIENTS = 10_000  # buckets kept; full ones are dropped first when there are more


def exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES) or path.startswith("/slos/")


@dataclass
class Bucket:
    tokens: float
    at_s: float


class TokenBuckets:
    def __init__(self, rate_per_s: float, burst: int, clock_s: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s, self.burst, self.clock_s = rate_per_s, burst, clock_s
        self.buckets: dict[str, Bucket] = {}

    def take(self, client: str) -> float:
        """0 when the request may go; else the seconds until it could."""
        now = self.clock_s()
        bucket = self.buckets.get(client)
        if bucket is None:
            if len(self.buckets) >= MAX_CLIENTS:
                self._prune(now)
            bucket = self.buckets[client] = Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at_s) * self.rate_per_s)
        bucket.at_s = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate_per_s

    def _prune(self, now: float) -> None:
        full_after_s = self.burst / self.rate_per_s
        for client in [c for c, b in self.buckets.items() if now - b.at_s >= full_after_s]:
            del self.buckets[client]
        while len(self.buckets) >= MAX_CLIENTS:  # all busy: drop the least recently seen
            del self.buckets[min(self.buckets, key=lambda c: self.buckets[c].at_s)]


def client_key(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return "token:" + hashlib.sha256(value[7:].strip()).hexdigest()[:16]
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"


class RateLimit:
    """ASGI middleware: 429 + Retry-After once a client's bucket is empty (disabled at rate 0)."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets | None) -> None:
        self.app, self.buckets = app, buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        wait_s = self.buckets.take(client_key(scope))
        if wait_s <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = str(max(1, math.ceil(wait_s)))
        body = b'{"detail":"rate limit exceeded: retry after %s s"}' % retry_after.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", retry_after.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class ApiMetrics:
    """The API's own registry: requests by method, route template and status; latency by route."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "slo_api_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "slo_api_request_duration_seconds",
            "Time to the response's first byte, by method and route template.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "slo_api_rate_limited", "Requests answered 429 by the rate limit.", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware: counts every HTTP request with its route template (`<unmatched>`
    when no route matched: unknown paths never become label values)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500

        async def sending(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
                self._observe(scope, code, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            self._observe(scope, code, time.perf_counter() - started)
            raise

    def _observe(self, scope: Scope, code: int, elapsed_s: float) -> None:
        route = scope.get("route")
        if route is None and code == 429:  # answered before routing: the route it was meant for
            self.metrics.rate_limited.inc()
            route = next((r for r in self.routes() if r.matches(scope)[0] is Match.FULL), None)
        template = getattr(route, "path", None) or "<unmatched>"
        self.metrics.requests.labels(scope["method"], template, str(code)).inc()
        self.metrics.latency.labels(scope["method"], template).observe(elapsed_s)
