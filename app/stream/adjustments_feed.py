"""Budget adjustments from their compacted topic, read in full by every worker.

The model is the definitions feed (app/stream/definitions_feed): a consumer with no
group reads the single partition from the beginning to its true end before the
worker starts, then tails it, so every worker holds the same adjustments.
Key = adjustment_id, value = the adjustment as JSON, tombstone (null value) = delete.
An invalid record is counted and logged once, never applied.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaProducer, TopicPartition

from app.core.adjustments import Adjustment
from app.definitions import parse_adjustment
from app.domain.adjustments import AdjustmentDefinition
from app.errors import InvalidDefinition
from app.stream.kafka_io import read_to_end
from app.stream.long_poll import LongPollConsumer

log = logging.getLogger(__name__)


class AdjustmentsFeed:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.tp = TopicPartition(topic, 0)
        self.adjustments: dict[str, AdjustmentDefinition] = {}
        self.invalid = 0
        self.applied_offset = -1  # offset of the last record applied (writers wait for theirs)
        self._core: list[Adjustment] | None = None
        self.on_change: Callable[[], None] = _ignore  # the worker rebuilds its objectives
        self.consumer = LongPollConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
        self._task: asyncio.Task[None] | None = None

    def core(self) -> list[Adjustment]:
        """Every adjustment, as the core's model (built once per change)."""
        if self._core is None:
            self._core = [a.to_core() for a in self.adjustments.values()]
        return self._core

    async def start(self) -> None:
        """Returns once every adjustment written so far has been applied."""
        await self.consumer.start()
        for _tp, key, value in await read_to_end(self.consumer, [self.tp]):
            self._apply(key, value)
        self.applied_offset = await self.consumer.position(self.tp) - 1
        self._task = asyncio.create_task(self._tail(), name="adjustments-tail")

    async def _tail(self) -> None:
        while True:
            batch = await self.consumer.getmany(self.tp, timeout_ms=500)
            for record in batch.get(self.tp, []):
                self._apply(record.key, record.value)
                self.applied_offset = record.offset

    def _changed(self) -> None:
        self._core = None
        self.on_change()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            self.invalid += 1
            log.warning("adjustments topic: record without a key ignored")
            return
        adjustment_id = key.decode(errors="replace")
        if value is None:
            if self.adjustments.pop(adjustment_id, None) is not None:
                self._changed()
            return
        try:
            adjustment = parse_adjustment(_json(value), "adjustment")
        except InvalidDefinition as exc:
            self.invalid += 1
            log.warning("adjustments topic: invalid adjustment %r ignored: %s", adjustment_id, exc)
            return
        if adjustment.adjustment_id != adjustment_id:
            self.invalid += 1
            log.warning(
                "adjustments topic: key %r is not adjustment_id %r; ignored", adjustment_id, adjustment.adjustment_id
            )
            return
        self.adjustments[adjustment_id] = adjustment
        self._changed()

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The tail task: the worker stops if it dies."""
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()


def _ignore() -> None:
    """No one listens yet (the worker sets its own callback before start)."""


def _json(value: bytes) -> object:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise InvalidDefinition("adjustment", f"not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidDefinition("adjustment", "JSON nested too deep") from exc


async def publish_adjustment(producer: AIOKafkaProducer, topic: str, adjustment: AdjustmentDefinition) -> int:
    """Write an adjustment; returns its offset."""
    value = adjustment.model_dump_json().encode()
    metadata = await producer.send_and_wait(topic, value, key=adjustment.adjustment_id.encode())
    return int(metadata.offset)


async def delete_adjustment(producer: AIOKafkaProducer, topic: str, adjustment_id: str) -> int:
    """Write a tombstone; returns its offset."""
    metadata = await producer.send_and_wait(topic, None, key=adjustment_id.encode())
    return int(metadata.offset)
