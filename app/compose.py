"""The composition root: every collaborator of a worker built from settings, and the
`run` command's lifecycle (embedded broker, worker, API, signals).

This is the one module that knows every adapter: the worker receives what it
needs (clock, Kafka clients, definitions feed, sinks, read model, metrics);
tests build the same worker here with a ManualClock (tests/stream/inprocess.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any, NoReturn, TextIO

from app.api.hub import ALERT_EVENT, STATUS_EVENT, EventHub
from app.clock import Clock, SystemClock
from app.domain.messages import AlertEvent, StatusEvent
from app.sinks.wiring import build_sinks
from app.stream.adjustments_feed import AdjustmentsFeed
from app.stream.broker import EmbeddedBroker, embedded_broker
from app.stream.commands import FAST_HEARTBEAT_INTERVAL_MS, FAST_SESSION_TIMEOUT_MS, status_line
from app.stream.definitions_feed import DefinitionsFeed
from app.stream.demo import produce_demo
from app.stream.events_tail import EventsTail, Kind, OnRecord
from app.stream.kafka_io import ensure_topics, explain_start_error, muted, worker_clients
from app.stream.metrics import WorkerMetrics
from app.stream.read_model import ReadModel
from app.stream.settings import WorkerSettings
from app.stream.trim import trim_consumed
from app.stream.worker import StatusCallback, Worker, WorkerParts
from app.topology import Topology

log = logging.getLogger(__name__)


def build_worker(
    bootstrap: str,
    topology: Topology,
    settings: WorkerSettings,
    *,
    clock: Clock | None = None,
    on_status: StatusCallback | None = None,
) -> Worker:
    """A worker and everything it uses. The optional parts come first, so that a missing
    extra (MissingExtra) is reported before any client exists."""
    metrics = WorkerMetrics()
    read_model = None
    if settings.redis_url:
        read_model = ReadModel(
            settings.redis_url,
            prefix=f"{topology.name}:",
            up=metrics.read_model_up,
            failures=metrics.read_model_failures,
            pending=metrics.read_model_pending,
        )
    sinks = build_sinks(topology, bootstrap, metrics, settings)
    producer, consumer, reader = worker_clients(bootstrap, topology.name, settings)
    parts = WorkerParts(
        clock=clock or SystemClock(),
        metrics=metrics,
        producer=producer,
        consumer=consumer,
        reader=reader,
        feed=DefinitionsFeed(bootstrap, topology.topics.definitions),
        adjustments=AdjustmentsFeed(bootstrap, topology.topics.adjustments),
        sinks=sinks,
        read_model=read_model,
    )
    return Worker(bootstrap, topology, settings, parts, on_status=on_status)


def embedded_settings(broker: EmbeddedBroker, settings: WorkerSettings) -> WorkerSettings:
    """The embedded broker's session settings: short sessions where it allows them (a join
    takes ~2 s instead of ~6 s), unless set; never below what it accepts (noida-db refuses
    group sessions under 6 s)."""
    fast = {"session_timeout_ms": FAST_SESSION_TIMEOUT_MS, "heartbeat_interval_ms": FAST_HEARTBEAT_INTERVAL_MS}
    settings = settings.model_copy(update={k: v for k, v in fast.items() if k not in settings.model_fields_set})
    if settings.session_timeout_ms >= broker.min_session_timeout_ms:
        return settings
    log.info(
        "SLO_SESSION_TIMEOUT_MS=%d is below what %s accepts: using %d ms",
        settings.session_timeout_ms,
        broker.label,
        broker.min_session_timeout_ms,
    )
    return settings.model_copy(update={"session_timeout_ms": broker.min_session_timeout_ms})


def _on_signals(stop: Any) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


async def run_worker(
    topology: Topology, settings: WorkerSettings, demo: bool, quiet: bool, out: TextIO = sys.stdout
) -> int:
    broker: EmbeddedBroker | None = None
    bootstrap = settings.bootstrap
    extra: list[asyncio.Task[None]] = []

    def show(event: StatusEvent | AlertEvent) -> None:
        out.write(status_line(event) + "\n")
        out.flush()

    try:
        if bootstrap is None:
            broker = embedded_broker(settings.embedded_broker).start()
            bootstrap = broker.bootstrap
            settings = embedded_settings(broker, settings)
            out.write(
                f"embedded Kafka-compatible broker ({broker.label}) at {bootstrap}\n"
                f"  produce SLI events to topic {topology.topics.metrics!r}: "
                f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n"
            )
            out.flush()
            # the topics with the configs that bound the broker's memory
            await ensure_topics(bootstrap, topology, settings.kafka_start_timeout_ms, broker.topic_configs)
        worker = build_worker(bootstrap, topology, settings, on_status=None if quiet else show)
        try:
            with muted("aiokafka.consumer.group_coordinator", "InvalidSessionTimeoutError"):
                await worker.start()
        except Exception as exc:
            await worker.close()
            _raise_explained(exc, bootstrap, settings)
        if broker is not None and broker.trims_consumed:
            extra.append(asyncio.create_task(trim_consumed(bootstrap, topology.name, topology.topics.metrics)))
        _on_signals(worker.stop)
        if settings.api_port:
            extra.append(asyncio.create_task(serve_api(worker, settings), name="api"))
        running = asyncio.create_task(worker.run_until_stopped(), name="worker")
        ready = asyncio.create_task(worker.ready.wait())
        await asyncio.wait([running, ready], return_when=asyncio.FIRST_COMPLETED)  # SIGTERM may come first
        ready.cancel()
        if worker.ready.is_set():
            out.write(f"worker {settings.worker_id} ready: {len(worker.definitions)} SLOs\n")
            if settings.api_port:
                out.write(f"  API at http://{settings.api_host}:{settings.api_port} (OpenAPI: /docs, /openapi.json)\n")
            out.flush()
            if demo:
                extra.append(asyncio.create_task(produce_demo(bootstrap, topology.topics.metrics, topology.slos)))
        try:
            await running
        except Exception as exc:
            _raise_explained(exc, bootstrap, settings)
    finally:
        for task in extra:
            task.cancel()
        await asyncio.gather(*extra, return_exceptions=True)
        if broker is not None:
            broker.stop()
    out.write(f"worker stopped: {dict(worker.stats)}\n")
    return 0


def _raise_explained(exc: Exception, bootstrap: str, settings: WorkerSettings) -> NoReturn:
    """Re-raise a Kafka failure as the one-line error the CLI prints (exit 2); anything
    else as it is (a bug: its traceback is wanted)."""
    explained = explain_start_error(exc, bootstrap, settings)
    if explained is None or explained is exc:
        raise exc
    raise explained from exc


async def serve_api(worker: Worker, settings: WorkerSettings) -> None:
    """The HTTP API, event streams, GraphQL and web UI on the worker's own event loop."""
    import uvicorn

    from app.api.hub import EventHub
    from app.api.web import Limits, create_web_app
    from app.stream.api_service import WorkerSloService

    hub = EventHub(settings.events_buffer)
    tail = EventsTail(
        worker.bootstrap, worker.topics.status, worker.topics.alerts, hub_feed(hub), on_start=hub.start_at
    )
    app = create_web_app(
        WorkerSloService(worker),
        hub,
        api_token=settings.api_token,
        metrics=worker.metrics.render,
        limits=Limits(settings.rate_limit_per_s, settings.rate_limit_burst),
    )
    config = uvicorn.Config(
        app, host=settings.api_host, port=settings.api_port, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # the worker owns signals
    try:
        await tail.start()  # before serving: a stream opened once /readyz answers misses nothing
        await server.serve()
    finally:
        await tail.stop()


def hub_feed(hub: EventHub) -> OnRecord:
    """The tail's records into the hub: live ones streamed, earlier ones remembered."""

    def on_record(
        kind: Kind, partition: int, offset: int, event: StatusEvent | AlertEvent, data: bytes, live: bool
    ) -> None:
        if isinstance(event, StatusEvent):
            update = event.slo_status_update
            slo_id, service, event_type = update.slo_id, update.service_name, STATUS_EVENT
        else:
            slo_id, service, event_type = event.slo_id, event.service_name, ALERT_EVENT
        if live:
            hub.publish(kind, partition, offset, event_type, slo_id, service, data)
        elif event_type == ALERT_EVENT:
            hub.remember_alert(slo_id, data)
        else:
            hub.remember_status(slo_id, data)

    return on_record
