"""The bridge's two commands: `bridge remote-write` (a receiver) and `bridge query` (a poller).

Query mode reads the same raw counters through Prometheus' HTTP API: at each step a range
selector `SEL[2 * interval]` returns the raw samples (with their own timestamps, no
rate(), no extrapolation), and the same delta logic as remote write applies (samples
seen at the previous step are duplicates, ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from aiohttp import web

from app.bridge.bridge import Bridge
from app.bridge.server import make_app
from app.core.promql import CounterSli
from app.domain.models import SLO
from app.errors import Unavailable, UsageError
from app.stream.definitions_feed import DefinitionsFeed

log = logging.getLogger(__name__)
FEED_START_TIMEOUT_S = 15.0
Definitions = tuple[str, dict[str, SLO]]  # the definitions topic, and the SLOs known before reading it


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def _serve(bridge: Bridge, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(make_app(bridge), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError("--listen", f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, int(bound)


async def _follow(bridge: Bridge, definitions: Definitions | None) -> DefinitionsFeed | None:
    """Tail the definitions topic (SLOs made through the API); without it, the topology's SLOs."""
    if definitions is None:
        return None
    topic, slos = definitions
    feed = DefinitionsFeed(bridge.bootstrap, topic, bridge.follow(slos))
    try:
        await asyncio.wait_for(feed.start(), timeout=FEED_START_TIMEOUT_S)
    except Exception as exc:
        await feed.stop()
        log.warning("definitions topic %s not read (%r): feeding the topology's SLOs only", topic, exc)
        return None
    return feed


async def _run(
    bridge: Bridge,
    listen: tuple[str, int] | None,
    out: TextIO,
    work: Callable[[asyncio.Event], Awaitable[None]],
    flusher: bool = True,
    definitions: Definitions | None = None,
) -> int:
    stop = asyncio.Event()
    try:
        await bridge.start()
    except Exception as exc:
        raise Unavailable("Kafka", f"cannot start the producer: {exc!r}") from exc
    runner = None
    feed = await _follow(bridge, definitions)
    try:
        if listen is not None:
            runner, port = await _serve(bridge, *listen)
            out.write(f"bridge listening on http://{listen[0]}:{port} (POST /api/v1/write, GET /metrics)\n")
        out.write(f"bridge feeding {len(bridge.ingest.slis)} SLO(s) to {bridge.topic}\n")
        out.flush()
        _on_signals(stop)
        await asyncio.gather(*([bridge.run_flusher(stop)] if flusher else []), work(stop))
    finally:
        if feed is not None:
            await feed.stop()
        if runner is not None:
            await runner.cleanup()  # no more samples in...
        await bridge.close()  # ...then the last flush
    return 0


async def remote_write(
    bridge: Bridge, host: str, port: int, out: TextIO, definitions: Definitions | None = None
) -> int:
    async def idle(stop: asyncio.Event) -> None:
        await stop.wait()

    return await _run(bridge, (host, port), out, idle, definitions=definitions)


def query_selectors(slis: dict[str, CounterSli]) -> list[str]:
    """The distinct selector texts to ask Prometheus for (histogram buckets: every `le`)."""
    texts = {sel.text() for sli in slis.values() for _role, sel in sli.selectors()}
    return sorted(texts)


async def _read(session: aiohttp.ClientSession, url: str, query: str, at_s: float) -> list[dict[str, Any]]:
    async with session.get(f"{url}/api/v1/query", params={"query": query, "time": f"{at_s:.3f}"}) as response:
        doc = await response.json(content_type=None)
        if response.status != 200 or doc.get("status") != "success":
            raise Unavailable("Prometheus", f"{query}: HTTP {response.status}: {doc.get('error', '')}"[:500])
        if doc["data"]["resultType"] != "matrix":
            raise Unavailable("Prometheus", f"{query}: expected a matrix, got {doc['data']['resultType']}")
        result: list[dict[str, Any]] = doc["data"]["result"]
        return result


async def query_step(bridge: Bridge, session: aiohttp.ClientSession, url: str, range_s: int, at_s: float) -> int:
    """One step: every selector's raw samples of the last `range_s` seconds into the bridge."""
    refused = 0
    for text in query_selectors(bridge.ingest.slis):
        try:
            result = await _read(session, url, f"{text}[{range_s}s]", at_s)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, Unavailable) as exc:
            bridge.metrics.queries.labels("failed").inc()
            log.warning("query of %s failed (retried next step): %s", text, exc)
            continue
        bridge.metrics.queries.labels("ok").inc()
        for series in result:
            samples = [(float(v), round(float(ts) * 1000)) for ts, v in series["values"]]
            refused += bridge.add(sorted(series["metric"].items()), samples)
    return refused


async def query(
    bridge: Bridge,
    url: str,
    interval_s: float,
    listen: tuple[str, int] | None,
    out: TextIO,
    definitions: Definitions | None = None,
    timeout_s: float = 10.0,
) -> int:
    range_s = max(1, math.ceil(2 * interval_s))
    url = url.rstrip("/")

    async def poll(stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
            while not stop.is_set():
                refused = await query_step(bridge, session, url, range_s, time.time())
                if refused:
                    log.warning("%d samples from Prometheus are not counts (NaN, negative, fractional)", refused)
                await bridge.flush()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)

    return await _run(bridge, listen, out, poll, flusher=False, definitions=definitions)  # poll flushes


def make_bridge(
    slis: dict[str, CounterSli],
    bootstrap: str,
    topic: str,
    state_path: Path,
    flush_interval_s: float,
    following: bool = True,
) -> Bridge:
    if not slis and not following:
        raise UsageError("--topology", "no enabled SLO has an SLI in Prometheus counters (sli or sli_query)")
    return Bridge(slis, bootstrap, topic, state_path, flush_interval_s)
