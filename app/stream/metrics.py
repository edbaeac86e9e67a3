"""Prometheus metrics of a worker, in its own registry (never the global one).

Per SLO (labels slo_id, service): SLI, budget remaining/consumed, burn rate per
window, status as a labelled 0/1 gauge, firing rules. Per worker: events in,
accepted, rejected by reason, status events out, end-to-end processing latency,
consumer lag per partition, recovery time; the Redis read model's health.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app.core.report import SloReport
from app.core.windows import WINDOW_NAMES
from app.domain.enums import SLOStatus
from app.domain.models import SLO

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        slo = ["slo_id", "service"]
        self.sli = Gauge(
            "slo_sli_ratio", "Good/total over the SLO period (NaN-free: absent when no data).", slo, registry=r
        )
        self.target = Gauge("slo_objective_ratio", "The SLO's target as a ratio.", slo, registry=r)
        self.budget_remaining = Gauge(
            "slo_error_budget_remaining_ratio", "Fraction of the budget left.", slo, registry=r
        )
        self.budget_consumed = Gauge(
            "slo_error_budget_consumed_ratio", "Fraction of the budget spent.", slo, registry=r
        )
        self.burn_rate = Gauge("slo_burn_rate", "Burn rate per rolling window.", [*slo, "window"], registry=r)
        self.status = Gauge(
            "slo_status", "1 for the SLO's current status, 0 for the others.", [*slo, "status"], registry=r
        )
        self.firing = Gauge(
            "slo_alert_firing",
            "1 while an alert rule fires (burn-rate rules, SLIDataStale).",
            [*slo, "rule", "severity"],
            registry=r,
        )
        self.alert_events = Counter(
            "slo_worker_alert_events_total", "Alert transitions published, by state.", ["state"], registry=r
        )
        self.events_in = Counter("slo_worker_events_in_total", "Input records read.", registry=r)
        self.accepted = Counter("slo_worker_events_accepted_total", "SLI events counted.", registry=r)
        self.rejected = Counter(
            "slo_worker_events_rejected_total", "Records sent to the dead-letter topic.", ["reason"], registry=r
        )
        self.repartitioned = Counter(
            "slo_worker_events_repartitioned_total", "Records re-published under their slo_id key.", registry=r
        )
        self.status_out = Counter("slo_worker_status_events_total", "Status events published.", registry=r)
        self.latency = Histogram(
            "slo_worker_processing_latency_seconds",
            "From an input record's Kafka timestamp to its status event being acknowledged.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.lag = Gauge(
            "slo_worker_consumer_lag_records", "Records behind the partition's end.", ["partition"], registry=r
        )
        self.recovery = Gauge("slo_worker_recovery_seconds", "Duration of the last state recovery.", registry=r)
        self.timer_pass = Gauge("slo_timer_pass_seconds", "Duration of the last timer pass over every SLO.", registry=r)
        self.timer_longest_hold = Gauge(
            "slo_timer_longest_hold_seconds",
            "Longest the last timer pass held the worker's lock (the poll loop's worst wait on it).",
            registry=r,
        )
        self.partitions = Gauge("slo_worker_partitions_owned", "Input partitions this worker owns.", registry=r)
        sink = ["sink"]
        self.sink_delivered = Counter(
            "slo_sink_delivered_total", "Events a sink (alertmanager, pulsar) took.", sink, registry=r
        )
        self.sink_failures = Counter(
            "slo_sink_failures_total", "Failed deliveries to a sink (each is retried).", sink, registry=r
        )
        self.sink_invalid = Counter(
            "slo_sink_invalid_total",
            "Records on the alerts topic that are not alert events (skipped).",
            sink,
            registry=r,
        )
        self.sink_up = Gauge("slo_sink_up", "1 if the sink's last delivery succeeded, else 0.", sink, registry=r)
        self.read_model_up = Gauge(
            "slo_read_model_up", "1 if the Redis read model's last write or ping succeeded, else 0.", registry=r
        )
        self.read_model_failures = Counter(
            "slo_read_model_failures_total",
            "Failed Redis calls of the read model's writer (its writes are kept and retried).",
            registry=r,
        )
        self.read_model_pending = Gauge(
            "slo_read_model_pending_keys",
            "Redis keys whose latest write is not confirmed yet (staged or being written).",
            registry=r,
        )
        self._children: dict[str, _SloChildren] = {}

    def observe_slo(self, slo: SLO, report: SloReport) -> None:
        """Set the SLO's gauges (labelled children are looked up once per SLO and kept)."""
        children = self._children.get(slo.slo_id)
        if children is None:
            children = self._children[slo.slo_id] = _SloChildren(self, slo)
        budget = report.budget
        if budget.current_sli is not None:
            children.sli.set(budget.current_sli / 100)
        children.target.set(slo.target_percentage / 100)
        children.remaining.set(budget.remaining_ratio)
        children.consumed.set(budget.consumed_ratio)
        for window, rate in report.burn_rates.items():
            children.burn[window].set(rate)
        if children.status_now is not report.status:
            for status, child in children.status.items():
                child.set(1.0 if status is report.status else 0.0)
            children.status_now = report.status
        firing = {(c.rule, c.severity.value) for c in report.conditions}
        if firing or children.firing_seen:
            for rule, severity in children.firing_seen | firing:
                self.firing.labels(slo.slo_id, slo.service_name, rule, severity).set(
                    1.0 if (rule, severity) in firing else 0.0
                )
            children.firing_seen |= firing

    def forget_slo(self, slo: SLO) -> None:
        """Drop every series of the SLO, whatever its service label was: the per-window,
        per-status and per-rule ones too, so a deleted SLO stops being exported."""
        self._children.pop(slo.slo_id, None)
        per_slo = (self.sli, self.target, self.budget_remaining, self.budget_consumed)
        for gauge in (*per_slo, self.burn_rate, self.status, self.firing):
            stale = {
                tuple(sample.labels.values())
                for family in gauge.collect()
                for sample in family.samples
                if sample.labels.get("slo_id") == slo.slo_id
            }
            for labelvalues in stale:
                gauge.remove(*labelvalues)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _SloChildren:
    """The labelled gauge children of one SLO."""

    def __init__(self, m: WorkerMetrics, slo: SLO) -> None:
        labels = (slo.slo_id, slo.service_name)
        self.sli = m.sli.labels(*labels)
        self.target = m.target.labels(*labels)
        self.remaining = m.budget_remaining.labels(*labels)
        self.consumed = m.budget_consumed.labels(*labels)
        self.burn = {w: m.burn_rate.labels(*labels, w) for w in WINDOW_NAMES}
        self.status = {st: m.status.labels(*labels, st.value) for st in SLOStatus}
        self.status_now: SLOStatus | None = None
        self.firing_seen: set[tuple[str, str]] = set()
