"""Deleting the input the worker has committed, on an embedded broker that keeps
everything it holds in memory (noida-db: app/stream/broker.py).

Retention by time or size could delete input the worker has not processed yet
(a backlog after a burst); this deletes only what the group committed, so the
metrics topic holds the backlog and nothing more. Runs beside the worker; a failed
round is logged and retried at the next, and never holds up the event path.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)


async def trim_once(
    admin: AIOKafkaAdminClient, group_id: str, topic: str, trimmed: dict[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Delete the records of `topic` before `group_id`'s committed offsets, where they
    moved since the last round (`trimmed`, updated). Returns what this round deleted up to."""
    committed = await admin.list_consumer_group_offsets(group_id)
    due = {
        tp: RecordsToDelete(meta.offset)
        for tp, meta in committed.items()
        if tp.topic == topic and meta.offset > trimmed.get(tp, 0)
    }
    if not due:
        return {}
    low_watermarks: dict[TopicPartition, int] = await admin.delete_records(due)
    trimmed.update(low_watermarks)
    return low_watermarks


async def trim_consumed(bootstrap: str, group_id: str, topic: str, interval_s: float = 1.0) -> None:
    """Every `interval_s`, delete what `group_id` committed on `topic`; until cancelled."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    trimmed: dict[TopicPartition, int] = {}
    failing = started = False
    try:
        while True:
            try:
                if not started:
                    await admin.start()
                    started = True
                await trim_once(admin, group_id, topic, trimmed)
                if failing:
                    log.warning("deleting committed input of %s works again", topic)
                failing = False
            except KafkaError as exc:
                if not failing:  # one line per outage, not one per second
                    log.warning("deleting committed input of %s failed (retrying each %ss): %r", topic, interval_s, exc)
                failing = True
            await asyncio.sleep(interval_s)
    finally:
        await admin.close()
