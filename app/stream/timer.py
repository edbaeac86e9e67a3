"""The worker's timer: every `timer_interval_s` each SLO is evaluated on the clock.

A status event is published when an SLO's status or alert conditions changed, so
an incident that slides out of its windows resolves alone; deleted or disabled
SLOs' open alerts end and deleted SLOs' state is purged; dedup ids past the
horizon are let go; closed months and quarters are reported (report_publisher).

The pass is cut into slices of at most TIMER_SLICE_S of evaluation, taking the
worker's lock per slice, so the poll loop never waits longer than a slice (plus
its sends) however many SLOs there are; a partition revoked between slices is
left to its new owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Protocol

from app.clock import Clock
from app.core.evaluation import SloEvaluation
from app.core.unit import status_key
from app.core.units import SloUnits
from app.domain.models import SLO
from app.stream.alert_outbox import AlertOutbox
from app.stream.metrics import WorkerMetrics
from app.stream.read_model import ReadModel
from app.stream.record_batches import RecordBatches
from app.stream.report_publisher import ReportPublisher
from app.stream.report_publisher import Worker as ReportsHost
from app.topology import Topology


class Worker(ReportsHost, Protocol):
    """What the timer needs of the worker (app/stream/worker.Worker), besides what reports need."""

    clock: Clock
    topology: Topology
    ticks: int
    retired: dict[str, SLO]
    deleted: set[str]
    read_model: ReadModel | None
    reports: ReportPublisher
    alerts: AlertOutbox
    metrics: WorkerMetrics

    @property
    def stopping(self) -> bool: ...

    def stage_status(
        self, out: RecordBatches, store: SloUnits, slo: SLO, now: int, report: SloEvaluation | None = None
    ) -> None: ...

    def resolve_open(self, out: RecordBatches, store: SloUnits, slo: SLO | None, slo_id: str, now: int) -> None: ...

log = logging.getLogger("app.stream.timer")

TIMER_SLICE_S = 0.005  # longest evaluation run of the timer under the lock (then the poll loop may run)


async def run(worker: Worker) -> None:
    """The timer task: a pass every `timer_interval_s` until the worker stops."""
    while not worker.stopping:
        await worker.clock.sleep(worker.topology.timer_interval_s)
        await tick(worker, worker.clock.now_us())
        worker.ticks += 1
        log.debug("timer tick %d done", worker.ticks)


async def tick(worker: Worker, now: int) -> None:
    """Re-evaluate every SLO at `now`; publish those whose status or rules changed."""
    started = time.perf_counter()
    longest = 0.0
    stores = worker.stores
    for partition in list(stores):
        pending = deque(stores[partition].units if partition in stores else ())
        first = True
        while pending or first:
            async with worker.lock:
                held = time.perf_counter()
                store = stores.get(partition)
                if store is None:
                    break
                if first:
                    store.expire(now)  # dedup ids past the horizon
                    first = False
                out, log_out = RecordBatches(worker.producer), RecordBatches(worker.producer)
                while pending and time.perf_counter() - held < TIMER_SLICE_S:
                    _tick_one(worker, out, log_out, store, partition, pending.popleft(), now)
                for key, value in store.drain_records():
                    log_out.add(worker.changelog, partition, key, value)
                await _send(worker, out, log_out)
                longest = max(longest, time.perf_counter() - held)
            await asyncio.sleep(0)  # let a waiting batch in between slices
    if worker.read_model is not None:
        worker.read_model.flush()  # hands the writes to its writer task: never waits on Redis
    await worker.reports.publish_due(worker, now)  # closed months and quarters, once (report_publisher)
    worker.metrics.timer_pass.set(time.perf_counter() - started)
    worker.metrics.timer_longest_hold.set(longest)


def _tick_one(
    worker: Worker, out: RecordBatches, log_out: RecordBatches, store: SloUnits, partition: int, slo_id: str, now: int
) -> None:
    runtime = store.get(slo_id)
    if runtime is None:
        return
    slo = worker.definitions.get(slo_id)
    if slo is None or not slo.enabled:
        if runtime.book.open:  # deleted or disabled: its open alerts end now
            worker.resolve_open(out, store, slo or worker.retired.get(slo_id), slo_id, now)
        if slo is None and slo_id in worker.deleted:
            # deleted (a tombstone, not a definition this version cannot read):
            # so is its state, and a new SLO of that id starts empty
            for key in store.purge(slo_id):
                log_out.add(worker.changelog, partition, key, None)
            worker.retired.pop(slo_id, None)
            if worker.read_model is not None:
                worker.read_model.forget(slo_id)
        return
    report = store.evaluate(worker.objectives[slo_id], now)
    if status_key(report) != runtime.last_status:
        worker.stage_status(out, store, slo, now, report)
    elif worker.read_model is not None:  # minutes and days closed: reports read the book's copy
        worker.read_model.stage_book(slo_id, runtime.state, runtime.report)


async def _send(worker: Worker, out: RecordBatches, log_out: RecordBatches) -> None:
    """Send a slice's output records, then its changelog's. When alert transitions are
    among them, the changelog waits for the alert events' acks: a book that says an
    episode is open is never written before the event that opened it (a crash in
    between publishes the event again, same id)."""
    sends = await out.send()
    if worker.alerts.take_staged():
        if sends:
            await asyncio.gather(*sends)
        sends = []
    sends.extend(await log_out.send())
    if sends:
        await asyncio.gather(*sends)
