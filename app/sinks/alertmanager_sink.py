"""Alert events -> Alertmanager, with the open alerts re-sent while they last.

Alertmanager forgets a firing alert at its `endsAt`; Prometheus keeps re-sending
active alerts, and so does this sink: every `resend_interval_s` it posts the
open alerts of the partitions it owns again with a later `endsAt`. When it is
given partitions it first rebuilds their open alerts from the alerts topic
(the last event per alert_id), so a restarted or new owner re-sends them too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from app.errors import DeliveryFailed
from app.sinks.alertmanager import AlertmanagerClient, am_alert, parse_alert_event
from app.stream.kafka_io import read_to_end
from app.stream.metrics import WorkerMetrics
from app.topology import AlertmanagerSink

log = logging.getLogger(__name__)


class AlertmanagerForwarding:
    def __init__(self, config: AlertmanagerSink, bootstrap: str, metrics: WorkerMetrics) -> None:
        self.config = config
        self.client = AlertmanagerClient(config.url, config.timeout_s)
        self.bootstrap = bootstrap
        self.failures = metrics.sink_failures.labels("alertmanager")
        self.invalid = metrics.sink_invalid.labels("alertmanager")
        self._reported: set[tuple[int, int]] = set()  # invalid records of the batch being retried
        self.open: dict[int, dict[str, dict[str, Any]]] = {}  # partition -> alert_id -> firing event
        self._stopping = asyncio.Event()
        self._resend: asyncio.Task[None] | None = None

    def _apply(self, partition: int, event: dict[str, Any]) -> None:
        alerts = self.open.setdefault(partition, {})
        if event["state"] == "firing":
            alerts[event["alert_id"]] = event
        else:
            alerts.pop(event["alert_id"], None)

    def _post_body(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        latest = {e["alert_id"]: e for e in events}  # one alert per fingerprint per post
        return [am_alert(e, now, self.config.resend_interval_s, self.config.generator_url) for e in latest.values()]

    def _parse(self, partition: int, offset: int, raw: bytes | None) -> dict[str, Any] | None:
        event = parse_alert_event(raw)
        if event is None and (partition, offset) not in self._reported:  # once, not at every retry
            self._reported.add((partition, offset))
            self.invalid.inc()
            log.warning("alertmanager sink: record %d:%d is not an alert event; skipped", partition, offset)
        return event

    async def deliver(self, records: Sequence[Any]) -> None:
        parsed = ((r.partition, self._parse(r.partition, r.offset, r.value)) for r in records)
        events = [(partition, event) for partition, event in parsed if event is not None]
        await self.client.post(self._post_body([e for _, e in events]))
        self._reported.clear()
        for partition, event in events:
            self._apply(partition, event)

    async def on_assign(self, assigned: list[TopicPartition]) -> None:
        """Rebuild the open alerts of newly owned partitions from the whole topic."""
        new = [tp for tp in assigned if tp.partition not in self.open]
        if not new:
            return
        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
        await reader.start()
        try:
            for tp, _key, value in await read_to_end(reader, new):
                event = parse_alert_event(value)
                if event is not None:
                    self._apply(tp.partition, event)
        finally:
            await reader.stop()
        for tp in new:
            self.open.setdefault(tp.partition, {})
        log.info("alertmanager sink: %d open alerts in partitions %s", self.n_open(), [tp.partition for tp in new])

    async def on_revoke(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.open.pop(tp.partition, None)

    def n_open(self) -> int:
        return sum(len(alerts) for alerts in self.open.values())

    def start_resending(self) -> asyncio.Task[None]:
        self._resend = asyncio.create_task(self._resend_loop(), name="alertmanager-resend")
        return self._resend

    async def _resend_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.config.resend_interval_s)
                return
            except TimeoutError:
                pass
            events = [e for alerts in self.open.values() for e in alerts.values()]
            try:
                await self.client.post(self._post_body(events))
            except DeliveryFailed as exc:
                self.failures.inc()
                log.warning("re-sending %d open alerts: %s", len(events), exc)

    async def close(self) -> None:
        self._stopping.set()
        if self._resend is not None:
            await asyncio.gather(self._resend, return_exceptions=True)
        await self.client.close()
