"""Prometheus metrics of a worker, in its own registry (never the global one).

Per SLO (labels slo_id, service): SLI, budget remaining/consumed, burn rate per
window, status as a labelled 0/1 gauge, firing rules. Per worker: events in,
accepted, rejected by reason, status events out, end-to-end processing latency,
consumer lag per partition, recovery time; the Redis read model's health.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.core.evaluation import SloEvaluation
from app.domain.enums import SLOStatus
from app.domain.models import SLO

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.slos = SloGauges()  # per-SLO series, rendered at scrape time from the latest reports
        r.register(self.slos)
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

    def observe_slo(self, slo: SLO, report: SloEvaluation) -> None:
        """Keep the SLO's latest report: its gauges are rendered from it at scrape time, so
        a status event costs a dict write, not ~20 labelled gauge updates."""
        self.slos.observe(slo, report)

    def forget_slo(self, slo: SLO) -> None:
        """Drop every series of the SLO (the per-window, per-status and per-rule ones too),
        so a deleted SLO, or one that moved to another worker, stops being exported."""
        self.slos.forget(slo.slo_id)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class SloGauges(Collector):
    """The per-SLO gauges (labels slo_id, service), from each SLO's latest report."""

    def __init__(self) -> None:
        self.latest: dict[str, tuple[SLO, SloEvaluation]] = {}
        self.fired: dict[str, set[tuple[str, str]]] = {}  # rules seen firing: exported as 0 once they stop

    def observe(self, slo: SLO, report: SloEvaluation) -> None:
        self.latest[slo.slo_id] = (slo, report)
        if report.conditions:
            self.fired.setdefault(slo.slo_id, set()).update((c.rule, c.severity.value) for c in report.conditions)

    def forget(self, slo_id: str) -> None:
        self.latest.pop(slo_id, None)
        self.fired.pop(slo_id, None)

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        sli, target, remaining, consumed, burn, status, firing = families
        for slo_id, (slo, report) in list(self.latest.items()):
            labels = [slo_id, slo.service_name]
            budget = report.budget
            if budget.current_sli is not None:
                sli.add_metric(labels, budget.current_sli / 100)
            target.add_metric(labels, slo.target_percentage / 100)
            remaining.add_metric(labels, budget.remaining_ratio)
            consumed.add_metric(labels, budget.consumed_ratio)
            for window, rate in report.burn_rates.items():
                burn.add_metric([*labels, window], rate)
            for st in SLOStatus:
                status.add_metric([*labels, st.value], 1.0 if st is report.status else 0.0)
            now = {(c.rule, c.severity.value) for c in report.conditions}
            for rule, severity in sorted(self.fired.get(slo_id, set()) | now):
                firing.add_metric([*labels, rule, severity], 1.0 if (rule, severity) in now else 0.0)
        return iter(families)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        slo = ["slo_id", "service"]
        return [
            GaugeMetricFamily(
                "slo_sli_ratio", "Good/total over the SLO period (NaN-free: absent when no data).", labels=slo
            ),
            GaugeMetricFamily("slo_objective_ratio", "The SLO's target as a ratio.", labels=slo),
            GaugeMetricFamily("slo_error_budget_remaining_ratio", "Fraction of the budget left.", labels=slo),
            GaugeMetricFamily("slo_error_budget_consumed_ratio", "Fraction of the budget spent.", labels=slo),
            GaugeMetricFamily("slo_burn_rate", "Burn rate per rolling window.", labels=[*slo, "window"]),
            GaugeMetricFamily(
                "slo_status", "1 for the SLO's current status, 0 for the others.", labels=[*slo, "status"]
            ),
            GaugeMetricFamily(
                "slo_alert_firing",
                "1 while an alert rule fires (burn-rate rules, SLIDataStale).",
                labels=[*slo, "rule", "severity"],
            ),
        ]
