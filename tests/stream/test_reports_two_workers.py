"""Reports with two workers (in process, one clock the test moves, real broker): with the Redis
read model (a real redis-server) either worker reports every SLO, both answers equal
`python -m app report` on the same events; without it, a worker says which SLOs it
cannot report rather than reporting them as without data."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.routes import create_app
from app.clock import ManualClock
from app.stream.api_service import WorkerSloService
from app.stream.worker import Worker
from tests.stream.helpers import US, Producer, event_bytes, keyed, make_topology, partition_for, slo_def
from tests.stream.inprocess import running_worker
from tests.stream.servers import RedisServer
from tests.test_report_cli import run as run_report
from tests.waiting import eventually

pytestmark = pytest.mark.kafka

PARTITIONS = 4
STEP_S = 300
START_S = int(datetime(2026, 11, 16, 10, tzinfo=UTC).timestamp())


def _one_id_per_partition(prefix: str) -> list[str]:
    found: dict[int, str] = {}
    i = 0
    while len(found) < PARTITIONS:
        slo_id = f"{prefix}-{i}"
        found.setdefault(partition_for(slo_id.encode(), PARTITIONS), slo_id)
        i += 1
    return [found[p] for p in range(PARTITIONS)]


IDS = _one_id_per_partition("r")
SLOS = [
    slo_def(IDS[0], 99.9, "CALENDAR_MONTH", service_name="pay"),
    slo_def(IDS[1], 99.0, "ROLLING_30D", service_name="pay"),
    slo_def(IDS[2], 99.5, "ROLLING_30D", service_name="search"),
    slo_def(IDS[3], 99.0, "ROLLING_30D", service_name="search"),  # never gets an event
]
BUSY = IDS[:3]


def _step_events(i: int) -> list[bytes]:
    out = []
    for m in range(1, 6):
        ts = START_S + i * STEP_S + 60 * m
        for n, slo_id in enumerate(BUSY):
            bad = 25 if (n == 0 and 3 <= i < 7) else (1 if m == 4 else 0)
            out.append(event_bytes(slo_id, ts, 1000 - bad, 1000))
    return out


def _counted(workers: list[Worker]) -> int:
    n = 0
    for worker in workers:
        for store in worker.stores.values():
            for unit in store.units.values():
                n += unit.state.window("90d")[1] + sum(t for _, _, t in unit.state.pending)
    return n


async def _split(a: Worker, b: Worker) -> None:
    """Until the two workers share the partitions (both own some) and both are ready."""

    def split() -> bool:
        owned_a, owned_b = set(a.stores), set(b.stores)
        return (
            a.ready.is_set()
            and b.ready.is_set()
            and bool(owned_a)
            and bool(owned_b)
            and not owned_a & owned_b
            and owned_a | owned_b == set(range(PARTITIONS))
        )

    await eventually(split, 60, "the partitions split between the two workers")


async def _tick_both(workers: list[Worker], clock: ManualClock) -> None:
    ticks = [w.ticks for w in workers]
    await clock.advance(STEP_S)
    await eventually(lambda: all(w.ticks > t for w, t in zip(workers, ticks, strict=True)), 30, "both timers")


async def _get(worker: Worker, path: str) -> httpx.Response:
    app = create_app(WorkerSloService(worker), clock_us=worker.clock.now_us)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as http:
        return await http.get(path)


@contextlib.asynccontextmanager
async def _two_workers(bootstrap: str, topology: Any, clock: ManualClock, redis_url: str | None) -> Any:
    kwargs: dict[str, Any] = {"redis_url": redis_url, "fast_sessions": True}
    async with (
        running_worker(bootstrap, topology, clock, worker_id="a", **kwargs) as a,
        running_worker(bootstrap, topology, clock, worker_id="b", **kwargs) as b,
    ):
        await _split(a, b)
        yield a, b


@pytest.mark.timeout(240)
def test_with_the_read_model_either_worker_reports_every_slo_like_the_offline_command(
    bootstrap: str, tmp_path: Path
) -> None:
    topology = make_topology(tmp_path, SLOS, partitions=PARTITIONS, timer_interval_s=STEP_S)
    redis = RedisServer(tmp_path).start()
    clock = ManualClock(START_S * US)
    events: list[bytes] = []

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], str]:
        async with _two_workers(bootstrap, topology, clock, redis.url) as (a, b):
            async with Producer(bootstrap) as producer:
                for i in range(10):
                    batch = _step_events(i)
                    events.extend(batch)
                    await producer.send(topology.metrics, keyed(batch))
                    expected = len(events) * 1000
                    await eventually(lambda expected=expected: _counted([a, b]) == expected, 30, "the events counted")
                    await _tick_both([a, b], clock)
            # a second past the last whole minute: a timer leaves the minute ending exactly at
            # its clock open (an event stamped on it may still come), so close it as time passes
            await clock.advance(1)
            for w in (a, b):
                await w.tick(clock.now_us())
            for w in (a, b):
                assert w.read_model is not None
            await eventually(
                lambda: a.read_model.unconfirmed_keys() == 0 and b.read_model.unconfirmed_keys() == 0,  # type: ignore[union-attr]
                30,
                "the read model written",
            )
            from_a = await _get(a, "/api/v1/reports?period=2026-11")
            from_b = await _get(b, "/api/v1/reports?period=2026-11")
            assert from_a.status_code == 200 and from_b.status_code == 200, (from_a.text, from_b.text)
            at = datetime.fromtimestamp(clock.now_us() / US, UTC).isoformat().replace("+00:00", "Z")
            return from_a.json(), from_b.json(), at

    try:
        from_a, from_b, at = asyncio.run(scenario())
    finally:
        redis.stop()
    assert from_a == from_b
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(e + b"\n" for e in events))
    proc = run_report("--slos", topology.path, "--events", path, "--period", "2026-11", "--at", at)
    assert proc.returncode == 0, proc.stderr
    offline = json.loads(proc.stdout)
    offline["slos"].sort(key=lambda row: row["slo_id"])  # the API lists SLOs by id, the command in file order
    assert from_a == offline
    rows = {r["slo_id"]: r for r in from_a["slos"]}
    assert sorted(rows) == sorted(IDS) and from_a["unavailable_slos"] == []
    assert rows[IDS[0]]["total"] == 10 * 5 * 1000 and rows[IDS[0]]["alert_minutes"] > 0
    assert rows[IDS[3]]["status"] == "no_data"


@pytest.mark.timeout(180)
def test_without_a_read_model_a_worker_lists_the_slos_it_does_not_own(bootstrap: str, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, SLOS, partitions=PARTITIONS, timer_interval_s=STEP_S)
    clock = ManualClock(START_S * US)

    async def scenario() -> tuple[dict[str, Any], set[int]]:
        async with _two_workers(bootstrap, topology, clock, None) as (a, _b):
            async with Producer(bootstrap) as producer:
                await producer.send(topology.metrics, keyed(_step_events(0)))
            await eventually(lambda: _counted([a, _b]) == 15 * 1000, 30, "the events counted")
            response = await _get(a, "/api/v1/reports?period=2026-11")
            assert response.status_code == 200, response.text
            return response.json(), set(a.stores)

    body, owned = asyncio.run(scenario())
    mine = sorted(s for s in IDS if partition_for(s.encode(), PARTITIONS) in owned)
    others = sorted(set(IDS) - set(mine))
    assert mine and others
    assert body["unavailable_slos"] == others
    assert body["interval"]["complete"] is False
    assert sorted(r["slo_id"] for r in body["slos"]) == mine
    assert body["all"]["met"] + body["all"]["at_risk"] + body["all"]["failed"] + body["all"]["no_data"] == len(mine)
