"""Publish a file of SLI events to the metrics topic: backfills and replays into a
live system. Each line is checked as the worker would (a bad line is reported
with its reason and not sent) and keyed by its slo_id, so it lands on the
partition that owns the SLO. Old timestamps are fine within the SLO's period."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from app.domain.events import TimestampCache, decode_event
from app.errors import RejectedEvent

IN_FLIGHT = 5_000  # sends awaited together


@dataclass
class BackfillResult:
    sent: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, detail)


async def publish_events(bootstrap: str, topic: str, lines: Iterable[bytes]) -> BackfillResult:
    result = BackfillResult()
    stamps = TimestampCache()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        pending: list[asyncio.Future[Any]] = []
        for line_no, raw in enumerate(lines, start=1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                event = decode_event(raw, stamps)
            except RejectedEvent as exc:
                result.rejected.append((line_no, exc.reason, exc.detail))
                continue
            pending.append(await producer.send(topic, raw, key=event.slo_id.encode()))
            if len(pending) >= IN_FLIGHT:
                await asyncio.gather(*pending)
                result.sent += len(pending)
                pending = []
        await asyncio.gather(*pending)
        result.sent += len(pending)
    finally:
        await producer.stop()
    return result
