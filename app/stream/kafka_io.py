"""Kafka plumbing that works on real Kafka and on the embedded broker (Tansu).

Tansu answers ListOffsets(LATEST) with the last batch's base offset + 1, not
the high watermark, so nothing here trusts `end_offsets()` alone: the true end
of a partition is the high watermark of a fetch (docs/spike-faust-on-tansu.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import InvalidSessionTimeoutError, KafkaError
from aiokafka.partitioner import murmur2

from app.errors import SettingRefused, SloEngineError, TopicConflict, Unavailable
from app.stream.broker import TopicConfigs
from app.stream.long_poll import LongPollConsumer
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
    return int(murmur2(key) & 0x7FFFFFFF) % n_partitions


ALERTS_RETENTION_MS = 90 * 86_400 * 1000
REPORTS_RETENTION_MS = 400 * 86_400 * 1000


class _Muted(logging.Filter):
    """Holds back aiokafka's own error lines about a failure the worker reports itself,
    in one line (`explain_start_error`); what it held back goes into that line."""

    def __init__(self, *needles: str) -> None:
        super().__init__()
        self.needles = needles
        self.held: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(needle in message for needle in self.needles):
            self.held.append(message)
            return False
        return True


@contextlib.contextmanager
def muted(logger: str, *needles: str) -> Iterator[_Muted]:
    mute = _Muted(*needles)
    target = logging.getLogger(logger)
    target.addFilter(mute)
    try:
        yield mute
    finally:
        target.removeFilter(mute)


async def _connect_admin(bootstrap: str, timeout_ms: int) -> AIOKafkaAdminClient:
    """The first contact with Kafka, bounded: Unavailable names the address and the wait."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    with muted("aiokafka", "Unable connect to") as mute:
        try:
            await asyncio.wait_for(admin.start(), timeout_ms / 1000 + 2)
        except (KafkaError, TimeoutError, OSError) as exc:
            await admin.close()
            reasons = [held.split('": ', 1)[-1].strip() for held in mute.held]
            reason = next((r for r in reversed(reasons) if r), None)
            if reason is None:
                silent = reasons or isinstance(exc, TimeoutError)
                reason = "it accepted the connection but never answered" if silent else f"{type(exc).__name__}: {exc}"
            raise Unavailable(
                "kafka",
                f"cannot reach the bootstrap servers {bootstrap} within {timeout_ms / 1000:g}s "
                f"(SLO_KAFKA_START_TIMEOUT_MS): {reason}",
            ) from exc
    return admin


async def _partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    """Partition counts of existing topics (describing an absent one may create it)."""
    if not topics:
        return {}
    return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(topics) if not d["error_code"]}


async def ensure_topics(
    bootstrap: str, topology: Topology, timeout_ms: int = 15_000, configs: TopicConfigs | None = None
) -> int:
    """Create the topology's topics that are absent; returns the metrics topic's partitions.

    The metrics topic may predate the worker (a producer that started first, on a broker
    that creates topics on first use with its own default count): the topics created here
    are then co-partitioned with it, whatever the topology says. A changelog that exists
    with another count than the metrics topic is refused (TopicConflict): its partitions
    are the metrics partitions' state. Kafka that does not answer within `timeout_ms`
    raises Unavailable."""
    t, rf = topology.topics, topology.replication_factor
    changelog = changelog_topic(topology)
    admin = await _connect_admin(bootstrap, timeout_ms)
    try:
        existing = set(await admin.list_topics())
        counts = await _partition_counts(admin, [name for name in (t.metrics, changelog) if name in existing])
        n = counts.get(t.metrics, topology.partitions)
        if counts.get(changelog, n) != n:
            raise TopicConflict(
                changelog,
                counts[changelog],
                n,
                f"the state changelog must have one partition per partition of {t.metrics!r} ({n}); "
                "rebuild the state (README, Operations: reset the state) or restore the metrics topic",
            )
        if n != topology.partitions:
            log.warning(
                "topic %s exists with %d partitions (the topology says %d): the topics created now get %d too",
                t.metrics,
                n,
                topology.partitions,
                n,
            )
        # `configs`: what an embedded broker needs to bound its memory (app/stream/broker.py);
        # none on a real cluster, whose operators set retention.
        configs = configs or TopicConfigs()
        output = dict(configs.output)
        compact = {**configs.compacted, "cleanup.policy": "compact"}
        wanted = [
            NewTopic(t.metrics, n, rf, topic_configs=dict(configs.metrics)),
            NewTopic(t.status, n, rf, topic_configs=output),
            NewTopic(t.dead_letter, n, rf, topic_configs=output),
            # Sinks rebuild open alerts from this topic: keep it longer than any alert lasts.
            NewTopic(t.alerts, n, rf, topic_configs={"retention.ms": str(ALERTS_RETENTION_MS)}),
            # Closed reports (key slo_id or service): read in full by every worker's rollup
            # aggregator (app/stream/report_rollups), so kept as long as the history.
            NewTopic(t.reports, n, rf, topic_configs={"retention.ms": str(REPORTS_RETENTION_MS)}),
            NewTopic(t.definitions, 1, rf, topic_configs=compact),
            NewTopic(t.adjustments, 1, rf, topic_configs=compact),
            NewTopic(changelog, n, rf, topic_configs=compact),
        ]
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, *_ in response.topic_errors:
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    raise Unavailable("kafka", f"creating topic {name!r} failed: Kafka error code {code}")
            log.info("created topics %s", ", ".join(topic.name for topic in missing))
        return n
    finally:
        await admin.close()


def explain_start_error(exc: BaseException, bootstrap: str, settings: WorkerSettings) -> SloEngineError | None:
    """A Kafka error at start as the one line the operator needs, or None (not Kafka's)."""
    if isinstance(exc, SloEngineError):
        return exc
    if isinstance(exc, InvalidSessionTimeoutError):
        return SettingRefused(
            "SLO_SESSION_TIMEOUT_MS",
            str(settings.session_timeout_ms),
            f"Kafka at {bootstrap}",
            "outside the broker's group.min.session.timeout.ms .. group.max.session.timeout.ms "
            "(6000 .. 1800000 on a stock Apache Kafka); the default 10000 suits a stock broker",
        )
    if isinstance(exc, KafkaError):
        return Unavailable("kafka", f"{bootstrap}: {type(exc).__name__}: {exc}")
    return None


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
    consumer = LongPollConsumer(
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
    reader = LongPollConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    return producer, consumer, reader
