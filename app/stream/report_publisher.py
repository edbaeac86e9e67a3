"""Automated reports: each closed calendar month and quarter, once, on the reports topic.

When a month or quarter has ended (`report_delay_s` ago, so late events are in),
the owner of each metrics partition publishes one SloReportEvent per enabled SLO
keyed to that partition (key = slo_id), its row of the closed report computed by
the live report's core functions (app/core/live_report), so it equals
`python -m app report --period <period>` on the same events. Service and "all"
rollups are computed from these events by app/stream/report_rollups.

Once per period across restarts and failover: each changelog partition holds one
record, key MARK_KEY, with the end of the last month and quarter whose reports
the partition published. It is written only after every report event of the
period is acknowledged (the alert outbox's discipline), so a crash in between
publishes the period again after recovery, with the same event ids, and a
restart after the mark publishes nothing again. A partition recovered without a
mark (a new deployment) counts the periods already closed as published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import msgspec

from app.core.calendar import isoformat_z
from app.core.evaluation import Objective
from app.core.intervals import REPORT_KINDS, Interval, closed_since, last_closed_end_us
from app.core.live_report import empty_row, live_row
from app.core.reports import SloRow
from app.core.units import SloUnits
from app.domain.messages import SloReportEvent
from app.domain.models import SLO

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, int]).decode

MARK_KEY = b"#reports"  # no slo_id starts with '#' (nor holds '|'): one record per changelog partition
SLICE_S = 0.005  # longest run of report rows under the worker's lock (as the timer's slices)
Record = tuple[bytes, bytes | None]


class Worker(Protocol):
    """What reports need of the worker (app/stream/worker.Worker)."""

    stores: dict[int, SloUnits]
    definitions: dict[str, SLO]
    objectives: dict[str, Objective]
    producer: Any
    changelog: str

    @property
    def lock(self) -> asyncio.Lock: ...

    def partition_of(self, key: str) -> int:
        """The metrics partition of a key (its owner's)."""
        ...


def slo_row_of(worker: Worker, slo: SLO, interval: Interval, now_us: int) -> SloRow:
    """An SLO's report row from this worker's unit (an SLO without one has no data)."""
    store = worker.stores.get(worker.partition_of(slo.slo_id))
    unit = store.get(slo.slo_id) if store is not None else None
    if unit is None:
        return empty_row(slo.slo_id, slo.target_percentage, interval, now_us)
    unit.objective = worker.objectives.get(slo.slo_id, unit.objective)
    return live_row(unit, interval, now_us)


def report_event(
    slo: SLO, row: SloRow, kind: str, interval: Interval, now_us: int, partition: int, partition_slos: int
) -> SloReportEvent:
    return SloReportEvent(
        event_id=f"{slo.slo_id}:{interval.label}",
        period=interval.label,
        period_kind=kind,  # type: ignore[arg-type]
        from_=isoformat_z(interval.from_us),
        to=isoformat_z(interval.to_us),
        at=isoformat_z(now_us),
        partition=partition,
        partition_slos=partition_slos,
        slo_id=slo.slo_id,
        slo_name=slo.slo_name,
        service_name=slo.service_name,
        good=row.good,
        total=row.total,
        sli=row.sli,
        target=row.target,
        status=row.status.value,
        error_budget_consumed=row.error_budget_consumed,
        budget_minutes=row.budget_minutes,
        consumed_minutes=row.consumed_minutes,
        worst_burn_rate_1h=row.worst_burn_rate_1h,
        alert_minutes=row.alert_minutes,
        pages=row.pages,
        tickets=row.tickets,
        excluded_good=row.excluded_good,
        excluded_total=row.excluded_total,
    )


class ReportPublisher:
    def __init__(self, topic: str, delay_s: float) -> None:
        self.topic = topic
        self.delay_us = round(delay_s * 1_000_000)
        self.marks: dict[int, dict[str, int]] = {}  # partition -> kind -> end of the last period published
        self.published = 0  # report events sent (and acknowledged)

    # -- the changelog mark ----------------------------------------------------------
    def take_mark(self, partition: int, records: list[Record], now_us: int) -> tuple[list[Record], Record | None]:
        """Split a recovered partition's mark from its records. Without one, the periods closed
        by `now_us` count as published, and the returned record (to write) says so."""
        kept: list[Record] = []
        mark: bytes | None = None
        for key, value in records:
            if key == MARK_KEY:
                mark = value
            else:
                kept.append((key, value))
        marks: dict[str, int] = {}
        if mark is not None:
            try:
                marks = _decode(mark)
            except msgspec.DecodeError as exc:  # never written so: say so, and publish from now on
                log.error("partition %d: unreadable report mark %r (%s); counting from now", partition, mark, exc)
        fresh = any(kind not in marks for kind in REPORT_KINDS)
        for kind in REPORT_KINDS:
            marks.setdefault(kind, last_closed_end_us(kind, now_us - self.delay_us))
        self.marks[partition] = marks
        return kept, ((MARK_KEY, _encode(marks)) if fresh else None)

    def forget(self, partition: int) -> None:
        self.marks.pop(partition, None)

    def due(self, partition: int, now_us: int) -> list[tuple[str, Interval]]:
        """The closed periods whose reports this partition has not published, oldest end first."""
        marks = self.marks.get(partition)
        if marks is None:
            return []
        out = [(k, iv) for k in REPORT_KINDS for iv in closed_since(k, marks[k], now_us - self.delay_us)]
        return sorted(out, key=lambda item: (item[1].to_us, item[0]))

    # -- publishing (the timer's hook) -------------------------------------------------
    async def publish_due(self, worker: Worker, now_us: int) -> None:
        for partition in sorted(self.marks):
            for kind, interval in self.due(partition, now_us):
                if not await self._publish(worker, partition, kind, interval, now_us):
                    break

    async def _publish(self, worker: Worker, partition: int, kind: str, interval: Interval, now_us: int) -> bool:
        """One period's reports of one partition, then its mark; False if the partition was revoked."""
        chosen = sorted(
            (s for s in worker.definitions.values() if s.enabled and worker.partition_of(s.slo_id) == partition),
            key=lambda s: s.slo_id,
        )
        rows: list[tuple[SLO, SloRow]] = []
        pending = list(chosen)
        while pending:  # rows in slices, so the poll loop never waits long
            async with worker.lock:
                if partition not in worker.stores:
                    return False
                held = time.perf_counter()
                while pending and time.perf_counter() - held < SLICE_S:
                    slo = pending.pop(0)
                    rows.append((slo, slo_row_of(worker, slo, interval, now_us)))
            await asyncio.sleep(0)
        async with worker.lock:
            if partition not in worker.stores or partition not in self.marks:
                return False
            sends: list[asyncio.Future[Any]] = []
            for slo, row in rows:
                event = report_event(slo, row, kind, interval, now_us, partition, len(rows))
                key = slo.slo_id.encode()
                sends.append(await worker.producer.send(self.topic, _encode(event), key=key))
            await asyncio.gather(*sends)  # the mark only after every report is acknowledged
            self.published += len(sends)
            marks = self.marks[partition]
            marks[kind] = max(marks[kind], interval.to_us)
            sent = await worker.producer.send(worker.changelog, _encode(marks), key=MARK_KEY, partition=partition)
            await sent
        log.info("published the %s report %s of partition %d: %d SLOs", kind, interval.label, partition, len(rows))
        return True
