"""Kafka plumbing that works on real Kafka and on the embedded brokers (noida-db, Tansu).

Tansu answers ListOffsets(LATEST) with the last batch's base offset + 1, not
the high watermark, so nothing here trusts `end_offsets()` alone: the true end
of a partition is the high watermark of a fetch (docs/spike-faust-on-tansu.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from app.stream.broker import TopicConfigs
from app.stream.settings import WorkerSettings
from app.topology import Topology

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


def changelog_topic(topology: Topology) -> str:
    return f"{topology.name}-state-changelog"


OnPartitions = Callable[[list[TopicPartition]], Awaitable[None]]


class RebalanceHooks(ConsumerRebalanceListener):  # type: ignore[misc]
    """A consumer group's rebalance listener from two callbacks (either may be None)."""

    def __init__(self, on_revoke: OnPartitions | None, on_assign: OnPartitions | None) -> None:
        self.on_revoke, self.on_assign = on_revoke, on_assign

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if self.on_revoke is not None:
            await self.on_revoke(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.on_assign is not None:
            await self.on_assign(assigned)


def dead_letter_headers(
    tp: TopicPartition, offset: int, reason: str, detail: str, field: str | None
) -> list[tuple[str, bytes]]:
    """The headers a dead-lettered record carries: why, and where it came from."""
    return [
        ("dlq.reason", reason.encode()),
        ("dlq.detail", detail.encode(errors="replace")[:1000]),
        ("dlq.field", (field or "").encode()),
        ("dlq.source.topic", tp.topic.encode()),
        ("dlq.source.partition", str(tp.partition).encode()),
        ("dlq.source.offset", str(offset).encode()),
    ]


class KeyPartitions(dict[bytes, int]):
    """key -> the partition Kafka's default partitioner gives it among `n` (memoized:
    the same few slo_ids come back on every batch)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def __missing__(self, key: bytes) -> int:
        partition = self[key] = partition_for(key, self.n)
        return partition


def partition_for(key: bytes, n_partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as the Java and aiokafka producers use."""
    return (murmur2(key) & 0x7FFFFFFF) % n_partitions


ALERTS_RETENTION_MS = 90 * 86_400 * 1000


async def ensure_topics(bootstrap: str, topology: Topology, configs: TopicConfigs | None = None) -> None:
    """Create the topology's topics if absent (an existing topic is left as it is).

    `configs`: what an embedded broker needs to bound its memory (app/stream/broker.py);
    none on a real cluster, whose operators set retention."""
    t, n, rf = topology.topics, topology.partitions, topology.replication_factor
    configs = configs or TopicConfigs()
    output = dict(configs.output)
    compact = {**configs.compacted, "cleanup.policy": "compact"}
    wanted = [
        NewTopic(t.metrics, n, rf, topic_configs=dict(configs.metrics)),
        NewTopic(t.status, n, rf, topic_configs=output),
        NewTopic(t.dead_letter, n, rf, topic_configs=output),
        # Sinks rebuild open alerts from this topic: keep it longer than any alert lasts.
        NewTopic(t.alerts, n, rf, topic_configs={"retention.ms": str(ALERTS_RETENTION_MS)}),
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


async def true_end_offsets(consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
    """Each partition's high watermark, from a fetch (never ListOffsets alone).

    `consumer` (no group) is assigned to `tps`. One ListOffsets request for all:
    its answer is a lower bound on Tansu (the last batch's base offset + 1) and 0
    only for an empty partition, which needs no fetch. Every other partition is
    fetched from just below that bound, where a record exists, so the broker
    answers at once; its end is the high watermark of that answer. A fresh
    assignment discards answers to fetches sent before it, so no stale high
    watermark can be read. Empty partitions are left at offset 0."""
    tps = list(tps)
    lower = await consumer.end_offsets(tps)
    consumer.assign(tps)
    ends: dict[TopicPartition, int] = {}
    probing: set[TopicPartition] = set()
    for tp in tps:  # seek before the fetcher runs, so its first fetch uses these positions
        if lower[tp] > 0:
            consumer.seek(tp, lower[tp] - 1)
            probing.add(tp)
        else:
            consumer.seek(tp, 0)
            ends[tp] = 0
    while probing:
        await consumer.getmany(*probing, timeout_ms=200)
        for tp in list(probing):
            highwater = consumer.highwater(tp)
            if highwater is not None:
                ends[tp] = max(lower[tp], highwater)
                probing.discard(tp)
    return ends


async def read_to_end(
    consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]
) -> list[tuple[TopicPartition, bytes | None, bytes | None]]:
    """Every record of `tps` from the beginning to the true end: (tp, key, value).

    `consumer` must have no group; it is (re)assigned to `tps`. Each request it
    sends waits behind its fetch in flight, so give it a small fetch_max_wait_ms."""
    if not tps:
        return []
    ends = await true_end_offsets(consumer, tps)
    out: list[tuple[TopicPartition, bytes | None, bytes | None]] = []
    pending = {tp for tp, end in ends.items() if end > 0}
    if pending:
        beginnings = await consumer.beginning_offsets(list(pending))
        for tp in pending:
            consumer.seek(tp, beginnings[tp])
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


def worker_clients(
    bootstrap: str, group_id: str, settings: WorkerSettings
) -> tuple[AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaConsumer]:
    """A worker's producer, its group consumer of the metrics topic, and the reader
    (no group) that loads changelog partitions on assignment."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=0,
        max_batch_size=256 * 1024,
        client_id=settings.worker_id,
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=settings.worker_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        rebalance_timeout_ms=max(settings.session_timeout_ms, 3000),
        max_poll_interval_ms=60_000,
    )
    # The reader idles paused between recoveries. A short fetch wait: its ListOffsets
    # requests queue behind the fetch in flight.
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    return producer, consumer, reader
