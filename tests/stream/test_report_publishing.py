"""Automated reports: the real worker (in process, on a clock the test moves, real broker and
changelog) publishes each closed month once: one report event per SLO and one rollup per
service and for all, equal to `python -m app report` on the same events; a restart after the
month end publishes nothing again; a worker stopped before the month end publishes it after
its restart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.clock import ManualClock
from app.stream.worker import Worker
from tests.stream.helpers import US, Producer, TopicReader, Topology, event_bytes, keyed, make_topology, slo_def
from tests.stream.inprocess import advance_and_tick, running_worker
from tests.test_report_cli import run as run_report

pytestmark = pytest.mark.kafka


@pytest.fixture
def bootstrap(noida_bootstrap: str) -> str:
    """One worker at a time (restarts with a clean leave): the embedded default broker, whose
    fetches do not slow down with what it holds, as Tansu's do."""
    return noida_bootstrap

STEP_S = 300
START_S = int(datetime(2026, 11, 30, 22, tzinfo=UTC).timestamp())  # two hours before December
SLOS = [
    slo_def("pay-api", 99.9, "CALENDAR_MONTH", service_name="pay"),
    slo_def("pay-web", 99.0, "ROLLING_30D", service_name="pay"),
    slo_def("search-api", 99.5, "ROLLING_30D", service_name="search"),
    slo_def("search-idle", 99.0, "ROLLING_30D", service_name="search"),  # never gets an event: no_data
]
EXPECTED_RECORDS = 4 + 3  # an event per SLO, rollups of pay, search and all


def _step_events(i: int) -> list[bytes]:
    """One event a minute per busy SLO in (t, t + 5 min]; pay-api burns in steps 8-13."""
    out = []
    for m in range(1, 6):
        ts = START_S + i * STEP_S + 60 * m
        bad = 30 if 8 <= i < 14 else 0
        out.append(event_bytes("pay-api", ts, 1000 - bad, 1000))
        out.append(event_bytes("pay-web", ts, 500 - (1 if m == 2 else 0), 500))
        out.append(event_bytes("search-api", ts, 200, 200))
    return out


def _counted(worker: Worker) -> int:
    n = 0
    for store in worker.stores.values():
        for unit in store.units.values():
            n += unit.state.window("90d")[1] + sum(t for _, _, t in unit.state.pending)
    return n


async def _drive(worker: Worker, topology: Topology, clock: ManualClock, steps: range, events: list[bytes]) -> None:
    async with Producer(worker.bootstrap) as producer:
        for i in steps:
            batch = _step_events(i)
            events.extend(batch)
            await producer.send(topology.metrics, keyed(batch))
            expected = sum(json.loads(e)["total"] for e in events)
            deadline = asyncio.get_running_loop().time() + 20
            while _counted(worker) != expected:
                assert asyncio.get_running_loop().time() < deadline, (_counted(worker), expected)
                await asyncio.sleep(0.01)
            await advance_and_tick(worker, clock, STEP_S)


async def _reports(bootstrap: str, topology: Topology, n: int) -> list[dict[str, Any]]:
    async with TopicReader(bootstrap, f"{topology.name}.reports") as reader:
        await reader.wait_until(lambda records: len(records) >= n, 30, f"{n} report records")
        await reader.read_to_end()
        return sorted((json.loads(r.value) for r in reader.records), key=lambda r: str(r["event_id"]))


def _offline(topology: Topology, tmp_path: Path, events: list[bytes], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The offline report at the instant the SLOs' reports were evaluated at."""
    (at,) = {r["at"] for r in records if r["event_type"] == "slo_report"}
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(e + b"\n" for e in events))
    proc = run_report("--slos", topology.path, "--events", path, "--period", "2026-11", "--at", at)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _check_against_offline(records: list[dict[str, Any]], offline: dict[str, Any]) -> None:
    slo_events = {r["slo_id"]: r for r in records if r["event_type"] == "slo_report"}
    rollups = {r["service_name"] or "*": r for r in records if r["event_type"] == "slo_report_rollup"}
    assert sorted(slo_events) == ["pay-api", "pay-web", "search-api", "search-idle"]
    assert sorted(rollups) == ["*", "pay", "search"]
    for row in offline["slos"]:
        event = slo_events[row["slo_id"]]
        assert {k: event[k] for k in row} == row, row["slo_id"]
        assert event["event_id"] == f"{row['slo_id']}:2026-11" and event["period_kind"] == "month"
        assert event["from"] == "2026-11-01T00:00:00Z" and event["to"] == "2026-12-01T00:00:00Z"
    for service in offline["services"]:
        rollup = rollups[service["service_name"]]
        assert {k: rollup[k] for k in service} == service
        assert rollup["scope"] == "service" and rollup["event_id"] == f"rollup:{service['service_name']}:2026-11"
    everything = rollups["*"]
    assert {k: everything[k] for k in offline["all"]} == offline["all"]
    assert everything["scope"] == "all" and everything["slo_ids"] == sorted(slo_events)
    assert slo_events["pay-api"]["status"] == "failed" and slo_events["pay-api"]["pages"] >= 1
    assert slo_events["search-idle"]["status"] == "no_data"


@pytest.mark.timeout(240)
def test_a_closed_month_is_published_once_and_equals_the_offline_report(bootstrap: str, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, SLOS, partitions=2, timer_interval_s=STEP_S)
    clock = ManualClock(START_S * US)
    events: list[bytes] = []

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with running_worker(bootstrap, topology, clock) as worker:
            await _drive(worker, topology, clock, range(0, 24), events)  # to 00:00, December 1st
            assert worker.reports.published == 0  # the month is closed, but not report_delay_s ago
            await advance_and_tick(worker, clock, STEP_S)  # 00:05: due
            assert worker.reports.published == 4
            first = await _reports(bootstrap, topology, EXPECTED_RECORDS)
            await advance_and_tick(worker, clock, STEP_S)
            assert worker.reports.published == 4
        async with running_worker(bootstrap, topology, clock) as worker:  # recovers its marks
            await advance_and_tick(worker, clock, STEP_S)
            assert worker.reports.published == 0 and worker.rollups.sent == 0
            assert worker.rollups.candidates(worker) == []  # every rollup read back as published
            again = await _reports(bootstrap, topology, EXPECTED_RECORDS)
        return first, again

    first, again = asyncio.run(scenario())
    assert len(first) == EXPECTED_RECORDS and again == first
    _check_against_offline(first, _offline(topology, tmp_path, events, first))


@pytest.mark.timeout(240)
def test_a_worker_stopped_before_the_month_end_publishes_the_month_after_its_restart(
    bootstrap: str, tmp_path: Path
) -> None:
    topology = make_topology(tmp_path, SLOS, partitions=2, timer_interval_s=STEP_S)
    clock = ManualClock(START_S * US)
    events: list[bytes] = []

    async def scenario() -> list[dict[str, Any]]:
        async with running_worker(bootstrap, topology, clock) as worker:
            await _drive(worker, topology, clock, range(0, 23), events)  # to 23:55
            assert worker.reports.published == 0
        await clock.advance(3600)  # the month ends while no worker runs
        async with running_worker(bootstrap, topology, clock) as worker:
            assert worker.reports.published == 0
            await advance_and_tick(worker, clock, STEP_S)
            assert worker.reports.published == 4
            return await _reports(bootstrap, topology, EXPECTED_RECORDS)

    records = asyncio.run(scenario())
    assert len(records) == EXPECTED_RECORDS
    _check_against_offline(records, _offline(topology, tmp_path, events, records))
