"""The engine service: SLO definitions, one window state per SLO, acceptance.

Pure (no I/O, no clock): the replay CLI and the streaming worker both drive it,
passing `now_us` in. A stream adapter calls `apply` per event; a batch adapter
calls `apply_batch`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from app.core.acceptance import DEFAULT_MAX_SKEW_US, AcceptanceRange, acceptance_range
from app.core.alerts import AlertBook, Transition, step
from app.core.report import Objective, SloReport, evaluate
from app.core.state import WindowState
from app.domain.events import RejectReason, SliEvent, reject
from app.domain.models import SLO
from app.domain.views import objective_of


@dataclass(slots=True)
class Tracked:
    slo: SLO
    objective: Objective
    state: WindowState
    alerts: AlertBook = field(default_factory=AlertBook)  # open alert episodes, by rule


class SloEngine:
    def __init__(self, slos: Iterable[SLO], now_us: int, max_skew_us: int = DEFAULT_MAX_SKEW_US) -> None:
        self.max_skew_us = max_skew_us
        self.now_us = now_us
        self.definitions: dict[str, SLO] = {}
        self.tracked: dict[str, Tracked] = {}
        for slo in slos:
            self.upsert(slo)

    # -- definitions ---------------------------------------------------------
    def upsert(self, slo: SLO) -> None:
        """Add or replace a definition; counts already held are kept."""
        self.definitions[slo.slo_id] = slo
        tracked = self.tracked.get(slo.slo_id)
        if tracked is None:
            self.tracked[slo.slo_id] = Tracked(slo, objective_of(slo), WindowState(self.now_us))
        else:
            tracked.slo, tracked.objective = slo, objective_of(slo)

    def remove(self, slo_id: str) -> None:
        self.definitions.pop(slo_id, None)
        self.tracked.pop(slo_id, None)

    def enabled(self) -> list[Tracked]:
        return [t for t in self.tracked.values() if t.slo.enabled]

    # -- time ----------------------------------------------------------------
    def advance(self, now_us: int) -> None:
        if now_us > self.now_us:
            self.now_us = now_us
            for tracked in self.tracked.values():
                tracked.state.advance(now_us)

    def acceptance(self, slo: SLO) -> AcceptanceRange:
        return acceptance_range(self.now_us, slo.time_period, self.max_skew_us)

    # -- events --------------------------------------------------------------
    def accept(self, event: SliEvent) -> Tracked:
        """The SLO an event counts for, or RejectedEvent saying why it does not."""
        tracked = self.tracked.get(event.slo_id)
        if tracked is None:
            raise reject(RejectReason.UNKNOWN_SLO, f"no SLO {event.slo_id!r}", "slo_id")
        if not tracked.slo.enabled:
            raise reject(RejectReason.DISABLED_SLO, f"SLO {event.slo_id!r} is disabled", "slo_id")
        self.acceptance(tracked.slo).check(event.ts_us)
        return tracked

    def apply(self, event: SliEvent) -> SloReport:
        """Count one event (at the engine's `now`) and evaluate its SLO."""
        tracked = self.accept(event)
        tracked.state.add(event.ts_us, event.good, event.total)
        return evaluate(tracked.objective, tracked.state)

    def evaluate(self, slo_id: str) -> SloReport:
        tracked = self.tracked[slo_id]
        return evaluate(tracked.objective, tracked.state)

    def step_alerts(self, slo_id: str, report: SloReport) -> list[Transition]:
        """Advance the SLO's alert state machines to `report`."""
        return step(self.tracked[slo_id].alerts, report.conditions, report.now_us)
