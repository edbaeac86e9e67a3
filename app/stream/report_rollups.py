"""Report rollups: per service and for all SLOs, from the per-SLO report events.

An SLO's closed report is published by its owner (app/stream/report_publisher),
but a service's SLOs are spread over partitions, so over workers. Rather than
asking other workers for their rows, every worker reads the whole reports topic
(a plain consumer with no group, like the definitions feed: the topic carries a
few records per SLO and period), and the rollup of a key (the service name, or
`*` for all SLOs) is published by the worker that owns the key's partition of
the metrics topic, the rule that spreads ownership for SLOs.

A rollup for period P is published once every partition it depends on is
complete for P: each SloReportEvent says how many SLOs its partition reported
(`partition_slos`), and the partitions a service depends on are those of its
SLOs' events and of its enabled definitions. Its figures are
app/core/reports.rollup over those events' rows, so they equal the offline
report's rollups.

Once per period: a rollup is on the topic this consumer reads, so a worker that
restarts or takes a key over sees it. Before publishing, the consumer catches up
to the topic's true end, under the worker's lock (which a revocation also takes),
so a rollup acknowledged by the previous owner is seen first. Its event_id
(`rollup:<key>:<period>`) is stable should a zombie owner ever publish it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import msgspec
from aiokafka import TopicPartition

from app.core.reports import ReportStatus, SloRow, rollup
from app.domain.messages import REPORTS_DECODER, ReportRollupEvent, SloReportEvent
from app.stream.kafka_io import true_end_offsets
from app.stream.long_poll import LongPollConsumer
from app.stream.report_publisher import Worker

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
ALL_KEY = "*"  # the key of the rollup of all SLOs (scope "all")
CATCH_UP_TIMEOUT_S = 10.0


def _row(event: SloReportEvent) -> SloRow:
    return SloRow(
        slo_id=event.slo_id,
        good=event.good,
        total=event.total,
        sli=event.sli,
        target=event.target,
        status=ReportStatus(event.status),
        error_budget_consumed=event.error_budget_consumed,
        budget_minutes=event.budget_minutes,
        consumed_minutes=event.consumed_minutes,
        worst_burn_rate_1h=event.worst_burn_rate_1h,
        alert_minutes=event.alert_minutes,
        pages=event.pages,
        tickets=event.tickets,
    )


def rollup_event(key: str, events: list[SloReportEvent]) -> ReportRollupEvent:
    """The rollup of one period's events (every one of the same period)."""
    first = events[0]
    r = rollup(_row(e) for e in events)
    return ReportRollupEvent(
        event_id=f"rollup:{key}:{first.period}",
        period=first.period,
        period_kind=first.period_kind,
        from_=first.from_,
        to=first.to,
        at=max(e.at for e in events),
        scope="all" if key == ALL_KEY else "service",
        service_name=None if key == ALL_KEY else key,
        slo_ids=sorted(e.slo_id for e in events),
        good=r.good,
        total=r.total,
        sli=r.sli,
        met=r.met,
        at_risk=r.at_risk,
        failed=r.failed,
        no_data=r.no_data,
        compliance_percentage=r.compliance_percentage,
    )


def ready_rollups(
    rows: dict[str, SloReportEvent], defined: dict[str, set[int]], published: set[str]
) -> list[tuple[str, ReportRollupEvent]]:
    """The rollups of one period (its events by slo_id) that can be published: (key, event).
    `defined`: service -> partitions of its enabled SLOs now; `published`: rollup ids seen."""
    seen: dict[int, int] = defaultdict(int)
    expected: dict[int, int] = {}
    by_key: dict[str, list[SloReportEvent]] = defaultdict(list)
    for event in rows.values():
        seen[event.partition] += 1
        expected[event.partition] = event.partition_slos
        by_key[event.service_name].append(event)
        by_key[ALL_KEY].append(event)
    complete = {p for p, n in expected.items() if seen[p] >= n}
    every = set().union(*defined.values()) if defined else set()
    out = []
    for key, events in sorted(by_key.items()):
        needs = {e.partition for e in events} | (every if key == ALL_KEY else defined.get(key, set()))
        if needs <= complete and f"rollup:{key}:{events[0].period}" not in published:
            out.append((key, rollup_event(key, events)))
    return out


class RollupAggregator:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = LongPollConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
        self.prober = LongPollConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
        self.rows: dict[str, dict[str, SloReportEvent]] = {}  # period -> slo_id -> its latest report event
        self.published: set[str] = set()  # rollup event ids on the topic
        self.positions: dict[TopicPartition, int] = {}  # next offset to read
        self.tps: list[TopicPartition] = []
        self.sent = 0  # rollups published by this worker
        self.invalid = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    async def start(self, worker: Worker, n_partitions: int) -> None:
        """Returns once every record on the topic so far has been read. Records are applied
        as they are fetched (the topic holds 400 days of reports: never all in memory), and
        the rows of a period whose rollups are all published are not kept."""
        self.tps = [TopicPartition(self.topic, p) for p in range(n_partitions)]
        await self.consumer.start()
        await self.prober.start()
        ends = await true_end_offsets(self.consumer, self.tps)
        beginnings = await self.consumer.beginning_offsets(self.tps)
        for tp in self.tps:
            self.consumer.seek(tp, beginnings[tp])
            self.positions[tp] = beginnings[tp]
        while any(self.positions[tp] < ends[tp] for tp in self.tps):
            batch = await self.consumer.getmany(*self.tps, timeout_ms=1000, max_records=10_000)
            for tp, records in batch.items():
                for record in records:
                    self._apply(record.value)
                if records:
                    self.positions[tp] = records[-1].offset + 1
            for tp in self.tps:
                self.positions[tp] = max(self.positions[tp], await self.consumer.position(tp))
        self._forget_done()
        self._tasks = [
            asyncio.create_task(self._tail(), name="report-rollups-tail"),
            asyncio.create_task(self._publish_loop(worker), name="report-rollups"),
        ]

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        """The tail and the publisher: the worker stops if either dies."""
        return self._tasks

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.consumer.stop()
        await self.prober.stop()

    async def _tail(self) -> None:
        while True:
            batch = await self.consumer.getmany(*self.tps, timeout_ms=500)
            new_rows = False
            for tp, records in batch.items():
                for record in records:
                    new_rows = self._apply(record.value) or new_rows
                if records:
                    self.positions[tp] = records[-1].offset + 1
            if new_rows or (batch and self.rows):
                self._wake.set()

    def _apply(self, value: bytes | None) -> bool:
        """Take one record in; True when it is a per-SLO report."""
        try:
            event = REPORTS_DECODER.decode(value or b"")
        except msgspec.DecodeError as exc:
            self.invalid += 1
            log.warning("reports topic: unreadable record ignored (%s)", exc)
            return False
        if isinstance(event, ReportRollupEvent):
            self.published.add(event.event_id)
            return False
        if self._rolled_up(event.period, event.service_name):
            return False  # its rollups are out: nothing left to do with it
        self.rows.setdefault(event.period, {})[event.slo_id] = event
        return True

    def _rolled_up(self, period: str, service: str) -> bool:
        return f"rollup:{service}:{period}" in self.published and f"rollup:{ALL_KEY}:{period}" in self.published

    def wake(self) -> None:
        """Look for rollups to publish (new report events, or keys this worker now owns)."""
        self._wake.set()

    async def _publish_loop(self, worker: Worker) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.publish_ready(worker)

    def candidates(self, worker: Worker) -> list[tuple[str, ReportRollupEvent]]:
        if not self.rows:
            return []
        defined: dict[str, set[int]] = defaultdict(set)
        for slo in worker.definitions.values():
            if slo.enabled:
                defined[slo.service_name].add(worker.partition_of(slo.slo_id))
        out = []
        for period in sorted(self.rows):
            for key, event in ready_rollups(self.rows[period], defined, self.published):
                if worker.partition_of(key) in worker.stores:
                    out.append((key, event))
        return out

    async def _caught_up(self) -> None:
        """Until the tail has read every record written to the topic before now."""
        ends = await true_end_offsets(self.prober, self.tps)
        deadline = asyncio.get_running_loop().time() + CATCH_UP_TIMEOUT_S
        while any(self.positions.get(tp, 0) < end for tp, end in ends.items()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the reports topic {self.topic!r} was not read to its end in {CATCH_UP_TIMEOUT_S}s")
            await asyncio.sleep(0.01)

    async def publish_ready(self, worker: Worker) -> None:
        """Publish the rollups this worker owns whose SLO reports are all in."""
        self._forget_done()  # rollups other workers published
        if not self.candidates(worker):
            return
        async with worker.lock:  # a revocation waits for this: the next owner sees what was sent
            await self._caught_up()
            ready = self.candidates(worker)
            sends: list[asyncio.Future[Any]] = []
            for key, event in ready:
                sends.append(await worker.producer.send(self.topic, _encode(event), key=key.encode()))
            await asyncio.gather(*sends)
            for _key, event in ready:
                self.published.add(event.event_id)
            self.sent += len(ready)
        for key, event in ready:
            log.info(
                "published the %s rollup %s of %s (%d SLOs)", event.period_kind, event.period, key, len(event.slo_ids)
            )
        self._forget_done()

    def _forget_done(self) -> None:
        """Drop a period's rows once its every rollup is on the topic."""
        for period in list(self.rows):
            rows = self.rows[period]
            if all(self._rolled_up(period, e.service_name) for e in rows.values()):
                del self.rows[period]
