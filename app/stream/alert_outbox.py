"""Alert transitions -> alert events on the alerts topic (the sinks' outbox).

A firing event is kept in the SLO's changelog META until its episode resolves,
so the resolved event carries the same identity (names, service, labels) even
when the definition changed or is gone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import msgspec

from app.core.alerts import Transition
from app.core.evaluation import SloEvaluation
from app.core.units import SloUnits
from app.domain.alert_events import alert_event, kept, resolved_event, restored
from app.domain.enums import AlertState
from app.domain.messages import AlertEvent, StatusEvent
from app.domain.models import SLO
from app.stream.kafka_io import KeyPartitions
from app.stream.metrics import WorkerMetrics
from app.stream.record_batches import RecordBatches

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


class AlertOutbox:
    def __init__(
        self,
        topic: str,
        enabled: bool,
        metrics: WorkerMetrics,
        stats: Counter[str],
        on_event: Callable[[StatusEvent | AlertEvent], None] | None,
        n_partitions: int,
    ) -> None:
        self.topic = topic
        self.enabled = enabled  # topology.sinks.kafka_alerts
        self.metrics = metrics
        self.stats = stats
        self.on_event = on_event
        self.partition_of = KeyPartitions(n_partitions)
        self.staged = False  # alert events among the records of the batch being built

    def publish(
        self,
        out: RecordBatches,
        store: SloUnits,
        slo_id: str,
        slo: SLO | None,
        report: SloEvaluation | None,
        transitions: list[Transition],
    ) -> None:
        """Stage the events of an SLO's transitions (`slo`/`report` None: the SLO is gone)."""
        key = slo_id.encode()
        for t in transitions:
            current = alert_event(slo, report, t) if slo is not None and report is not None else None
            if t.state is AlertState.FIRING:
                assert current is not None
                store.remember_firing(slo_id, t.rule, kept(current))
                alert = current
            else:
                fired = self._firing(store, slo_id, t.rule)
                if fired is None:
                    continue
                alert = resolved_event(fired, t, current)
            self.staged = True
            self.metrics.alert_events.labels(t.state.value).inc()
            self.stats[f"alerts_{t.state.value}"] += 1
            if self.on_event is not None:
                self.on_event(alert)
            if self.enabled:
                out.add(self.topic, self.partition_of[key], key, _encode(alert))

    @staticmethod
    def _firing(store: SloUnits, slo_id: str, rule: str) -> AlertEvent | None:
        """The firing event kept for an open episode, or None (logged) when there is none."""
        data = store.pop_firing(slo_id, rule)
        if data is None:  # a book restored without its events (cannot be written so)
            log.error("SLO %r: no firing event kept for %s; its resolution is not published", slo_id, rule)
            return None
        try:
            return restored(data)
        except msgspec.ValidationError as exc:
            log.error(
                "SLO %r: the firing event kept for %s is unreadable (%s); its resolution is not published",
                slo_id,
                rule,
                exc,
            )
            return None

    def take_staged(self) -> bool:
        staged, self.staged = self.staged, False
        return staged
