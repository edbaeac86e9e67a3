"""End to end through the HTTP API of one worker (embedded broker, no Redis): SLOs created
with POST, events produced to the metrics topic, then status, error budget and history
read back over HTTP with exactly the values of `python -m app replay` at the same instant,
and /metrics showing what the worker did.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.api.helpers import (
    API,
    HOUR_US,
    MINUTE_US,
    assert_budget_equals_replay,
    assert_status_equals_replay,
    bucket_counts,
    history_counts,
    keyed_events,
    metric_samples,
    produce_and_wait,
    sample,
    start_api_worker,
)
from tests.stream.helpers import (
    DAY_S,
    PERIOD_S,
    US,
    WINDOW_S,
    Ev,
    Msg,
    Spawn,
    event_bytes,
    last_status,
    make_topology,
    parse_instant_us,
    run_replay,
    slo_def,
    write_events,
)

pytestmark = pytest.mark.kafka

CHECKOUT, SEARCH, PAYMENTS, SEED = "api-checkout", "api-search", "api-payments", "seed-topology"
CREATED = [
    {**slo_def(CHECKOUT, 99.9, "ROLLING_30D"), "service_name": "checkout", "slo_type": "AVAILABILITY"},
    {**slo_def(SEARCH, 99.0, "ROLLING_30D"), "service_name": "search", "slo_type": "LATENCY"},
    {**slo_def(PAYMENTS, 99.5, "ROLLING_7D"), "service_name": "payments", "slo_type": "ERROR_RATE"},
]
# Evaluations happen within this long after the scenario's `now`; no event lies within
# 30 s of the 5m window's far edge for any of them, so the statuses stay put meanwhile
# (5m counts in 5 s buckets, the windows from 1h up in 1 min buckets, all far from events).
FAR_EDGE_GAP_S = (5 * 60 - 40, 5 * 60 + 40)


def scenario(now_s: float) -> list[Ev]:
    """Timestamps on whole milliseconds in the last 20 minutes (and one 2 days ago)."""
    rng = random.Random(4)
    events: list[Ev] = []

    def add(slo_id: str, age_s: float, good: int, total: int) -> None:
        ts_ms = int((now_s - age_s) * 1000)
        events.append(Ev(slo_id, ts_ms * 1000, good, total, ts_ms / 1000))

    def clear_of_edges(age_s: float) -> bool:
        return not FAR_EDGE_GAP_S[0] <= age_s <= FAR_EDGE_GAP_S[1]

    # checkout: a clean history 2 days ago, 16 quiet minutes, then 4 minutes at ~30%
    # errors: the 1h and 5m burn rates pass 14.4 -> page-1h-5m fires -> CRITICAL.
    add(CHECKOUT, 2 * DAY_S, 20_000_000, 20_000_000)
    for age in range(1200, 240, -12):
        total = rng.randint(900, 1100)
        if clear_of_edges(age):
            add(CHECKOUT, age + rng.random(), total - rng.randint(0, 2), total)
    for age in range(240, 4, -12):
        add(CHECKOUT, age + rng.random(), 1000 - rng.randint(250, 350), 1000)
    # search (30 days, 99%): 0.5% errors -> HEALTHY.
    for age in range(1190, 9, -20):
        total = rng.randint(500, 700)
        if clear_of_edges(age):
            add(SEARCH, age + rng.random(), total - total // 200, total)
    # payments (7 days, 99.5%): 3 or 4 bad in 800 -> ~87% of the budget spent -> WARNING.
    for i, age in enumerate(range(1195, 9, -20)):
        if clear_of_edges(age):
            add(PAYMENTS, age + rng.random(), 800 - 3 - i % 2, 800)
    events.sort(key=lambda e: e.ts_us)
    return events


def iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.timeout(120)
def test_created_slos_report_exactly_what_replay_computes(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def(SEED, 99.0, "ROLLING_7D")], partitions=4, timer_interval_s=600)
    api = start_api_worker(spawn, bootstrap, topology, "api-e2e")
    http = api.http

    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}

    # Create the SLOs; the answer is the stored definition, defaults filled in.
    for body in CREATED:
        created = http.post(API, json=body)
        assert created.status_code == 201, created.text
        assert created.json() == {**_defaults(), **body}
        assert http.get(f"{API}/{body['slo_id']}").json() == created.json()
    duplicate = http.post(API, json={**CREATED[0], "slo_name": "again"})
    assert duplicate.status_code == 409, duplicate.text
    assert CHECKOUT in duplicate.json()["detail"]
    assert http.get(f"{API}/{CHECKOUT}").json()["slo_name"] == CREATED[0]["slo_name"]  # unchanged
    # No data yet: the contract's empty status (HEALTHY, no SLI, a zero budget), not a 404.
    empty = http.get(f"{API}/{CHECKOUT}/status")
    assert empty.status_code == 200, empty.text
    assert (empty.json()["current_sli"], empty.json()["status"], empty.json()["total_budget"]) == (None, "HEALTHY", 0)

    # Produce: every event keyed by its slo_id, plus two that the worker rejects.
    now_s = time.time()
    events = scenario(now_s)
    bad = [
        Msg(b"nobody", event_bytes("nobody", now_s - 30, 1, 1)),  # unknown_slo
        Msg(SEARCH.encode(), event_bytes(SEARCH, now_s - 30, 5, 4)),  # good_exceeds_total
    ]
    status_records = produce_and_wait(bootstrap, topology, [*keyed_events(events), *bad])
    events_path = write_events(tmp_path / "events.jsonl", events)
    slos_path = tmp_path / "created-slos.yaml"
    slos_path.write_text(yaml.safe_dump({"slos": [http.get(f"{API}/{s['slo_id']}").json() for s in CREATED]}))
    reference = dataclasses.replace(topology, slos_path=slos_path)

    # Status and error budget: each evaluated at its request's instant (last_updated);
    # replay at that instant gives the same figures, field for field.
    replays: dict[str, dict[str, dict[str, Any]]] = {}

    def replay_at(at: str) -> dict[str, dict[str, Any]]:
        if at not in replays:
            replays[at] = run_replay(reference, events_path, at)
        return replays[at]

    statuses = {}
    for body in CREATED:
        slo_id = body["slo_id"]
        status = http.get(f"{API}/{slo_id}/status")
        assert status.status_code == 200, status.text
        statuses[slo_id] = status.json()
        lag_s = parse_instant_us(statuses[slo_id]["last_updated"]) / US - now_s
        assert 0 <= lag_s < 40, f"evaluated {lag_s:.1f}s after the scenario's now"
        assert_status_equals_replay(statuses[slo_id], replay_at(statuses[slo_id]["last_updated"])[slo_id])
        budget = http.get(f"{API}/{slo_id}/error-budget")
        assert budget.status_code == 200, budget.text
        assert budget.json()["time_period"] == body["time_period"]
        assert_budget_equals_replay(
            budget.json(), replay_at(budget.json()["last_updated"])[slo_id], PERIOD_S[body["time_period"]]
        )
    # The scenario's intent, so that a change that breaks the scenario itself shows.
    assert statuses[CHECKOUT]["status"] == "CRITICAL"
    assert "page-1h-5m" in [a["name"] for a in statuses[CHECKOUT]["firing_alerts"]]
    assert statuses[CHECKOUT]["burn_rates"]["5m"] > 14.4 and statuses[CHECKOUT]["burn_rates"]["1h"] > 14.4
    assert statuses[SEARCH]["status"] == "HEALTHY"
    assert statuses[PAYMENTS]["status"] == "WARNING"
    assert set(statuses[CHECKOUT]["burn_rates"]) == set(WINDOW_S)

    # History: the 1-minute points over the last half hour hold exactly the per-minute
    # counts produced; hourly points over 3 days include the 2-day-old event.
    start_s = (now_s // 60 - 30) * 60
    for body in CREATED:
        slo_id = body["slo_id"]
        params = {"start_time": iso(start_s), "end_time": iso(start_s + 33 * 60)}
        points = http.get(f"{API}/{slo_id}/history", params=params)
        assert points.status_code == 200, points.text
        expected = {
            end: counts for end, counts in bucket_counts(events, slo_id, MINUTE_US).items() if end > start_s * US
        }
        assert expected and history_counts(points.json()) == expected, slo_id
        target = body["target_percentage"]
        for p in points.json():
            assert p["slo_id"] == slo_id and p["interval_seconds"] == 60
            assert parse_instant_us(p["timestamp"]) % MINUTE_US == 0
            assert p["sli_value"] == (100 * p["good_events"] / p["total_events"] if p["total_events"] else None)
            assert p["is_good"] == (None if p["sli_value"] is None else p["sli_value"] >= target)
            good, total = p["good_events"], p["total_events"]
            allowed = (100 - Fraction(str(target))) / 100  # the budget, exactly as written
            bad_share = Fraction(total - good, total) if total else Fraction(0)
            assert p["burn_rate"] == pytest.approx(float(bad_share / allowed), rel=1e-12)
            assert p["error_budget_consumed"] == pytest.approx(float(bad_share / allowed), rel=1e-12)
        verdicts = {p["is_good"] for p in points.json()}
        assert verdicts == ({True, False, None} if slo_id == CHECKOUT else {True, None}), (slo_id, verdicts)
        # The per-minute sums add up to what was produced.
        produced = [e for e in events if e.slo_id == slo_id and e.ts_us > start_s * US]
        assert sum(p["total_events"] for p in points.json()) == sum(e.total for e in produced)
        assert sum(p["good_events"] for p in points.json()) == sum(e.good for e in produced)
    hourly_start_s = (now_s // 3600 - 72) * 3600
    params = {"start_time": iso(hourly_start_s), "end_time": iso(hourly_start_s + 74 * 3600), "step": "3600"}
    hourly = http.get(f"{API}/{CHECKOUT}/history", params=params)
    assert hourly.status_code == 200, hourly.text
    assert {p["interval_seconds"] for p in hourly.json()} == {3600}
    assert history_counts(hourly.json()) == bucket_counts(events, CHECKOUT, HOUR_US)

    # The list, filtered by the live status, the service and the type.
    def listed(**params: Any) -> list[str]:
        page = http.get(API, params=params)
        assert page.status_code == 200, page.text
        return [s["slo_id"] for s in page.json()["items"]]

    assert listed() == sorted([CHECKOUT, SEARCH, PAYMENTS, SEED])
    assert listed(status="CRITICAL") == [CHECKOUT]
    assert listed(status="WARNING") == [PAYMENTS]
    assert listed(status="HEALTHY") == [SEARCH, SEED]  # SEED has no data: HEALTHY
    assert listed(status="EXHAUSTED") == []
    assert listed(service_name="search") == [SEARCH]
    assert listed(slo_type="ERROR_RATE") == [PAYMENTS]
    assert listed(slo_type="AVAILABILITY", status="CRITICAL") == [CHECKOUT]

    # /metrics: the worker's counters and the per-SLO gauges of its last status events.
    metrics = http.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    samples = metric_samples(metrics.text)
    assert sample(samples, "slo_worker_events_in_total") == len(events) + len(bad)
    assert sample(samples, "slo_worker_events_accepted_total") == len(events)
    assert sample(samples, "slo_worker_events_rejected_total", reason="unknown_slo") == 1
    assert sample(samples, "slo_worker_events_rejected_total", reason="good_exceeds_total") == 1
    assert sample(samples, "slo_worker_status_events_total") == len(status_records)
    assert sample(samples, "slo_worker_partitions_owned") == 4
    assert sample(samples, "slo_worker_recovery_seconds") >= 0
    count = sample(samples, "slo_worker_processing_latency_seconds_count")
    assert count >= 1
    assert sample(samples, "slo_worker_processing_latency_seconds_bucket", le="+Inf") == count
    assert sample(samples, "slo_worker_processing_latency_seconds_bucket", le="5.0") <= count
    assert sample(samples, "slo_worker_processing_latency_seconds_sum") > 0
    for slo_id, event in last_status(status_records).items():
        update = event["slo_status_update"]
        service = update["service_name"]
        for status_value in ("HEALTHY", "WARNING", "CRITICAL", "EXHAUSTED"):
            expected_flag = 1.0 if status_value == update["status"] else 0.0
            assert sample(samples, "slo_status", slo_id=slo_id, service=service, status=status_value) == expected_flag
        for window, rate in update["burn_rates"].items():
            assert sample(samples, "slo_burn_rate", slo_id=slo_id, service=service, window=window) == rate
        assert sample(samples, "slo_sli_ratio", slo_id=slo_id, service=service) == update["current_sli"] / 100
        assert (
            sample(samples, "slo_error_budget_remaining_ratio", slo_id=slo_id, service=service)
            == update["error_budget_remaining"]
        )
    assert sample(samples, "slo_status", slo_id=CHECKOUT, service="checkout", status="CRITICAL") == 1
    assert (
        sample(samples, "slo_alert_firing", slo_id=CHECKOUT, service="checkout", rule="page-1h-5m", severity="page")
        == 1
    )


def _defaults() -> dict[str, Any]:
    return {
        "sli_query": "",
        "description": "",
        "enabled": True,
        "critical_budget_ratio": 0.1,
        "warning_budget_ratio": 0.25,
        "burn_rate_rules": None,
        "min_short_window_events": 10,
        "no_data_alert_after_s": 600,
        "alert_rules": [],
        "budget_policy": None,  # the default error-budget policy
        "sli": None,  # no structured SLI (sli_query is the seed form)
    }


@pytest.mark.timeout(60)
def test_a_deleted_slo_leaves_no_metrics(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [], partitions=2, timer_interval_s=600)
    http = start_api_worker(spawn, bootstrap, topology, "api-forget").http
    slo_id = "forget-me"
    assert http.post(API, json=slo_def(slo_id)).status_code == 201
    now_s = time.time()
    produce_and_wait(bootstrap, topology, keyed_events([Ev(slo_id, int(now_s - 5) * US, 9, 10, int(now_s - 5))]))

    def exported() -> bool:
        samples = metric_samples(http.get("/metrics").text)
        return any(("slo_id", slo_id) in labels for _, labels in samples)

    assert exported()
    assert http.delete(f"{API}/{slo_id}").status_code == 204
    assert not exported(), "a deleted SLO's gauges are still exported"


@pytest.mark.timeout(60)
def test_a_re_created_slo_starts_empty_in_the_read_model_too(
    bootstrap: str, spawn: Spawn, redis_url: str, tmp_path: Path
) -> None:
    """Deleting an SLO tombstones its state (changelog and Redis): re-creating the id
    does not bring the old windows back."""
    topology = make_topology(tmp_path, [], partitions=2, timer_interval_s=0.3)
    worker = start_api_worker(spawn, bootstrap, topology, "api-recreate", redis_url=redis_url)
    http = worker.http
    slo_id = "born-again"
    assert http.post(API, json=slo_def(slo_id)).status_code == 201
    now_s = time.time()
    produce_and_wait(bootstrap, topology, keyed_events([Ev(slo_id, int(now_s - 5) * US, 9, 10, int(now_s - 5))]))
    deadline = time.monotonic() + 10
    while http.get(f"{API}/{slo_id}/status").json()["current_sli"] is None:
        assert time.monotonic() < deadline, "no status for the first incarnation"
        time.sleep(0.05)
    assert http.get(f"{API}/{slo_id}/error-budget").json()["consumed_budget"] == 1

    assert http.delete(f"{API}/{slo_id}").status_code == 204
    asyncio.run(worker.process.wait_ticks(2))  # a whole timer pass after the deletion purges its state
    assert http.post(API, json=slo_def(slo_id)).status_code == 201
    fresh = http.get(f"{API}/{slo_id}/status")  # no data for the new one yet
    assert (fresh.status_code, fresh.json()["current_sli"], fresh.json()["consumed_budget"]) == (200, None, 0)
    now_s = time.time()
    produce_and_wait(bootstrap, topology, keyed_events([Ev(slo_id, int(now_s - 1) * US, 5, 5, int(now_s - 1))]))
    deadline = time.monotonic() + 10
    while http.get(f"{API}/{slo_id}/status").json()["current_sli"] is None:
        assert time.monotonic() < deadline, "no status for the second incarnation"
        time.sleep(0.05)
    assert http.get(f"{API}/{slo_id}/error-budget").json()["consumed_budget"] == 0
    status = http.get(f"{API}/{slo_id}/status").json()
    assert status["current_sli"] == 100.0 and status["remaining_budget"] == pytest.approx(0.005)
