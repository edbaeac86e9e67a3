"""The streaming worker: metrics topic -> per-partition window state -> status and alert events.

One asyncio loop, four activities:
  * the poll loop: each batch of input records is decoded, applied to the
    partition's store, evaluated once per SLO touched (several events of one
    SLO in one batch give one status event; alert transitions give alert
    events, app/stream/alert_outbox), then its output and changelog records
    are sent (the changelog after the alert events' acks when there are any)
    and the next batch is fetched without waiting for their acks; every
    `commit_interval_ms` (and when the input is idle) the changelog records of
    the parts changed since are sent and, once everything is acknowledged, the
    input offsets are committed (at-least-once input, idempotent state: see
    app/core/changelog);
  * the timer: every `timer_interval_s` every SLO is re-evaluated on the wall
    clock and a status event is published when its status or alerts changed,
    so an incident that slides out of its windows resolves alone; it also ends
    the alerts of deleted or disabled SLOs and purges deleted ones' state;
  * the definitions feed (app/stream/definitions_feed);
  * closed monthly and quarterly reports: the timer's hook publishes the owned
    partitions' (app/stream/report_publisher), and the rollup aggregator
    publishes the service rollups this worker owns (app/stream/report_rollups);
  * the sink forwarders, if configured (app/sinks).
A rebalance is handled under the same lock as a batch: revoked partitions are
flushed and committed, assigned ones are rebuilt from the changelog first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from aiokafka import TopicPartition

from app.clock import Clock
from app.core.acceptance import FIELDS, definition_verdict, describe
from app.core.enums import RejectReason
from app.core.evaluation import Objective, SloEvaluation
from app.core.unit import status_key
from app.core.units import SloUnits
from app.domain.events import TimestampCache, decode_event, reject
from app.domain.messages import AlertEvent, StatusEvent
from app.domain.models import SLO
from app.domain.views import objective_of, status_event, with_adjustments
from app.errors import RejectedEvent
from app.stream import timer
from app.stream.adjustments_feed import AdjustmentsFeed, publish_adjustment
from app.stream.alert_outbox import AlertOutbox
from app.stream.commits import Commits
from app.stream.definitions_feed import DefinitionsFeed, publish_definition
from app.stream.kafka_io import (
    KeyPartitions,
    RebalanceHooks,
    changelog_topic,
    dead_letter_headers,
    ensure_topics,
    read_to_end,
)
from app.stream.metrics import WorkerMetrics
from app.stream.read_model import ReadModel
from app.stream.record_batches import RecordBatches
from app.stream.report_publisher import ReportPublisher
from app.stream.report_rollups import RollupAggregator
from app.stream.settings import WorkerSettings
from app.topology import Topology

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode

CLOSE_STEP_S = 5.0
StatusCallback = Callable[[StatusEvent | AlertEvent], None]  # called with each status and alert event


class Sinks(Protocol):
    """The delivery sinks the worker runs beside its own loops (app/sinks)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def tasks(self) -> list[asyncio.Task[None]]: ...


@dataclass(frozen=True, slots=True)
class WorkerParts:
    """What a worker is given: built by the composition root (app/compose), or by a test."""

    clock: Clock
    metrics: WorkerMetrics
    producer: Any
    consumer: Any
    reader: Any
    feed: DefinitionsFeed
    sinks: Sinks
    read_model: ReadModel | None
    adjustments: AdjustmentsFeed | None = None  # budget adjustments (None: a test's worker without them)


Sends = list[asyncio.Future[Any]]


class Worker:
    def __init__(
        self,
        bootstrap: str,
        topology: Topology,
        settings: WorkerSettings,
        parts: WorkerParts,
        on_status: StatusCallback | None = None,
    ) -> None:
        """A worker on the collaborators the composition root (app/compose) built."""
        self.clock: Clock = parts.clock
        self.ticks = 0  # timer passes completed (logged at DEBUG on app.stream.timer)
        self.bootstrap = bootstrap
        self.topology = topology
        self.settings = settings
        self.on_status = on_status
        self.topics = topology.topics
        self.changelog = changelog_topic(topology)
        self.max_skew_us = round(topology.max_skew_s * 1_000_000)
        self.dedup_horizon_us = round(topology.dedup_horizon_s * 1_000_000)
        self.definitions: dict[str, SLO] = {}
        self.objectives: dict[str, Objective] = {}  # the engine's view of each definition, built once
        self.retired: dict[str, SLO] = {}  # deleted definitions, until their state is purged
        self.deleted: set[str] = set()  # ids whose latest definition record is a tombstone
        self.stores: dict[int, SloUnits] = {}
        self.stats: Counter[str] = Counter()
        self.metrics = parts.metrics
        self.alerts = AlertOutbox(
            topology.topics.alerts,
            topology.sinks.kafka_alerts,
            self.metrics,
            self.stats,
            on_status,
            topology.partitions,
        )
        self.reports = ReportPublisher(topology.topics.reports, topology.report_delay_s)
        self.rollups = RollupAggregator(bootstrap, topology.topics.reports)
        self.ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._ts_cache = TimestampCache()
        self.n_partitions = topology.partitions
        # key -> partition of the metrics (owner), status and alerts topics
        self._owner_partition = self._status_partition = KeyPartitions(topology.partitions)
        self.read_model: ReadModel | None = parts.read_model
        self.sinks = parts.sinks  # Alertmanager / Pulsar forwarders: their own groups on the alerts topic
        self.producer, self.consumer, self.reader = parts.producer, parts.consumer, parts.reader
        self.feed = parts.feed
        self.feed.on_change = self._on_definition
        self.adjustments = parts.adjustments
        if self.adjustments is not None:
            self.adjustments.on_change = self._on_adjustments
        self._tasks: list[asyncio.Task[None]] = []
        self.commits = Commits(
            self.producer, self.consumer, self.changelog, settings.commit_interval_ms, self.stats
        )

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def lock(self) -> asyncio.Lock:
        """Held by a batch, a timer slice and a rebalance: the partitions' state is stable under it."""
        return self._lock

    def partition_of(self, key: str) -> int:
        """The metrics partition of a key: its owner's (slo_id, or a report rollup's key)."""
        return self._owner_partition[key.encode()]

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Kafka is required: an unreachable broker or a refused setting raises (see
        app/stream/kafka_io.explain_start_error). Redis is optional: one that does not
        answer is reported in one warning line and the worker starts without it."""
        await ensure_topics(self.bootstrap, self.topology, self.settings.kafka_start_timeout_ms)
        if self.read_model is not None:
            await self.read_model.start()
        await self.producer.start()
        for slo in self.topology.slos:  # the topology file is a source of definitions (GitOps)
            await publish_definition(self.producer, self.topics.definitions, slo)
        await self.feed.start()
        if self.adjustments is not None:
            for adjustment in self.topology.adjustments:  # a source of adjustments, like slos:
                await publish_adjustment(self.producer, self.topics.adjustments, adjustment)
            await self.adjustments.start()
        await self.reader.start()
        # The partition count the producer's partitioner really uses (the topic may
        # predate the topology): re-keying must agree with it or it would loop.
        self.n_partitions = len(await self.producer.partitions_for(self.topics.metrics))
        self._owner_partition = KeyPartitions(self.n_partitions)
        self._status_partition = KeyPartitions(len(await self.producer.partitions_for(self.topics.status)))
        self.alerts.partition_of = KeyPartitions(len(await self.producer.partitions_for(self.topics.alerts)))
        await self.rollups.start(self, len(await self.producer.partitions_for(self.topics.reports)))
        self.consumer.subscribe([self.topics.metrics], listener=RebalanceHooks(self.release, self.recover))
        await self.consumer.start()
        self._tasks = [
            asyncio.create_task(self._poll_loop(), name="poll"),
            asyncio.create_task(timer.run(self), name="timer"),
        ]
        await self.sinks.start()

    async def run_until_stopped(self) -> None:
        """Run until stop() (SIGTERM); a crashed poll loop, timer or sink forwarder stops
        the worker and its exception propagates (the process exits non-zero)."""
        stopping = asyncio.create_task(self._stopping.wait())
        watched = [*self._tasks, *self.sinks.tasks(), *([self.feed.task] if self.feed.task else [])]
        if self.adjustments is not None and self.adjustments.task is not None:
            watched.append(self.adjustments.task)
        watched.extend(self.rollups.tasks)
        if self.read_model is not None and self.read_model.task is not None:
            watched.append(self.read_model.task)
        await asyncio.wait([stopping, *watched], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in watched if t.done() and not t.cancelled() and t.exception()]
        stopping.cancel()
        await self.shutdown()
        if failed:
            raise failed[0].exception()  # type: ignore[misc]

    def stop(self) -> None:
        self._stopping.set()

    async def shutdown(self) -> None:
        """Finish the batch in flight, flush, commit, leave the group."""
        self._stopping.set()
        poll, timer = self._tasks or (None, None)
        if poll is not None:  # the loop ends after its batch in flight (getmany waits <= 200 ms)
            await asyncio.wait([poll], timeout=10)
            poll.cancel()
        async with self._lock:  # the timer is never cancelled in the middle of a tick
            if timer is not None:
                timer.cancel()
            await self.commits.write_changelog(self.stores.items())
            await self.producer.flush()
            await self.commits.commit()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sinks.stop()
        await self.consumer.stop()  # commits nothing itself; sends LeaveGroup
        await self.feed.stop()
        if self.adjustments is not None:
            await self.adjustments.stop()
        await self.rollups.stop()
        await self.reader.stop()
        await self.producer.stop()
        if self.read_model is not None:
            await self.read_model.stop()

    async def close(self) -> None:
        """After a failed start: close every client, started or not (each step bounded)."""
        self._stopping.set()
        steps = [self.sinks.stop, self.consumer.stop, self.feed.stop, self.rollups.stop, self.reader.stop]
        steps.append(self.producer.stop)
        if self.adjustments is not None:
            steps.append(self.adjustments.stop)
        if self.read_model is not None:
            steps.append(self.read_model.stop)
        for step in steps:
            try:
                await asyncio.wait_for(step(), CLOSE_STEP_S)
            except Exception as exc:  # already failing: the start's error is the one reported
                log.debug("closing after a failed start: %r", exc)

    # -- definitions -------------------------------------------------------------
    def _on_definition(self, slo_id: str, slo: SLO | None) -> None:
        old = self.definitions.pop(slo_id, None)
        if slo is None:
            self.deleted.add(slo_id)  # the next tick resolves its alerts and purges its state
            if old is not None:
                self.retired[slo_id] = old
        else:
            self.deleted.discard(slo_id)
            self.retired.pop(slo_id, None)
        if old is not None and (slo is None or slo.service_name != old.service_name):
            self.metrics.forget_slo(old)  # its series must not outlive it (or its old labels)
        if slo is not None:
            self.definitions[slo_id] = slo
            self.objectives[slo_id] = objective_of(slo, self.adjustments.core() if self.adjustments else ())
        else:
            self.objectives.pop(slo_id, None)

    def _on_adjustments(self) -> None:
        """An adjustment changed: every objective takes the ones that apply to it (evaluations
        from now on exclude their ranges, past events included: app/core/adjusted)."""
        adjustments = self.adjustments.core() if self.adjustments else []
        for slo_id, slo in self.definitions.items():
            objective = self.objectives.get(slo_id)
            if objective is not None:  # only the SLOs whose adjustments changed get a new objective
                self.objectives[slo_id] = with_adjustments(objective, slo, adjustments)

    # -- rebalance ---------------------------------------------------------------
    async def release(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            await self.commits.write_changelog(self.stores.items())
            await self.producer.flush()
            await self.commits.commit()  # what was processed here is not replayed by the next owner
            for tp in revoked:
                self.reports.forget(tp.partition)
                store = self.stores.pop(tp.partition, None)
                for slo_id in store.units if store else ():
                    if slo_id in self.definitions:  # the new owner exports this SLO now
                        self.metrics.forget_slo(self.definitions[slo_id])
        self.ready.clear()
        log.info("released partitions %s", sorted(tp.partition for tp in revoked))

    async def recover(self, assigned: list[TopicPartition]) -> None:
        started = time.perf_counter()
        async with self._lock:
            tps = [TopicPartition(self.changelog, tp.partition) for tp in assigned if tp.partition not in self.stores]
            records = await read_to_end(self.reader, tps) if tps else []
            self.reader.pause(*self.reader.assignment())  # no idle fetching until the next recovery
            by_partition: dict[int, list[tuple[bytes, bytes | None]]] = {tp.partition: [] for tp in tps}
            for tp, key, value in records:
                if key is not None:
                    by_partition[tp.partition].append((key, value))
            now = self.clock.now_us()
            marks = RecordBatches(self.producer)
            for partition, recs in by_partition.items():
                recs, mark = self.reports.take_mark(partition, recs, now)
                if mark is not None:  # a new partition: the periods closed so far count as published
                    marks.add(self.changelog, partition, *mark)
                self.stores[partition] = SloUnits.recover(
                    self.objectives, recs, now, self.max_skew_us, self.dedup_horizon_us
                )
            self.commits.processed({}, await marks.send())
        self.rollups.wake()  # keys this worker owns now may have rollups to publish
        elapsed = time.perf_counter() - started
        self.stats["recoveries"] += 1
        self.metrics.recovery.set(elapsed)
        self.metrics.partitions.set(len(self.stores))
        self.last_recovery_s = elapsed
        self.ready.set()
        log.info(
            "assigned partitions %s: %d changelog records recovered in %.3fs",
            sorted(tp.partition for tp in assigned),
            len(records),
            elapsed,
        )

    # -- the poll loop -------------------------------------------------------------
    async def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            batch = await self.consumer.getmany(timeout_ms=200, max_records=self.settings.max_batch)
            if batch:
                async with self._lock:
                    await self.process(batch)
            if self.commits.due(idle=not batch):  # app/stream/commits
                async with self._lock:
                    await self.commits.write_changelog(self.stores.items())
                await self.commits.commit()

    async def process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        now = self.clock.now_us()
        sends: Sends = []
        out = RecordBatches(self.producer)
        touched: dict[int, set[str]] = {}
        commits: dict[TopicPartition, int] = {}
        oldest_ms = now // 1000
        n_in = n_accepted = 0
        for tp, records in batch.items():
            store = self.stores.get(tp.partition)
            if store is None:
                continue  # revoked while this batch was fetched: its new owner reprocesses it
            seen = touched.setdefault(tp.partition, set())
            for record in records:
                slo_id = await self._handle(store, tp, record, now, sends)
                if slo_id is not None:
                    seen.add(slo_id)
                    n_accepted += 1
            n_in += len(records)
            commits[tp] = records[-1].offset + 1
            oldest_ms = min(oldest_ms, records[0].timestamp)
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                self.metrics.lag.labels(str(tp.partition)).set(highwater - commits[tp])
        self._count("events_in", self.metrics.events_in, n_in)
        self._count("accepted", self.metrics.accepted, n_accepted)
        for partition, slo_ids in touched.items():
            store = self.stores[partition]
            for slo_id in slo_ids:
                slo = self.definitions.get(slo_id)
                if slo is not None:
                    self.stage_status(out, store, slo, now)
        if self.commits.meta_acks:  # normally long acknowledged (app/stream/commits)
            await asyncio.gather(*self.commits.meta_acks)
        sends.extend(await out.send())
        if self.alerts.take_staged() and sends:
            await asyncio.gather(*sends)  # see Commits.write_changelog
            sends = []
        meta = RecordBatches(self.producer)  # sequences and alert books: every batch (see drain_meta)
        for partition in touched:
            for key, value in self.stores[partition].drain_meta():
                meta.add(self.changelog, partition, key, value)
        self.commits.meta_acks = await meta.send()  # the next batch's statuses wait for these
        sends.extend(self.commits.meta_acks)
        if self.read_model is not None:
            self.read_model.flush()  # hands the writes to its writer task: never waits on Redis
        if touched:
            self.metrics.latency.observe(max(0.0, (self.clock.now_us() // 1000 - oldest_ms) / 1000))
        self.commits.processed(commits, sends)

    def _count(self, name: str, counter: Any, n: int) -> None:
        if n:
            self.stats[name] += n
            counter.inc(n)

    async def _handle(
        self,
        store: SloUnits,
        tp: TopicPartition,
        record: Any,
        now: int,
        sends: Sends,
    ) -> str | None:
        """Apply one input record; returns the slo_id it counted for, else None."""
        raw = record.value
        try:
            if raw is None:
                raise reject(RejectReason.INVALID_JSON, "message has no value")
            event = decode_event(raw, self._ts_cache)
            objective = self.objectives.get(event.slo_id)
            verdict = definition_verdict(objective is not None, objective is not None and objective.enabled)
            if verdict is None:
                key = event.slo_id.encode()
                if record.key != key or self._owner_partition[key] != tp.partition:
                    # Unkeyed or wrongly keyed: publish again under its slo_id, to the
                    # partition that owns the SLO's state; this copy is not counted.
                    sends.append(await self.producer.send(self.topics.metrics, raw, key=key))
                    self._count("repartitioned", self.metrics.repartitioned, 1)
                    return None
                verdict = store.offer(objective, event, now, record.offset)
            if verdict is not None:
                detail = describe(verdict, event.slo_id, event.event_id)
                raise reject(verdict, detail, FIELDS[verdict])
        except RejectedEvent as exc:
            sends.append(await self._dead_letter(tp, record, exc))
            return None
        return event.slo_id  # counted as accepted by the caller, once per batch

    async def _dead_letter(self, tp: TopicPartition, record: Any, exc: RejectedEvent) -> asyncio.Future[Any]:
        self.stats[f"rejected:{exc.reason}"] += 1
        self.metrics.rejected.labels(exc.reason).inc()
        headers = dead_letter_headers(tp, record.offset, exc.reason, exc.detail, exc.field)
        future: asyncio.Future[Any] = await self.producer.send(
            self.topics.dead_letter, record.value, key=record.key, headers=headers
        )
        return future

    def stage_status(
        self, out: RecordBatches, store: SloUnits, slo: SLO, now: int, report: SloEvaluation | None = None
    ) -> None:
        """Queue an SLO's status event (sent with the batch's other records); evaluates it
        unless the caller already did."""
        report = report or store.evaluate(self.objectives[slo.slo_id], now)
        runtime = store.units[slo.slo_id]
        seq = runtime.seq + 1
        event = status_event(slo, report, seq, now)
        transitions = store.step_report(slo.slo_id, report)
        store.mark_published(slo.slo_id, seq, status_key(report))
        self._count("status_out", self.metrics.status_out, 1)
        self.metrics.observe_slo(slo, report)
        if self.read_model is not None:
            self.read_model.stage(slo, report, runtime.state, list(runtime.changed_parts()), runtime.report)
        if self.on_status is not None:
            self.on_status(event)
        key = slo.slo_id.encode()
        out.add(self.topics.status, self._status_partition[key], key, _encode(event))
        self.alerts.publish(out, store, slo.slo_id, slo, report, transitions)

    def resolve_open(self, out: RecordBatches, store: SloUnits, slo: SLO | None, slo_id: str, now: int) -> None:
        """End a deleted or disabled SLO's open episodes. Without its definition (deleted
        before this worker started) the resolved events repeat their firing events'
        figures; their identity is the firing one's either way."""
        report = store.evaluate(objective_of(slo), now) if slo is not None else None
        self.alerts.publish(out, store, slo_id, slo, report, store.retire_alerts(slo_id, now))

    # -- the timer (app/stream/timer) -----------------------------------------------------
    async def tick(self, now: int) -> None:
        """One timer pass at `now` (app/stream/timer.tick)."""
        await timer.tick(self, now)
