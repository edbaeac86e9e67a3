"""Producing records as one record batch per (topic, partition)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer

Sends = list[asyncio.Future[Any]]


class RecordBatches:
    """Records grouped by (topic, partition), sent as one record batch each: a few µs a
    record instead of ~12 µs for a producer.send() each, and each batch lands whole."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.builders: dict[tuple[str, int], Any] = {}
        self.full: list[tuple[str, int, Any]] = []

    def add(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        builder = self.builders.get((topic, partition))
        if builder is None:
            builder = self.builders[(topic, partition)] = self.producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:  # full: start another
            self.full.append((topic, partition, builder))
            builder = self.builders[(topic, partition)] = self.producer.create_batch()
            builder.append(key=key, value=value, timestamp=None)

    async def send(self) -> Sends:
        batches = self.full + [(t, p, b) for (t, p), b in self.builders.items()]
        self.full, self.builders = [], {}
        futures: Sends = []
        for topic, partition, builder in batches:
            if builder.record_count():
                futures.append(await self.producer.send_batch(builder, topic, partition=partition))
        return futures
