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

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from app.domain.enums import AlertState
from app.domain.messages import AlertEvent
from app.errors import DeliveryFailed
from app.sinks.alertmanager import AlertmanagerClient, AlertsRejected, am_alert, parse_alert_event
from app.stream.kafka_io import read_to_end
from app.stream.long_poll import LongPollConsumer
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
        self.open: dict[int, dict[str, AlertEvent]] = {}  # partition -> alert_id -> firing event
        self._stopping = asyncio.Event()
        self._resend: asyncio.Task[None] | None = None
        self._posting = asyncio.Lock()
        self._unbuilt: set[TopicPartition] = set()  # owned partitions whose open alerts are not rebuilt yet

    def _apply(self, partition: int, event: AlertEvent) -> None:
        alerts = self.open.setdefault(partition, {})
        if event.state is AlertState.FIRING:
            alerts[event.alert_id] = event
        else:
            alerts.pop(event.alert_id, None)

    def _post_body(self, events: Sequence[AlertEvent]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        latest = {e.alert_id: e for e in events}  # one alert per fingerprint per post
        return [am_alert(e, now, self.config.resend_interval_s, self.config.generator_url) for e in latest.values()]

    async def _post(self, events: Sequence[AlertEvent]) -> None:
        """Post the events' alerts. If Alertmanager refuses the request as such (4xx),
        each alert is posted alone and the ones it refuses are skipped and counted: one
        bad alert must not hold back every other one."""
        try:
            await self.client.post(self._post_body(events))
        except AlertsRejected as rejected:
            if len(events) == 1:
                self.invalid.inc()
                log.error("alertmanager refused alert %s of %s: %s", events[0].rule, events[0].slo_id, rejected)
                return
            for event in {e.alert_id: e for e in events}.values():
                await self._post([event])

    def prepare(self, records: Sequence[Any]) -> list[tuple[int, AlertEvent]]:
        """(partition, alert event) of each record that is one; the others are counted."""
        events = []
        for r in records:
            event = parse_alert_event(r.value)
            if event is None:
                self.invalid.inc()
                log.warning("alertmanager sink: record %d:%d is not an alert event; skipped", r.partition, r.offset)
            else:
                events.append((r.partition, event))
        return events

    async def deliver(self, events: list[tuple[int, AlertEvent]]) -> None:
        async with self._posting:  # never interleaved with a re-send of the open alerts
            await self._post([e for _, e in events])
            for partition, event in events:
                self._apply(partition, event)

    async def on_assign(self, assigned: list[TopicPartition]) -> None:
        """Rebuild the open alerts of newly owned partitions from the whole topic. If that
        read fails, the re-send loop tries again (aiokafka's rebalance listener would
        only log the error)."""
        self._unbuilt |= {tp for tp in assigned if tp.partition not in self.open}
        await self._rebuild()

    async def _rebuild(self) -> None:
        new = sorted(self._unbuilt, key=lambda tp: tp.partition)
        if not new:
            return
        reader = LongPollConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
        try:
            await reader.start()
            records = await read_to_end(reader, new)
        except (KafkaError, OSError) as exc:
            self.failures.inc()
            log.error("alertmanager sink: rebuilding the open alerts of %s failed (%s); retrying", new, exc)
            return
        finally:
            await reader.stop()
        async with self._posting:
            for tp, _key, value in records:
                event = parse_alert_event(value)
                if event is not None:
                    self._apply(tp.partition, event)
            for tp in new:
                self.open.setdefault(tp.partition, {})
            self._unbuilt -= set(new)
        log.info("alertmanager sink: %d open alerts in partitions %s", self.n_open(), [tp.partition for tp in new])

    async def on_revoke(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.open.pop(tp.partition, None)
            self._unbuilt.discard(tp)

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
            await self._rebuild()
            async with self._posting:
                events = [e for alerts in self.open.values() for e in alerts.values()]
                try:
                    await self._post(events)
                except DeliveryFailed as exc:
                    self.failures.inc()
                    log.warning("re-sending %d open alerts: %s", len(events), exc)

    async def close(self) -> None:
        self._stopping.set()
        if self._resend is not None:
            await asyncio.gather(self._resend, return_exceptions=True)
        await self.client.close()
