"""The API's view of a worker: definitions it knows, state of the SLOs it owns.

With a Redis read model configured (app/stream/read_model.py), status, error
budget and history come from it on every worker, the owner included: whichever
worker a request lands on, the answer is the same (the SLO's last status event,
evaluated when it was published). Without Redis (the embedded default, one
worker) every SLO is local and evaluated at the request's instant.
"""

from __future__ import annotations

import asyncio
import time

from app.core.evaluation import SloEvaluation
from app.core.history import history, state_buckets
from app.core.intervals import Interval, check_retained
from app.core.live_report import empty_row, source_of, source_row
from app.core.reports import SloRow, build_report
from app.core.state import WindowState
from app.core.unit import SloUnit
from app.core.whatif import past_months, what_if
from app.domain.adjustments import AdjustmentDefinition
from app.domain.enums import TimePeriod
from app.domain.models import SLO, ErrorBudget, SLIMetric, SLOStatusReport
from app.domain.reports import ComplianceReport, compliance_report
from app.domain.views import error_budget, objective_of, status_report
from app.domain.whatif import WhatIf, what_if_view
from app.errors import Unavailable
from app.stream.adjustments_feed import AdjustmentsFeed, delete_adjustment, publish_adjustment
from app.stream.definitions_feed import delete_definition, publish_definition
from app.stream.kafka_io import partition_for
from app.stream.report_publisher import slo_row_of
from app.stream.worker import Worker

APPLY_TIMEOUT_S = 10.0


class DefinitionNotApplied(Unavailable):
    def __init__(self, slo_id: str, why: str = f"not read back within {APPLY_TIMEOUT_S}s") -> None:
        self.slo_id = slo_id
        super().__init__("kafka", f"definition {slo_id!r} written but {why}")


class AdjustmentNotApplied(Unavailable):
    def __init__(self, adjustment_id: str, why: str = f"not read back within {APPLY_TIMEOUT_S}s") -> None:
        self.adjustment_id = adjustment_id
        super().__init__("kafka", f"adjustment {adjustment_id!r} written but {why}")


class WorkerSloService:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def definitions(self) -> dict[str, SLO]:
        return self.worker.definitions

    async def _until(self, offset: int, slo_id: str, written: SLO | None) -> None:
        """Until this worker has read the record written at `offset`. A later write of the same
        SLO by another request may have replaced it by then (the last write wins); if it is the
        last one read and not in effect, the worker refused it (its log says why)."""
        feed = self.worker.feed
        deadline = time.monotonic() + APPLY_TIMEOUT_S
        while feed.applied_offset < offset:
            if time.monotonic() > deadline:
                raise DefinitionNotApplied(slo_id)
            await asyncio.sleep(0.01)
        if feed.applied_offset == offset and self.worker.definitions.get(slo_id) != written:
            raise DefinitionNotApplied(slo_id, "refused by the worker that read it back")

    async def put_definition(self, slo: SLO) -> None:
        offset = await publish_definition(self.worker.producer, self.worker.topics.definitions, slo)
        await self._until(offset, slo.slo_id, slo)

    async def delete_definition(self, slo_id: str) -> None:
        offset = await delete_definition(self.worker.producer, self.worker.topics.definitions, slo_id)
        await self._until(offset, slo_id, None)

    def _adjustments_feed(self) -> AdjustmentsFeed:
        if self.worker.adjustments is None:
            raise Unavailable("kafka", "this worker has no adjustments feed")
        return self.worker.adjustments

    def adjustments(self) -> dict[str, AdjustmentDefinition]:
        feed = self.worker.adjustments
        return {} if feed is None else feed.adjustments

    async def _adjustment_applied(self, offset: int, adjustment_id: str, written: AdjustmentDefinition | None) -> None:
        """Until this worker has read the record written at `offset` (as `_until`)."""
        feed = self._adjustments_feed()
        deadline = time.monotonic() + APPLY_TIMEOUT_S
        while feed.applied_offset < offset:
            if time.monotonic() > deadline:
                raise AdjustmentNotApplied(adjustment_id)
            await asyncio.sleep(0.01)
        if feed.applied_offset == offset and feed.adjustments.get(adjustment_id) != written:
            raise AdjustmentNotApplied(adjustment_id, "refused by the worker that read it back")

    async def put_adjustment(self, adjustment: AdjustmentDefinition) -> None:
        feed = self._adjustments_feed()
        offset = await publish_adjustment(self.worker.producer, feed.topic, adjustment)
        await self._adjustment_applied(offset, adjustment.adjustment_id, adjustment)

    async def delete_adjustment(self, adjustment_id: str) -> None:
        feed = self._adjustments_feed()
        offset = await delete_adjustment(self.worker.producer, feed.topic, adjustment_id)
        await self._adjustment_applied(offset, adjustment_id, None)

    def _local_report(self, slo_id: str) -> tuple[SLO, SloEvaluation] | None:
        slo = self.worker.definitions.get(slo_id)
        if slo is None:
            return None
        store = self.worker.stores.get(partition_for(slo_id.encode(), self.worker.n_partitions))
        if store is None or slo_id not in store:
            return None
        return slo, store.evaluate(self.worker.objectives[slo_id], self.worker.clock.now_us())

    async def status(self, slo_id: str) -> SLOStatusReport | None:
        if self.worker.read_model is not None:
            return await self.worker.read_model.status(slo_id)
        local = self._local_report(slo_id)
        return None if local is None else status_report(*local)

    async def error_budget(self, slo_id: str) -> ErrorBudget | None:
        if self.worker.read_model is not None:
            return await self.worker.read_model.error_budget(slo_id)
        local = self._local_report(slo_id)
        return None if local is None else error_budget(*local)

    async def history(self, slo_id: str, start_us: int, end_us: int, step_s: int) -> list[SLIMetric]:
        if self.worker.read_model is not None:
            return await self.worker.read_model.history(slo_id, start_us, end_us, step_s)
        slo = self.worker.definitions.get(slo_id)
        store = self.worker.stores.get(partition_for(slo_id.encode(), self.worker.n_partitions))
        unit = store.get(slo_id) if store is not None else None
        if slo is None or unit is None:
            return []
        unit.advance(self.worker.clock.now_us())
        state = unit.state
        return [
            SLIMetric.of(slo_id, p.end_us, step_s, p.good, p.total)
            for p in history(state_buckets(state), state.now_us, start_us, end_us, step_s * 1_000_000)
        ]

    async def report(self, interval: Interval, slos: list[SLO]) -> ComplianceReport:
        """With a read model, every SLO's row from its copy there (the same on every worker);
        without one, from the SLOs' units on this worker (an SLO without one has no data), and
        the SLOs of partitions another worker owns are listed as unavailable, not reported."""
        worker = self.worker
        now_us = worker.clock.now_us()
        check_retained(interval, now_us)
        rows: list[tuple[str, SloRow]] = []
        unavailable: list[str] = []
        for slo in slos:
            if worker.read_model is not None:
                src = await worker.read_model.report_source(slo.slo_id)
                if src is None:
                    row = empty_row(slo.slo_id, slo.target_percentage, interval, now_us)
                else:
                    row = source_row(slo.slo_id, slo.target_percentage, src, interval, now_us)
            elif worker.partition_of(slo.slo_id) not in worker.stores:
                unavailable.append(slo.slo_id)
                continue
            else:
                row = slo_row_of(worker, slo, interval, now_us)
            rows.append((slo.service_name, row))
        report = build_report(interval, now_us, rows)
        return compliance_report(report, {s.slo_id: s for s in slos}, unavailable)

    async def what_if(self, slo: SLO, target_percentage: float, time_period: TimePeriod) -> WhatIf:
        """From the SLO's unit on this worker (its counts; none yet: no data). The read model
        holds figures, not the counts every window needs: another worker's SLO is a 503."""
        worker = self.worker
        store = worker.stores.get(worker.partition_of(slo.slo_id))
        if store is None:
            raise Unavailable("worker", f"SLO {slo.slo_id!r} is owned by another worker; ask that worker")
        now_us = worker.clock.now_us()
        objective = worker.objectives.get(slo.slo_id) or objective_of(slo)
        as_defined = store.evaluate(objective, now_us)  # as the status endpoint does
        unit = store.get(slo.slo_id) or SloUnit(objective, WindowState(now_us))
        other = what_if(objective, unit.state, target_percentage, time_period)
        months = past_months(source_of(unit.state, unit.report), target_percentage)
        return what_if_view(slo, time_period, as_defined, other, months)

    def ready(self) -> bool:
        return self.worker.ready.is_set()
