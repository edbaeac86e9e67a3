"""Two workers in one group (8 partitions) with the Redis read model: whichever worker a
request lands on, status, error budget and history of every SLO are the same bodies,
with the values of `python -m app replay` at the instant they were evaluated.
"""

from __future__ import annotations

import dataclasses
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.api.helpers import (
    API,
    MINUTE_US,
    ApiWorker,
    assert_budget_equals_replay,
    assert_status_equals_replay,
    bucket_counts,
    history_counts,
    keyed_events,
    produce_and_wait,
    start_api_worker,
    wait_read_model_written,
)
from tests.stream.helpers import (
    PERIOD_S,
    US,
    Ev,
    Spawn,
    make_topology,
    partition_for,
    run_replay,
    slo_def,
    write_events,
)

pytestmark = pytest.mark.kafka

PARTITIONS = 8


def one_slo_per_partition() -> list[str]:
    """SLO ids whose keys hash to each of the 8 partitions once."""
    by_partition: dict[int, str] = {}
    i = 0
    while len(by_partition) < PARTITIONS:
        slo_id = f"multi-{i}"
        by_partition.setdefault(partition_for(slo_id.encode(), PARTITIONS), slo_id)
        i += 1
    return [by_partition[p] for p in range(PARTITIONS)]


def wait_split(a: ApiWorker, b: ApiWorker, timeout: float = 30.0) -> dict[str, set[int]]:
    """Until the two workers' latest assignments split the 8 partitions between them
    (both own some) and both are ready again after the rebalance."""
    deadline = time.monotonic() + timeout
    while True:
        latest = {w.process.label: set(w.process.assignments()[-1][1]) for w in (a, b) if w.process.assignments()}
        owned = list(latest.values())
        if (
            len(owned) == 2
            and all(owned)
            and not owned[0] & owned[1]
            and owned[0] | owned[1] == set(range(PARTITIONS))
            and all(w.http.get("/readyz").status_code == 200 for w in (a, b))
        ):
            return latest
        assert time.monotonic() < deadline, f"no stable split after {timeout}s: {latest}"
        time.sleep(0.1)


def scenario(slo_ids: list[str], now_s: float) -> list[Ev]:
    rng = random.Random(8)
    events = []
    for n, slo_id in enumerate(slo_ids):
        error_rate = [0.0, 0.0005, 0.002, 0.004, 0.02, 0.3, 0.001, 0.0][n]
        for age in range(1100, 10, -rng.randint(25, 45)):
            total = rng.randint(200, 400)
            bad = round(total * error_rate * rng.uniform(0.5, 1.5))
            ts_ms = int((now_s - age - rng.random()) * 1000)
            events.append(Ev(slo_id, ts_ms * 1000, total - bad, total, ts_ms / 1000))
    events.sort(key=lambda e: e.ts_us)
    return events


def iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.timeout(120)
def test_every_worker_answers_identically_for_every_slo(
    bootstrap: str, spawn: Spawn, redis_url: str, tmp_path: Path
) -> None:
    slo_ids = one_slo_per_partition()
    in_topology, through_api = slo_ids[::2], slo_ids[1::2]
    periods = ["ROLLING_30D", "ROLLING_7D", "ROLLING_30D", "ROLLING_24H"]
    definitions = {slo_id: slo_def(slo_id, 99.0, periods[i % 4]) for i, slo_id in enumerate(slo_ids)}
    topology = make_topology(
        tmp_path, [definitions[s] for s in in_topology], partitions=PARTITIONS, timer_interval_s=600
    )
    a = start_api_worker(spawn, bootstrap, topology, "api-pair-a", redis_url=redis_url)
    b = start_api_worker(spawn, bootstrap, topology, "api-pair-b", redis_url=redis_url)
    owned = wait_split(a, b)
    for worker in (a, b):  # both own some of these SLOs
        assert any(partition_for(s.encode(), PARTITIONS) in owned[worker.process.label] for s in slo_ids)

    # Half the SLOs are created through worker A; worker B learns them from the
    # definitions topic (every worker knows every definition).
    for slo_id in through_api:
        created = a.http.post(API, json=definitions[slo_id])
        assert created.status_code == 201, created.text
    deadline = time.monotonic() + 15
    while sorted(s["slo_id"] for s in b.http.get(API).json()["items"]) != sorted(slo_ids):
        assert time.monotonic() < deadline, "worker B never saw the SLOs created through worker A"
        time.sleep(0.05)
    assert a.http.get(API).json() == b.http.get(API).json()

    now_s = time.time()
    events = scenario(slo_ids, now_s)
    produce_and_wait(bootstrap, topology, keyed_events(events))
    wait_read_model_written(a, b)
    events_path = write_events(tmp_path / "events.jsonl", events)
    slos_path = tmp_path / "all-slos.yaml"
    slos_path.write_text(yaml.safe_dump({"slos": [a.http.get(f"{API}/{s}").json() for s in slo_ids]}))
    reference = dataclasses.replace(topology, slos_path=slos_path)
    replays: dict[str, dict[str, dict]] = {}

    start_s = (now_s // 60 - 20) * 60
    window = {"start_time": iso(start_s), "end_time": iso(start_s + 22 * 60)}
    for slo_id in slo_ids:
        responses = {}
        for what, params in [("status", {}), ("error-budget", {}), ("history", window)]:
            on_a = a.http.get(f"{API}/{slo_id}/{what}", params=params)
            on_b = b.http.get(f"{API}/{slo_id}/{what}", params=params)
            assert on_a.status_code == on_b.status_code == 200, (slo_id, what, on_a.text, on_b.text)
            assert on_a.json() == on_b.json(), f"{slo_id} {what}: workers differ\n A {on_a.text}\n B {on_b.text}"
            responses[what] = on_a.json()
        status, budget, history = responses["status"], responses["error-budget"], responses["history"]
        for body in (status, budget):
            at = body["last_updated"]
            if at not in replays:
                replays[at] = run_replay(reference, events_path, at)
            assert 0 <= datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() - now_s < 60
        assert_status_equals_replay(status, replays[status["last_updated"]][slo_id])
        period = definitions[slo_id]["time_period"]
        assert_budget_equals_replay(budget, replays[budget["last_updated"]][slo_id], PERIOD_S[period])
        expected = {e: c for e, c in bucket_counts(events, slo_id, MINUTE_US).items() if e > start_s * US}
        assert expected and history_counts(history) == expected, slo_id
    # The scenario spans the statuses, so equality is not only between HEALTHY twins.
    statuses = {a.http.get(f"{API}/{s}/status").json()["status"] for s in slo_ids}
    assert {"HEALTHY", "CRITICAL"} <= statuses
