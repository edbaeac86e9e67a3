"""What the HTTP API needs from the worker, as an interface (adapters implement it)."""

from __future__ import annotations

from typing import Protocol

from app.core.intervals import Interval
from app.domain.adjustments import AdjustmentDefinition
from app.domain.enums import TimePeriod
from app.domain.models import SLO, ErrorBudget, SLIMetric, SLOStatusReport
from app.domain.reports import ComplianceReport
from app.domain.whatif import WhatIf


class SloService(Protocol):
    def definitions(self) -> dict[str, SLO]:
        """Every SLO definition this worker knows (all workers know all)."""
        ...

    async def put_definition(self, slo: SLO) -> None:
        """Write a definition to the definitions topic; returns once this worker applied it."""
        ...

    async def delete_definition(self, slo_id: str) -> None:
        """Tombstone a definition; returns once this worker applied it."""
        ...

    def adjustments(self) -> dict[str, AdjustmentDefinition]:
        """Every budget adjustment this worker knows (all workers know all)."""
        ...

    async def put_adjustment(self, adjustment: AdjustmentDefinition) -> None:
        """Write an adjustment to the adjustments topic; returns once this worker applied it."""
        ...

    async def delete_adjustment(self, adjustment_id: str) -> None:
        """Tombstone an adjustment; returns once this worker applied it."""
        ...

    async def status(self, slo_id: str) -> SLOStatusReport | None:
        """Latest status of an SLO, from whichever worker owns it (None: no data yet)."""
        ...

    async def error_budget(self, slo_id: str) -> ErrorBudget | None: ...

    async def history(self, slo_id: str, start_us: int, end_us: int, step_s: int) -> list[SLIMetric]: ...

    async def report(self, interval: Interval, slos: list[SLO]) -> ComplianceReport:
        """The compliance report of these SLOs over a PERIOD interval, now (raises
        app.core.intervals.BadInterval for an interval beyond the history)."""
        ...

    async def what_if(self, slo: SLO, target_percentage: float, time_period: TimePeriod) -> WhatIf:
        """The SLO's figures for another target and period from its retained counts, at the
        request's instant (raises app.errors.Unavailable when another worker owns the SLO)."""
        ...

    def ready(self) -> bool:
        """Partitions assigned and their state recovered."""
        ...
