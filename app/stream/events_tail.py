"""Every partition of the status and alerts topics, read for the live event streams.

Its own consumer, no group: any worker sees every SLO's events, whichever worker
published them. Only what comes after the ends seen at start is streamed; before them,
the alerts topic is read from its beginning (each SLO's alert timeline) and the status
topic's last STATUS_LOOKBACK records of each partition (each SLO's latest figures). A record that does not
decode is counted and logged once per topic, never fatal; a broker that goes away
makes the consumer retry on its own (the worker's own clients say more).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal

import msgspec
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from app.domain.messages import OUTPUT_DECODER, AlertEvent, StatusEvent
from app.stream.kafka_io import true_end_offsets
from app.stream.long_poll import LongPollConsumer

log = logging.getLogger(__name__)

Kind = Literal["s", "a"]
RETRY_S = 1.0  # between fetches that failed
STATUS_LOOKBACK = 1000  # status records read per partition before the end (not streamed)
# (kind, partition, offset, event, its JSON, live): live=False for the alerts read before the start
OnRecord = Callable[[Kind, int, int, StatusEvent | AlertEvent, bytes, bool], None]
OnStart = Callable[[dict[tuple[str, int], int]], None]


class EventsTail:
    def __init__(self, bootstrap: str, status_topic: str, alerts_topic: str, on_record: OnRecord, on_start: OnStart):
        self.status_topic, self.alerts_topic = status_topic, alerts_topic
        self.on_record, self.on_start = on_record, on_start
        # A short fetch wait: this consumer's record reach the page within a second on Tansu,
        # which waits the full fetch_max_wait_ms even when data is there.
        self.consumer = LongPollConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100, client_id="events-tail"
        )
        self.undecodable = 0
        self.fetch_failures = 0
        self._warned: set[str] = set()
        self._live_from: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        tps: list[TopicPartition] = []
        for topic in (self.status_topic, self.alerts_topic):
            partitions = self.consumer.partitions_for_topic(topic) or await self._partitions(topic)
            tps.extend(TopicPartition(topic, p) for p in sorted(partitions))
        ends = await true_end_offsets(self.consumer, tps)
        self._live_from = dict(ends)
        # the alerts from the beginning; the status topic's last records: each SLO's latest figures
        for tp, first in (await self.consumer.beginning_offsets(tps)).items():
            lookback = STATUS_LOOKBACK if tp.topic == self.status_topic else ends[tp]
            self.consumer.seek(tp, max(first, ends[tp] - lookback))
        self.on_start({(self._kind(tp), tp.partition): offset for tp, offset in ends.items()})
        self._task = asyncio.create_task(self._run(), name="events-tail")
        self._task.add_done_callback(_report_end)

    async def _partitions(self, topic: str) -> set[int]:
        await self.consumer._client.force_metadata_update()  # topics created a moment ago
        return self.consumer.partitions_for_topic(topic) or {0}

    def _kind(self, tp: TopicPartition) -> Kind:
        return "s" if tp.topic == self.status_topic else "a"

    async def _run(self) -> None:
        while True:
            try:
                batch = await self.consumer.getmany(timeout_ms=1000, max_records=5000)
            except KafkaError as exc:  # the broker away: the worker's own clients say more
                self.fetch_failures += 1
                log.warning("events stream: fetch failed, retrying in %.0f s: %s", RETRY_S, exc)
                await asyncio.sleep(RETRY_S)
                continue
            for tp, records in batch.items():
                kind = self._kind(tp)
                live_from = self._live_from.get(tp, 0)
                for record in records:
                    self._handle(kind, tp, record.offset, record.value, record.offset >= live_from)

    def _handle(self, kind: Kind, tp: TopicPartition, offset: int, value: bytes | None, live: bool) -> None:
        if value is None:
            return
        try:
            event = OUTPUT_DECODER.decode(value)
        except msgspec.DecodeError as exc:
            self.undecodable += 1
            if tp.topic not in self._warned:
                self._warned.add(tp.topic)
                log.warning(
                    "events stream: %s[%d]@%d is not a status or alert event: %s", tp.topic, tp.partition, offset, exc
                )
            return
        self.on_record(kind, tp.partition, offset, event, value, live)

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()


def _report_end(task: asyncio.Task[None]) -> None:
    """A tail that ended other than by stop() (a bug): the streams are silent from then on, said once."""
    if not task.cancelled() and task.exception() is not None:
        log.error("events stream stopped: no more live events", exc_info=task.exception())
