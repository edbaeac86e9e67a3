"""The remote-write receiver: `POST /api/v1/write` (remote write 1.0), `/metrics`, `/healthz`.

Bad input gets a 4xx and a counter, never a crash: a body that is not snappy or not a
WriteRequest 400, a content type or encoding other than remote write 1.0's 415, a body
over the limit 413. Samples that are not counts (NaN, infinite, negative, fractional) of
series an SLO uses are refused (400, after applying the request's other samples;
Prometheus does not retry a 4xx). Staleness markers are the protocol, not bad input.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.bridge.bridge import Bridge
from app.bridge.remote_write import DecodeError, decode_write_request, decompress

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024  # compressed; Prometheus sends ~100-500 KB per request
MAX_DECODED_BYTES = 64 * 1024 * 1024
LOG_EVERY_S = 10.0  # one log line per outcome this often at most (counters count every one)

BRIDGE_KEY = web.AppKey("bridge", Bridge)


class _RateLimitedLog:
    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def warning(self, outcome: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(outcome, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._last[outcome] = now
            log.warning("remote write refused (%s): %s", outcome, message)


_log = _RateLimitedLog()


def _refuse(bridge: Bridge, status: int, outcome: str, message: str) -> web.Response:
    bridge.metrics.requests.labels(outcome).inc()
    _log.warning(outcome, message)
    return web.Response(status=status, text=message + "\n")


async def write(request: web.Request) -> web.Response:
    bridge = request.app[BRIDGE_KEY]
    try:  # read first (also for a refusal): a connection with an unread body would be reset
        body: bytes | None = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _refuse(bridge, 413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
    except (web.HTTPException, OSError, ValueError) as exc:  # a body aiohttp could not read (e.g. cut short)
        body, unreadable = None, str(exc).strip().replace("\n", " ")
    content_type = request.headers.get("Content-Type", "")
    if "io.prometheus.write.v2" in content_type:
        return _refuse(bridge, 415, "unsupported_media_type", "remote write 2.0 is not supported: send 1.0")
    if content_type.split(";")[0].strip().lower() != "application/x-protobuf":
        return _refuse(
            bridge, 415, "unsupported_media_type", f"Content-Type {content_type!r}: expected application/x-protobuf"
        )
    encoding = request.headers.get("Content-Encoding", "")
    if encoding.lower() != "snappy":
        return _refuse(bridge, 415, "unsupported_media_type", f"Content-Encoding {encoding!r}: expected snappy")
    if body is None:
        return _refuse(bridge, 400, "malformed", f"cannot read the body: {unreadable}")
    try:
        series = decode_write_request(decompress(body, MAX_DECODED_BYTES))
    except DecodeError as exc:
        return _refuse(bridge, 400, "malformed", exc.reason)
    refused = stale = 0
    for s in series:
        stale += s.stale
        refused += bridge.add(s.labels, s.samples)
    if stale:
        bridge.metrics.samples.labels("stale").inc(stale)
    if refused:
        return _refuse(
            bridge, 400, "bad_samples", f"{refused} samples are not counts (NaN, infinite, negative or fractional)"
        )
    bridge.metrics.requests.labels("accepted").inc()
    return web.Response(status=204)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[BRIDGE_KEY].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(bridge: Bridge) -> web.Application:
    # auto_decompress off: aiohttp would decode gzip/deflate bodies itself (and reset the
    # connection on a corrupt one); the bridge answers any encoding but snappy with a 415.
    app = web.Application(client_max_size=MAX_BODY_BYTES, handler_args={"auto_decompress": False})
    app[BRIDGE_KEY] = bridge
    app.router.add_post("/api/v1/write", write)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app
