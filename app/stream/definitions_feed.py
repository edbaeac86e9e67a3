"""SLO definitions from the compacted definitions topic, read in full by every worker.

A plain consumer with no group reads the single partition from the beginning
to its true end before the worker starts, then tails it, so every worker holds
the same definitions (faust's GlobalTable diverged here with several writers).
Key = slo_id, value = the SLO as JSON, tombstone (null value) = delete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaProducer, TopicPartition

from app.definitions import parse_slo
from app.domain.models import SLO
from app.errors import InvalidDefinition
from app.stream.kafka_io import read_to_end
from app.stream.long_poll import LongPollConsumer

log = logging.getLogger(__name__)

OnChange = Callable[[str, SLO | None], None]


def _ignore(slo_id: str, slo: SLO | None) -> None:
    """No one listens yet (the worker sets its own callback before start)."""


def encode_slo(slo: SLO) -> bytes:
    return slo.model_dump_json().encode()


class DefinitionsFeed:
    def __init__(self, bootstrap: str, topic: str, on_change: OnChange | None = None) -> None:
        self.topic = topic
        self.tp = TopicPartition(topic, 0)
        self.on_change: OnChange = on_change or _ignore
        self.invalid = 0
        # Offset of the last record applied: a writer waits for its own record's offset,
        # whatever other writers of the same SLO did meanwhile.
        self.applied_offset = -1
        self.consumer = LongPollConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Returns once every definition written so far has been applied."""
        await self.consumer.start()
        for _tp, key, value in await read_to_end(self.consumer, [self.tp]):
            self._apply(key, value)
        self.applied_offset = await self.consumer.position(self.tp) - 1
        self._task = asyncio.create_task(self._tail(), name="definitions-tail")

    async def _tail(self) -> None:
        while True:
            batch = await self.consumer.getmany(self.tp, timeout_ms=500)
            for record in batch.get(self.tp, []):
                self._apply(record.key, record.value)
                self.applied_offset = record.offset

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            self.invalid += 1
            log.warning("definitions topic: record without a key ignored")
            return
        slo_id = key.decode(errors="replace")
        if value is None:
            self.on_change(slo_id, None)
            log.debug("definition %s deleted", slo_id)
            return
        try:
            slo = parse_slo(_json(value), "definition")
        except InvalidDefinition as exc:
            self.invalid += 1
            log.warning("definitions topic: invalid definition for %r ignored: %s", slo_id, exc)
            return
        if slo.slo_id != slo_id:
            self.invalid += 1
            log.warning("definitions topic: key %r does not match slo_id %r; ignored", slo_id, slo.slo_id)
            return
        self.on_change(slo_id, slo)
        log.debug("definition %s applied", slo_id)

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The tail task: the worker stops if it dies."""
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()


def _json(value: bytes) -> object:
    import json

    try:
        return json.loads(value)
    except ValueError as exc:
        raise InvalidDefinition("definition", f"not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidDefinition("definition", "JSON nested too deep") from exc


async def publish_definition(producer: AIOKafkaProducer, topic: str, slo: SLO) -> int:
    """Write a definition; returns its offset."""
    metadata = await producer.send_and_wait(topic, encode_slo(slo), key=slo.slo_id.encode())
    return int(metadata.offset)


async def delete_definition(producer: AIOKafkaProducer, topic: str, slo_id: str) -> int:
    """Write a tombstone; returns its offset."""
    metadata = await producer.send_and_wait(topic, None, key=slo_id.encode())
    return int(metadata.offset)
