"""The streaming commands: run, produce-demo, tail-status."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Awaitable
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer

from app.stream.broker import EmbeddedBroker, embedded_broker
from app.stream.demo import produce_demo
from app.stream.kafka_io import ensure_topics
from app.stream.settings import WorkerSettings
from app.stream.trim import trim_consumed
from app.stream.worker import Worker
from app.topology import Topology

log = logging.getLogger("app")


def status_line(event: dict[str, Any]) -> str:
    """One line per status event, or per alert event (ALERT FIRING / ALERT RESOLVED)."""
    if event.get("event_type") == "slo_alert":
        burn = "" if event["burn_rate_long"] is None else f" burn{event['long_window']}={event['burn_rate_long']:.2f}"
        return (
            f"{event['timestamp']}  {event['slo_id']:<28} ALERT {event['state'].upper():<8} "
            f"{event['rule']} ({event['severity']}){burn} since {event['started_at']}"
        )
    u = event["slo_status_update"]
    sli = "  n/a  " if u["current_sli"] is None else f"{u['current_sli']:.4f}"
    firing = ",".join(u.get("firing_alerts", [])) or "-"
    return (
        f"{event['timestamp']}  {u['slo_id']:<28} {u['status']:<9} sli={sli} "
        f"burn1h={u['burn_rate']:7.2f} budget={u['error_budget_remaining']:7.2%} "
        f"#{event['sequence']} {firing}"
    )


def _on_signals(stop: Any) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


def embedded_settings(broker: EmbeddedBroker, settings: WorkerSettings) -> WorkerSettings:
    """The settings raised to what the embedded broker accepts (noida-db refuses group
    sessions under 6 s)."""
    if settings.session_timeout_ms >= broker.min_session_timeout_ms:
        return settings
    log.info(
        "SLO_SESSION_TIMEOUT_MS=%d is below what %s accepts: using %d ms",
        settings.session_timeout_ms,
        broker.label,
        broker.min_session_timeout_ms,
    )
    return settings.model_copy(update={"session_timeout_ms": broker.min_session_timeout_ms})


async def run_worker(
    topology: Topology, settings: WorkerSettings, demo: bool, quiet: bool, out: TextIO = sys.stdout
) -> int:
    broker: EmbeddedBroker | None = None
    bootstrap = settings.bootstrap
    if bootstrap is None:
        broker = embedded_broker(settings.embedded_broker).start()
        bootstrap = broker.bootstrap
        out.write(
            f"embedded Kafka-compatible broker ({broker.label}) at {bootstrap}\n"
            f"  produce SLI events to topic {topology.topics.metrics!r}: "
            f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n"
        )
        out.flush()
        settings = embedded_settings(broker, settings)

    def show(event: dict[str, Any]) -> None:
        out.write(status_line(event) + "\n")
        out.flush()

    worker = Worker(bootstrap, topology, settings, on_status=None if quiet else show)
    extra: list[asyncio.Task[None]] = []
    try:
        if broker is not None:  # the topics with the configs that bound the broker's memory
            await ensure_topics(bootstrap, topology, broker.topic_configs)
        await worker.start()
        if broker is not None and broker.trims_consumed:
            extra.append(asyncio.create_task(trim_consumed(bootstrap, topology.name, topology.topics.metrics)))
        _on_signals(worker.stop)
        if settings.api_port:
            extra.append(asyncio.create_task(serve_api(worker, settings), name="api"))
        await worker.ready.wait()
        out.write(f"worker {settings.worker_id} ready: {len(worker.definitions)} SLOs\n")
        if settings.api_port:
            out.write(f"  API at http://{settings.api_host}:{settings.api_port} (OpenAPI: /docs, /openapi.json)\n")
        out.flush()
        if demo:
            extra.append(asyncio.create_task(produce_demo(bootstrap, topology.topics.metrics, topology.slos)))
        await worker.run_until_stopped()
    finally:
        for task in extra:
            task.cancel()
        await asyncio.gather(*extra, return_exceptions=True)
        if broker is not None:
            broker.stop()
    out.write(f"worker stopped: {dict(worker.stats)}\n")
    return 0


async def tail_status(bootstrap: str, topics: list[str], from_beginning: bool, as_json: bool, out: TextIO) -> int:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    stop = asyncio.Event()
    _on_signals(stop.set)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    out.write((r.value.decode() if as_json else status_line(json.loads(r.value))) + "\n")
            out.flush()
    finally:
        await consumer.stop()
    return 0


async def serve_api(worker: Worker, settings: WorkerSettings) -> None:
    """The HTTP API on the worker's own event loop."""
    import uvicorn

    from app.api.routes import create_app
    from app.stream.api_service import WorkerSloService

    app = create_app(WorkerSloService(worker), api_token=settings.api_token, metrics=worker.metrics.render)
    config = uvicorn.Config(
        app, host=settings.api_host, port=settings.api_port, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the worker owns signals
    await server.serve()


def run_async(coro: Awaitable[int]) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(coro)  # type: ignore[arg-type]
    return 130
