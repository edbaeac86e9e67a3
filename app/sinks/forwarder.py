"""A forwarder: Kafka topics -> one sink, committing only what the sink took.

The alerts (and status) topics are the durable outbox. A forwarder reads them
in its own consumer group, has the sink `prepare` each batch once (decode;
records it cannot use are counted and left out), then `deliver` it, and commits
after that returns. A failed delivery is retried, the same batch, with doubling backoff
until it succeeds or the worker stops; nothing is committed meanwhile, so a
sink that is down stalls only its forwarder (never the SLO pipeline) and loses
nothing: delivery resumes where it stopped. Delivery is at-least-once; every
event carries an id to drop duplicates by (Alertmanager dedupes by labels).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka.errors import CommitFailedError, KafkaError

from app.errors import DeliveryFailed
from app.sinks.backoff import Backoff
from app.stream.kafka_io import OnPartitions, RebalanceHooks
from app.stream.long_poll import LongPollConsumer
from app.stream.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class Sink(Protocol):
    def prepare(self, records: Sequence[Any]) -> Any:
        """Once per batch: what `deliver` sends (skipping and counting unusable records)."""
        ...

    async def deliver(self, prepared: Any) -> None:
        """Send a prepared batch; DeliveryFailed if the sink did not take it (it is retried)."""
        ...


class Forwarder:
    def __init__(
        self,
        sink: str,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        target: Sink,
        backoff: Backoff,
        metrics: WorkerMetrics,
        *,
        client_id: str,
        fetch_max_wait_ms: int = 5,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        on_assign: OnPartitions | None = None,
        on_revoke: OnPartitions | None = None,
    ) -> None:
        self.sink = sink
        self.topics = list(topics)
        self.target = target
        self.backoff = backoff
        self.delivered = metrics.sink_delivered.labels(sink)
        self.failures = metrics.sink_failures.labels(sink)
        self.up = metrics.sink_up.labels(sink)
        self.listener = RebalanceHooks(on_revoke, on_assign)
        self.consumer = LongPollConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a new sink starts from the outbox's beginning
            fetch_max_wait_ms=fetch_max_wait_ms,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            rebalance_timeout_ms=max(session_timeout_ms, 3000),
            # A delivery retried for long is not a hung member: keep the partitions.
            max_poll_interval_ms=24 * 3600 * 1000,
        )
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer.subscribe(self.topics, listener=self.listener)
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"sink-{self.sink}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=5)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            batch = await self.consumer.getmany(timeout_ms=200, max_records=500)
            if not batch:
                continue
            records = [r for tp in sorted(batch, key=lambda t: (t.topic, t.partition)) for r in batch[tp]]
            if not await self._deliver_with_retry(records):
                return  # stopping: nothing committed, the next owner delivers again
            try:
                await self.consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batch.items()})
            except (CommitFailedError, KafkaError) as exc:
                log.warning("%s: commit failed (%s); the partitions' next owner delivers again", self.sink, exc)

    async def _deliver_with_retry(self, records: Sequence[Any]) -> bool:
        prepared = self.target.prepare(records)
        while True:
            try:
                await self.target.deliver(prepared)
            except DeliveryFailed as exc:
                self.failures.inc()
                self.up.set(0)
                delay_s = self.backoff.next_delay_s()
                log.warning("%s (attempt %d); retrying in %.1fs", exc, self.backoff.failures, delay_s)
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay_s)
                    return False
                except TimeoutError:
                    continue
            self.backoff.reset()
            self.delivered.inc(len(records))
            self.up.set(1)
            return True
