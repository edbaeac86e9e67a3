"""End to end: a replay scenario produced to the metrics topic; the worker's last status
event of each SLO equals `python -m app replay` evaluated at the same instant.

The same scenario runs against real Apache Kafka through testcontainers where a
Docker engine is reachable.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from app.domain.enums import SLOStatus
from app.domain.messages import StatusEvent
from tests.stream.helpers import (
    DAY_S,
    ROOT,
    US,
    WINDOW_S,
    Ev,
    Producer,
    Spawn,
    TopicReader,
    Topology,
    WorkerProcess,
    assert_matches_replay,
    close,
    exact_burn_rate,
    keyed,
    last_status,
    make_topology,
    parse_instant_us,
    period_counts,
    run_replay,
    slo_def,
    status_events,
    wait_caught_up,
    write_events,
)

CHECKOUT, SEARCH, PAYMENTS = "checkout-availability", "search-latency", "payments-errors"
SLOS = [
    slo_def(CHECKOUT, 99.9, "ROLLING_30D"),
    slo_def(SEARCH, 99.0, "CALENDAR_MONTH"),
    slo_def(PAYMENTS, 99.5, "ROLLING_7D"),
]

# Bucket quantization: the engine counts in buckets of W/60 (5 s for 5m, 30 s for 30m,
# 1 min for 1h..24h, 1 h for 3d..30d) on a grid anchored at the epoch, so only the
# partial bucket at a window's far edge (now - W) may differ from the contract's exact
# window. Worker and replay share that grid, so at the same instant they agree bucket
# for bucket whatever the timestamps; to ALSO check the worker against the exact
# definition (brute force below), no event lies within 30 s of any far edge for an
# evaluation up to 30 s after the scenario's `now`: the recent events span the last
# 20 minutes minus a gap around now - 5m, and the one old event sits at now - 2 days,
# far from the 24h and 3d edges.
FAR_EDGE_GAP_S = (5 * 60 - 30, 5 * 60 + 30)
MAX_EVALUATION_LAG_S = 30


def scenario(now_s: float) -> tuple[list[Ev], list[Ev]]:
    """(in-order events, late events produced last). Timestamps on whole milliseconds."""
    rng = random.Random(20261123)
    events: list[Ev] = []

    def add(slo_id: str, age_s: float, good: int, total: int, rfc3339: bool = False) -> Ev:
        ts_ms = int((now_s - age_s) * 1000)
        wire: float | str = ts_ms / 1000
        if rfc3339:
            dt = datetime.fromtimestamp(ts_ms / 1000, UTC)
            wire = dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"
        return Ev(slo_id, ts_ms * 1000, good, total, wire)

    def recent(age_s: float) -> bool:
        return not FAR_EDGE_GAP_S[0] <= age_s <= FAR_EDGE_GAP_S[1]

    # checkout: a large, clean history 2 days ago (so the budget survives the
    # incident), steady traffic for 20 minutes, then 4 minutes at ~30% errors: the
    # 1h and 5m burn rates pass 14.4 -> the page rule fires -> CRITICAL.
    events.append(add(CHECKOUT, 2 * DAY_S, 20_000_000, 20_000_000, rfc3339=True))
    for age in range(1200, 240, -12):
        total = rng.randint(900, 1100)
        if recent(age):
            events.append(add(CHECKOUT, age + rng.random(), total - rng.randint(0, 2), total))
    for age in range(240, 4, -12):
        events.append(add(CHECKOUT, age + rng.random(), 1000 - rng.randint(250, 350), 1000))
    # search (calendar month, 99%): 0.5% errors -> HEALTHY; RFC 3339 timestamps.
    for age in range(1190, 9, -20):
        total = rng.randint(500, 700)
        if recent(age):
            events.append(add(SEARCH, age + rng.random(), total - total // 200, total, rfc3339=True))
    # payments (7 days, 99.5%): 3 or 4 bad in 800 -> ~87% of the budget spent -> WARNING.
    for i, age in enumerate(range(1195, 9, -20)):
        if recent(age):
            events.append(add(PAYMENTS, age + rng.random(), 800 - 3 - i % 2, 800))
    events.sort(key=lambda e: e.ts_us)
    # Late and out of order: produced after everything newer.
    late = [
        add(SEARCH, 1150.5, 690, 700, rfc3339=True),
        add(PAYMENTS, 600.25, 796, 800),
        add(CHECKOUT, 900.75, 1000, 1000),
    ]
    return events, late


async def run_scenario(bootstrap: str, topology: Topology, worker: WorkerProcess, tmp_path: Path) -> None:
    await worker.ready()
    now_s = time.time()
    events, late = scenario(now_s)
    everything = events + late
    events_path = write_events(tmp_path / "events.jsonl", everything)
    async with (
        Producer(bootstrap) as producer,
        TopicReader(bootstrap, topology.metrics) as metrics,
        TopicReader(bootstrap, topology.status) as status,
    ):
        await producer.send(topology.metrics, keyed(e.to_bytes() for e in events))
        await producer.send(topology.metrics, keyed(e.to_bytes() for e in late))
        # Every record processed and committed -> the last status per SLO reflects all.
        await wait_caught_up(bootstrap, topology, metrics, timeout=60)
        await status.read_to_end()
    finals = last_status(status.records)
    assert set(finals) == {CHECKOUT, SEARCH, PAYMENTS}

    replays: dict[str, dict[str, dict]] = {}  # evaluated_at -> replay output (one run per instant)
    for slo_id, event in finals.items():
        at = event["evaluated_at"]
        if at not in replays:
            replays[at] = run_replay(topology, events_path, at)
        assert_matches_replay(event, replays[at][slo_id])

        # And against the contract itself, by brute force over the events.
        at_us = parse_instant_us(at)
        lag_s = at_us / US - now_s
        assert 0 <= lag_s < MAX_EVALUATION_LAG_S, f"evaluated {lag_s:.1f}s after the scenario's now"
        u = event["slo_status_update"]
        slo = topology.slo(slo_id)
        good, total = period_counts(slo, everything, at_us)
        assert (u["good_events"], u["total_events"]) == (good, total), slo_id
        close(u["current_sli"], 100 * good / total, f"{slo_id}.current_sli (exact)")
        for window in WINDOW_S:
            exact = exact_burn_rate(slo, everything, at_us, window)
            close(u["burn_rates"][window], exact, f"{slo_id}.burn_rates[{window}] (exact)")

    # The scenario's intent, so a change that broke the scenario itself shows up here.
    checkout = finals[CHECKOUT]["slo_status_update"]
    assert checkout["status"] == "CRITICAL"
    assert "page-1h-5m" in checkout["firing_alerts"]
    assert checkout["burn_rates"]["5m"] > 14.4 and checkout["burn_rates"]["1h"] > 14.4
    assert 0.1 < checkout["error_budget_remaining"] < 1
    assert finals[SEARCH]["slo_status_update"]["status"] == "HEALTHY"
    payments = finals[PAYMENTS]["slo_status_update"]
    assert payments["status"] == "WARNING"
    assert 0.1 < payments["error_budget_remaining"] < 0.25
    # Sequences: per SLO, strictly increasing from 1 with no crash in between.
    for slo_id in finals:
        published = status_events(status.records)
        seqs = [e["sequence"] for e in published if e["slo_status_update"]["slo_id"] == slo_id]
        assert seqs == list(range(1, len(seqs) + 1)), (slo_id, seqs)


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_end_to_end_matches_replay(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, SLOS, partitions=4)
    worker = spawn(bootstrap, topology, "e2e")
    asyncio.run(run_scenario(bootstrap, topology, worker, tmp_path))


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_end_to_end_matches_replay_on_noida(noida_bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    """The same on the embedded default broker (noida-db), which refuses sessions under 6 s."""
    topology = make_topology(tmp_path, SLOS, partitions=4)
    worker = spawn(noida_bootstrap, topology, "e2e-noida", {"SLO_SESSION_TIMEOUT_MS": "6000"})
    asyncio.run(run_scenario(noida_bootstrap, topology, worker, tmp_path))


def _docker_or_skip() -> None:
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine reachable: real-Kafka test skipped ({type(exc).__name__})")


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_end_to_end_on_real_kafka(spawn: Spawn, tmp_path: Path) -> None:
    _docker_or_skip()
    try:  # testcontainers >= 4.x moved it; testcontainers.kafka is a deprecated alias
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:
        from testcontainers.kafka import KafkaContainer

    with KafkaContainer() as kafka:
        bootstrap = kafka.get_bootstrap_server()
        topology = make_topology(tmp_path, SLOS, partitions=4)
        worker = spawn(bootstrap, topology, "e2e-kafka")
        asyncio.run(run_scenario(bootstrap, topology, worker, tmp_path))


# -- replay --emit-all publishes what a worker publishes ---------------------------------
EMIT_SLOS = [slo_def(CHECKOUT, 99.9, "ROLLING_30D"), slo_def(SEARCH, 99.0, "CALENDAR_MONTH")]


def emit_scenario(base_s: float) -> list[Ev]:
    """Events stamped ahead of the wall clock (within max_skew_s), in time order: the worker
    then evaluates each SLO at its newest event's time, as replay does, so the two agree
    figure for figure. Checkout first spends half its budget (it runs out in 30 days at
    that rate), then a burst makes it page."""
    plan = [(CHECKOUT, 1000, 1000), (SEARCH, 500, 500), (CHECKOUT, 999, 1000), (SEARCH, 490, 500)]
    plan += [(CHECKOUT, 700, 1000), (CHECKOUT, 650, 1000), (SEARCH, 500, 500), (CHECKOUT, 1000, 1000)]
    out = []
    for i, (slo_id, good, total) in enumerate(plan):
        ts_ms = int((base_s + 1.5 * i) * 1000)
        out.append(Ev(slo_id, ts_ms * 1000, good, total, ts_ms / 1000))
    return out


async def publish_one_by_one(bootstrap: str, topology: Topology, events: list[Ev]) -> list[StatusEvent]:
    """Each event alone, its status event awaited before the next is sent: one batch
    per event, as replay --emit-all evaluates after every event."""
    async with Producer(bootstrap) as producer, TopicReader(bootstrap, topology.status) as status:
        for n, event in enumerate(events, 1):
            await producer.send(topology.metrics, keyed([event.to_bytes()]))
            await status.wait_until(lambda records, n=n: len(records) >= n, 30, f"status event {n}")
        return [msgspec.json.decode(r.value, type=StatusEvent) for r in status.records]


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_replay_emit_all_prints_the_events_the_worker_publishes(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, EMIT_SLOS, partitions=2, timer_interval_s=600)
    worker = spawn(bootstrap, topology, "emit-all")
    asyncio.run(worker.ready())
    events = emit_scenario(time.time() + 120)
    published = asyncio.run(publish_one_by_one(bootstrap, topology, events))
    assert time.time() < events[0].ts_us / US, "the scenario must stay ahead of the wall clock"
    path = write_events(tmp_path / "emit.jsonl", events)
    done = subprocess.run(
        [sys.executable, "-m", "app", "replay", "--slos", str(topology.slos_path), "--events", str(path), "--emit-all"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=True,
    )
    replayed = [msgspec.json.decode(line, type=StatusEvent) for line in done.stdout.splitlines()]
    assert len(replayed) == len(published) == len(events)
    for live, offline in zip(published, replayed, strict=True):
        # The one field of a worker's own: its wall clock when it processed the batch
        # (replay's clock is the evaluation instant). Every other field is equal.
        assert parse_instant_us(live.timestamp) <= parse_instant_us(live.evaluated_at)
        assert msgspec.structs.replace(live, timestamp=offline.timestamp) == offline
    # 1 bad event of 2,000 against 2 allowed: half the budget left, burn rate 0.5
    half = published[2].slo_status_update
    assert (half.time_to_exhaustion, half.time_to_exhaustion_seconds) == ("30d", 30 * DAY_S)
    paged = published[5].slo_status_update
    assert (paged.status, paged.firing_alerts[0], paged.time_to_exhaustion) == (SLOStatus.EXHAUSTED, "page-1h-5m", "0m")
    assert paged.alert_triggered and paged.recommendations
