"""LongPollConsumer on noida-db, which answers an empty fetch at once: an idle consumer
waits out `fetch_max_wait_ms` between fetches instead of spinning, and still delivers."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.stream.broker import EmbeddedBroker
from app.stream.long_poll import LongPollConsumer


async def _topic(bootstrap: str, partitions: int) -> str:
    name = f"long-poll-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


def test_an_idle_consumer_sends_at_most_one_fetch_per_max_wait(noida_broker: EmbeddedBroker) -> None:
    async def scenario() -> tuple[int, float]:
        topic = await _topic(noida_broker.bootstrap, 8)
        consumer = LongPollConsumer(
            topic, bootstrap_servers=noida_broker.bootstrap, fetch_max_wait_ms=100, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=300)  # assigned, fetching
            before, started = consumer.fetches, time.monotonic()
            assert await consumer.getmany(timeout_ms=1000) == {}
            return consumer.fetches - before, time.monotonic() - started
        finally:
            await consumer.stop()

    fetches, elapsed_s = asyncio.run(scenario())
    # One node: one fetch in flight at a time, each taking >= 100 ms when it brings nothing
    # (aiokafka alone sent one per broker answer: hundreds a second on noida-db).
    assert 1 <= fetches <= elapsed_s / 0.1 + 1, (fetches, elapsed_s)


def test_a_record_sent_while_the_consumer_waits_is_delivered(noida_broker: EmbeddedBroker) -> None:
    async def scenario() -> list[bytes]:
        topic = await _topic(noida_broker.bootstrap, 1)
        consumer = LongPollConsumer(
            topic, bootstrap_servers=noida_broker.bootstrap, fetch_max_wait_ms=200, auto_offset_reset="earliest"
        )
        producer = AIOKafkaProducer(bootstrap_servers=noida_broker.bootstrap)
        await asyncio.gather(consumer.start(), producer.start())
        try:
            assert await consumer.getmany(timeout_ms=300) == {}  # idle: waiting between empty fetches
            await producer.send_and_wait(topic, b"late")
            got: list[bytes] = []
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got += [r.value for r in records]
            return got
        finally:
            await asyncio.gather(consumer.stop(), producer.stop())

    assert asyncio.run(scenario()) == [b"late"]
