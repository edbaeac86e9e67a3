"""The worker's Prometheus metrics as /metrics exposes them (unit level, no worker):
their own registry, Prometheus naming, and an SLO's series dropped when it is forgotten.
The end-to-end values are in test_api_end_to_end.py.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from app.core.evaluation import SloEvaluation, evaluate
from app.core.state import WindowState
from app.domain.models import SLO
from app.domain.views import objective_of
from app.stream.metrics import WorkerMetrics

NOW_US = 1_790_000_000_000_000


def slo(slo_id: str, service: str = "shop") -> SLO:
    return SLO(
        slo_id=slo_id,
        slo_name=slo_id,
        service_name=service,
        slo_type="AVAILABILITY",
        target_percentage=99.9,
        time_period="ROLLING_30D",
    )


def report(definition: SLO, good: int, total: int) -> SloEvaluation:
    state = WindowState(NOW_US)
    state.add(NOW_US - 60_000_000, good, total)
    return evaluate(objective_of(definition), state)


def series(metrics: WorkerMetrics) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    text = metrics.render().decode()
    return {
        (s.name, frozenset(s.labels.items())) for family in text_string_to_metric_families(text) for s in family.samples
    }


def test_own_registry_and_prometheus_names() -> None:
    metrics = WorkerMetrics()
    metrics.observe_slo(slo("a"), report(slo("a"), 700, 1000))
    metrics.rejected.labels("invalid_json").inc()
    families = list(text_string_to_metric_families(metrics.render().decode()))
    names = {f.name for f in families}
    global_names = {f.name for f in prometheus_client.REGISTRY.collect()}
    assert not names & global_names, "worker metrics leaked into the global registry"
    for family in families:
        assert family.name.startswith("slo_"), family.name
        if family.type == "counter":  # labelled counters have no sample until first used
            assert all(s.name in (f"{family.name}_total", f"{family.name}_created") for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
    assert {"slo_status", "slo_burn_rate", "slo_worker_events_in", "slo_worker_processing_latency_seconds"} <= names


def test_forget_slo_drops_every_series_of_that_slo_only() -> None:
    metrics = WorkerMetrics()
    burning, calm = slo("burning"), slo("calm", service="other")
    metrics.observe_slo(burning, report(burning, 700, 1000))  # 30% errors: rules fire
    metrics.observe_slo(calm, report(calm, 1000, 1000))
    before = series(metrics)
    of_burning = {s for s in before if ("slo_id", "burning") in s[1]}
    assert {name for name, _ in of_burning} == {
        "slo_sli_ratio",
        "slo_objective_ratio",
        "slo_error_budget_remaining_ratio",
        "slo_error_budget_consumed_ratio",
        "slo_burn_rate",
        "slo_status",
        "slo_alert_firing",
    }
    metrics.forget_slo(burning)
    assert series(metrics) == before - of_burning
    metrics.forget_slo(burning)  # twice, or never observed: nothing to do
    metrics.forget_slo(slo("never-seen"))
    # Observed again (e.g. re-created), it comes back whole.
    metrics.observe_slo(burning, report(burning, 700, 1000))
    assert series(metrics) == before
