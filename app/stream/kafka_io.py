"""Kafka plumbing that works on real Kafka and on the embedded broker (Tansu).

Tansu answers ListOffsets(LATEST) with the last batch's base offset + 1, not
the high watermark, so nothing here trusts `end_offsets()` alone: the true end
of a partition is the high watermark of a fetch (docs/spike-faust-on-tansu.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from app.topology import Topology

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


def changelog_topic(topology: Topology) -> str:
    return f"{topology.name}-state-changelog"


def partition_for(key: bytes, n_partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as the Java and aiokafka producers use."""
    return (murmur2(key) & 0x7FFFFFFF) % n_partitions


async def ensure_topics(bootstrap: str, topology: Topology) -> None:
    """Create the topology's topics if absent (an existing topic is left as it is)."""
    t, n, rf = topology.topics, topology.partitions, topology.replication_factor
    compact = {"cleanup.policy": "compact"}
    wanted = [
        NewTopic(t.metrics, n, rf),
        NewTopic(t.status, n, rf),
        NewTopic(t.dead_letter, n, rf),
        NewTopic(t.definitions, 1, rf, topic_configs=compact),
        NewTopic(changelog_topic(topology), n, rf, topic_configs=compact),
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, *_ in response.topic_errors:
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    raise RuntimeError(f"creating topic {name}: Kafka error code {code}")
            log.info("created topics %s", ", ".join(topic.name for topic in missing))
    finally:
        await admin.close()


async def true_end_offset(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
    """The partition's high watermark, from a fetch (never ListOffsets alone)."""
    lower = (await consumer.end_offsets([tp]))[tp]  # <= the true end on Tansu
    if lower == 0:
        beginning = (await consumer.beginning_offsets([tp]))[tp]
        consumer.seek(tp, beginning)
    else:
        consumer.seek(tp, lower - 1)  # data is there, so the fetch answers at once
    await consumer.getmany(tp, timeout_ms=500)
    highwater = consumer.highwater(tp)
    return max(lower, highwater or 0)


async def read_to_end(
    consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]
) -> list[tuple[TopicPartition, bytes | None, bytes | None]]:
    """Every record of `tps` from the beginning to the true end: (tp, key, value).

    `consumer` must have no group; it is (re)assigned to `tps`."""
    consumer.assign(list(tps))
    ends = {tp: await true_end_offset(consumer, tp) for tp in tps}
    out: list[tuple[TopicPartition, bytes | None, bytes | None]] = []
    pending = {tp for tp, end in ends.items() if end > 0}
    for tp in tps:
        await consumer.seek_to_beginning(tp)
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=10_000)
        for tp, records in batch.items():
            out.extend((tp, r.key, r.value) for r in records)
            if records and records[-1].offset + 1 >= ends[tp]:
                pending.discard(tp)
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
    return out
