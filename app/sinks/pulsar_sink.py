"""Status and alert events to Apache Pulsar topics, keyed (partition_key) by slo_id.

pulsar-client is a C++ library with its own threads: `send_async` callbacks are
handed back to the asyncio loop, so the worker's loop never blocks on Pulsar.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pulsar

from app.errors import DeliveryFailed
from app.topology import PulsarSink

log = logging.getLogger(__name__)


class PulsarPublisher:
    def __init__(self, config: PulsarSink) -> None:
        self.config = config
        self._client: pulsar.Client | None = None
        self._producers: dict[str, pulsar.Producer] = {}

    async def _producer(self, topic: str) -> pulsar.Producer:
        producer = self._producers.get(topic)
        if producer is None:
            timeout_s = max(1, round(self.config.send_timeout_s))
            if self._client is None:
                self._client = pulsar.Client(
                    self.config.service_url, operation_timeout_seconds=timeout_s, logger=_quiet_logger()
                )
            client = self._client
            try:
                producer = await asyncio.to_thread(
                    client.create_producer, topic, send_timeout_millis=timeout_s * 1000, block_if_queue_full=False
                )
            except pulsar.PulsarException as exc:
                raise DeliveryFailed("pulsar", f"creating a producer on {topic}: {exc}") from exc
            self._producers[topic] = producer
        return producer

    async def publish(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Send (key, value) messages and wait for every acknowledgement."""
        if not messages:
            return
        producer = await self._producer(topic)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for key, value in messages:
            future: asyncio.Future[None] = loop.create_future()
            futures.append(future)
            try:
                producer.send_async(value, _callback(loop, future), partition_key=key.decode(errors="replace"))
            except pulsar.PulsarException as exc:
                future.set_exception(DeliveryFailed("pulsar", f"send to {topic}: {exc}"))
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise DeliveryFailed("pulsar", f"{len(failed)} of {len(messages)} sends to {topic} failed: {failed[0]}")

    async def close(self) -> None:
        """Close the client; a broker that does not answer (closing waits for its reply
        up to the operation timeout) is logged in one line, never raised: shutdown goes on."""
        client, self._client, self._producers = self._client, None, {}
        if client is None:
            return
        try:
            await asyncio.to_thread(client.close)
        except pulsar.PulsarException as exc:
            log.warning("pulsar sink: closing the client at %s failed (%s)", self.config.service_url, exc)


def _callback(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> Any:
    def done(result: pulsar.Result, _msg_id: Any) -> None:
        loop.call_soon_threadsafe(_settle, future, result)

    return done


def _settle(future: asyncio.Future[None], result: pulsar.Result) -> None:
    if future.done():
        return
    if result == pulsar.Result.Ok:
        future.set_result(None)
    else:
        future.set_exception(DeliveryFailed("pulsar", f"send failed: {result}"))


def _quiet_logger() -> Any:
    """pulsar-client logs every connection at INFO to stdout; route it to `logging` at WARNING."""
    import logging

    logger = logging.getLogger("pulsar")
    logger.setLevel(logging.WARNING)
    return logger


class PulsarForwarding:
    """Status and alert records -> their Pulsar topics, in order, keyed by slo_id."""

    def __init__(self, config: PulsarSink, status_topic: str, alerts_topic: str, invalid: Any) -> None:
        self.publisher = PulsarPublisher(config)
        self.routes = {status_topic: config.status_topic, alerts_topic: config.alerts_topic}
        self.invalid = invalid  # counter of records skipped (no key or no value)

    def prepare(self, records: Sequence[Any]) -> dict[str, list[tuple[bytes, bytes]]]:
        """(key, value) messages per Pulsar topic, in order; records without both are counted."""
        by_topic: dict[str, list[tuple[bytes, bytes]]] = {}
        for r in records:
            if r.value is not None and r.key is not None:
                by_topic.setdefault(self.routes[r.topic], []).append((r.key, r.value))
            else:
                self.invalid.inc()
                log.warning("pulsar sink: %s:%d:%d has no key or no value; skipped", r.topic, r.partition, r.offset)
        return by_topic

    async def deliver(self, by_topic: dict[str, list[tuple[bytes, bytes]]]) -> None:
        for topic, messages in by_topic.items():
            await self.publisher.publish(topic, messages)

    async def close(self) -> None:
        await self.publisher.close()
