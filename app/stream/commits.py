"""What a worker has processed but not committed: input offsets, sends in flight.

Batches are not held back for their acks nor for a commit round trip. The
worker records each batch's input offsets and sends here; every
`commit_interval_ms` (and when the input is idle) it writes the changelog parts
changed since the last commit (once each, however many batches changed them),
then `commit()` waits for every send so far and commits the offsets. A replay
of what was processed but not committed is idempotent (the changelog's offsets
guard the state), so a longer interval costs only a longer replay.

META records (sequences, alert books) go out with every batch, and a batch's
status events wait for the previous batch's META acks (`meta_acks`): after a
crash a replacement can repeat the sequences of the batch in flight, never go
back below one already published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from app.core.units import SloUnits
from app.stream.record_batches import RecordBatches

log = logging.getLogger("app.stream.worker")

Sends = list[asyncio.Future[Any]]


class Commits:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        consumer: AIOKafkaConsumer,
        changelog: str,
        interval_ms: int,
        stats: Counter[str],
    ) -> None:
        self.producer, self.consumer, self.changelog = producer, consumer, changelog
        self.interval_s = interval_ms / 1000
        self.stats = stats
        self.uncommitted: dict[TopicPartition, int] = {}  # processed input, not yet committed
        self.inflight: Sends = []  # sends of those batches, not yet known to be acknowledged
        self.meta_acks: Sends = []  # the last batch's META records (sequences)
        self.committed_at = time.monotonic()

    def processed(self, offsets: dict[TopicPartition, int], sends: Sends) -> None:
        """A batch is done: its next input offsets and its sends in flight."""
        self.uncommitted.update(offsets)
        self.inflight.extend(sends)

    def due(self, idle: bool) -> bool:
        """Whether to write the changelog and commit now: something to commit, and the
        interval passed or the input is idle."""
        return bool(self.uncommitted) and (idle or time.monotonic() - self.committed_at >= self.interval_s)

    async def write_changelog(self, stores: Iterable[tuple[int, SloUnits]]) -> None:
        """Send the changelog records of every part changed since the last call (the
        worker's lock held). Every alert event among the batches' output is acknowledged
        by now (a batch with alert transitions waits for its acks), so a book that says an
        episode is open is never written before the event that opened it."""
        log_out = RecordBatches(self.producer)
        for partition, store in stores:
            for key, value in store.drain_records():
                log_out.add(self.changelog, partition, key, value)
        self.inflight.extend(await log_out.send())

    async def commit(self) -> None:
        """Commit the input offsets processed so far, once everything sent is acknowledged."""
        commits, self.uncommitted = self.uncommitted, {}
        inflight, self.inflight = self.inflight, []
        self.committed_at = time.monotonic()
        if inflight:
            await asyncio.gather(*inflight)  # a failed send fails the loop, as it did the batch
        if not commits:
            return
        try:
            await self.consumer.commit(commits)
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions: the new owner replays from the last
            # commit and the changelog's offsets keep that replay from double-counting.
            self.stats["commit_failures"] += 1
            log.warning("commit failed (%s); the next owner replays these offsets", exc)
