"""The streaming commands: run, produce-demo, tail-status."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import stat
import sys
from collections.abc import Awaitable
from typing import Any, NoReturn, TextIO

from aiokafka import AIOKafkaConsumer

from app.stream.broker import EmbeddedBroker
from app.stream.demo import produce_demo
from app.stream.kafka_io import explain_start_error, muted
from app.stream.settings import WorkerSettings
from app.stream.worker import Worker
from app.topology import Topology

log = logging.getLogger("app")
FAST_SESSION_TIMEOUT_MS, FAST_HEARTBEAT_INTERVAL_MS = 2000, 200  # fast failover, where the broker allows it


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


async def run_worker(
    topology: Topology, settings: WorkerSettings, demo: bool, quiet: bool, out: TextIO = sys.stdout
) -> int:
    broker: EmbeddedBroker | None = None
    bootstrap = settings.bootstrap
    extra: list[asyncio.Task[None]] = []

    def show(event: dict[str, Any]) -> None:
        out.write(status_line(event) + "\n")
        out.flush()

    try:
        if bootstrap is None:
            broker = EmbeddedBroker().start()
            bootstrap = broker.bootstrap
            # The embedded broker allows short sessions: a join takes ~2 s instead of ~6 s.
            fast = {"session_timeout_ms": FAST_SESSION_TIMEOUT_MS, "heartbeat_interval_ms": FAST_HEARTBEAT_INTERVAL_MS}
            settings = settings.model_copy(update={k: v for k, v in fast.items() if k not in settings.model_fields_set})
            out.write(
                f"embedded Kafka-compatible broker (Tansu) at {bootstrap}\n"
                f"  produce SLI events to topic {topology.topics.metrics!r}: "
                f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n"
            )
            out.flush()
        worker = Worker(bootstrap, topology, settings, on_status=None if quiet else show)
        try:
            with muted("aiokafka.consumer.group_coordinator", "InvalidSessionTimeoutError"):
                await worker.start()
        except Exception as exc:
            await worker.close()
            _raise_explained(exc, bootstrap, settings)
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


class _PipeFlow(asyncio.Protocol):
    """Flow control of a pipe transport: writable while the pipe takes more."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = False

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:  # the reader went away (EPIPE)
        self.lost = True
        self.writable.set()


class LineOutput:
    """Text to `out` without ever blocking the event loop: on a pipe (`tail-status | ...`)
    writes go through an asyncio pipe transport, so a reader that stops reading never
    keeps SIGTERM from ending the command, and one that leaves ends it quietly."""

    def __init__(self, out: TextIO, stop: asyncio.Event) -> None:
        self.out = out
        self.stop = stop
        self.transport: asyncio.WriteTransport | None = None
        self.flow = _PipeFlow()

    async def open(self) -> LineOutput:
        try:
            fd = self.out.fileno()
            is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode)
        except (OSError, ValueError, io.UnsupportedOperation):  # not a file (StringIO): plain writes
            return self
        if is_pipe:
            self.out.flush()
            pipe = os.fdopen(os.dup(fd), "wb", buffering=0)
            self.transport, _ = await asyncio.get_running_loop().connect_write_pipe(lambda: self.flow, pipe)
        return self

    async def write(self, text: str) -> bool:
        """Write `text`; False once the command should end (stopped, or the reader left)."""
        if self.transport is None:
            self.out.write(text)
            self.out.flush()
            return not self.stop.is_set()
        if self.flow.lost:
            return False
        self.transport.write(text.encode())
        if not self.flow.writable.is_set():  # the pipe is full: wait for the reader, or SIGTERM
            stopping = asyncio.ensure_future(self.stop.wait())
            writable = asyncio.ensure_future(self.flow.writable.wait())
            await asyncio.wait([stopping, writable], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            writable.cancel()
        return not (self.stop.is_set() or self.flow.lost)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.stop.is_set():
                self.transport.abort()  # what the reader did not take is dropped
            else:
                self.transport.close()


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
    output = await LineOutput(out, stop).open()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            text = "".join(
                (r.value.decode() if as_json else status_line(json.loads(r.value))) + "\n"
                for records in batch.values()
                for r in records
            )
            if text and not await output.write(text):
                break
    finally:
        output.close()
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
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # the worker owns signals
    await server.serve()


def run_async(coro: Awaitable[int]) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(coro)  # type: ignore[arg-type]
    return 130
