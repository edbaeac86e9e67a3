"""Live compliance reports: the real worker (in process, on a clock the test moves, real
broker and changelog) answers the month's report, through the HTTP API, exactly as
`python -m app report` does on the same events, across a restart in mid-month."""

from __future__ import annotations

import asyncio
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
from tests.stream.helpers import US, Producer, event_bytes, keyed, make_topology, slo_def
from tests.stream.inprocess import advance_and_tick, running_worker
from tests.test_report_cli import run as run_report

pytestmark = pytest.mark.kafka


@pytest.fixture
def bootstrap(noida_bootstrap: str) -> str:
    """One worker at a time (restarts with a clean leave): the embedded default broker, whose
    fetches do not slow down with what it holds, as Tansu's do."""
    return noida_bootstrap

STEP_S = 300  # the clock moves 5 minutes at a time; events arrive within the step they are stamped in


def _total_seen(worker: Worker, slo_id: str) -> int:
    for store in worker.stores.values():
        unit = store.get(slo_id)
        if unit is not None:
            return unit.state.window("90d")[1] + sum(n for _, _, n in unit.state.pending)
    return 0


async def _wait_counted(worker: Worker, expected: dict[str, int], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while any(_total_seen(worker, s) != n for s, n in expected.items()):
        assert asyncio.get_running_loop().time() < deadline, {s: _total_seen(worker, s) for s in expected}
        await asyncio.sleep(0.01)


async def _api_get(worker: Worker, path: str) -> httpx.Response:
    app = create_app(WorkerSloService(worker), clock_us=worker.clock.now_us)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as http:
        return await http.get(path)


@pytest.mark.timeout(240)
def test_a_worker_restarted_mid_month_reports_the_month_like_the_offline_command(
    bootstrap: str, tmp_path: Path
) -> None:
    slos = [slo_def("pay-api", 99.9, "CALENDAR_MONTH"), slo_def("pay-web", 99.0, "ROLLING_30D")]
    topology = make_topology(tmp_path, slos, partitions=2, timer_interval_s=STEP_S)
    start_s = int(datetime(2026, 11, 9, 22, tzinfo=UTC).timestamp())  # across a Monday midnight
    clock = ManualClock(start_s * US)
    steps = 48  # 4 hours
    restart_after = 20
    events: list[bytes] = []
    expected = {"pay-api": 0, "pay-web": 0}

    def step_events(i: int) -> list[bytes]:
        """One event a minute per SLO, stamped in (t, t + 5 min]; an incident in steps 10-17."""
        out = []
        for m in range(1, 6):
            ts = start_s + i * STEP_S + 60 * m
            bad = 40 if 10 <= i < 18 else (1 if m == 3 else 0)
            out.append(event_bytes("pay-api", ts, 1000 - bad, 1000))
            out.append(event_bytes("pay-web", ts, 500 - bad // 2, 500))
            expected["pay-api"] += 1000
            expected["pay-web"] += 500
        return out

    async def drive(worker: Worker, first: int, last: int) -> None:
        async with Producer(bootstrap) as producer:
            for i in range(first, last):
                batch = step_events(i)
                events.extend(batch)
                await producer.send(topology.metrics, keyed(batch))
                await _wait_counted(worker, expected)
                await advance_and_tick(worker, clock, STEP_S)

    async def scenario() -> dict[str, Any]:
        async with running_worker(bootstrap, topology, clock) as worker:
            await drive(worker, 0, restart_after)
        async with running_worker(bootstrap, topology, clock) as worker:  # recovers from the changelog
            await drive(worker, restart_after, steps)
            month = await _api_get(worker, "/api/v1/reports?period=2026-11")
            week = await _api_get(worker, "/api/v1/reports?period=2026-W46&service_name=pay")
            one = await _api_get(worker, "/api/v1/slos/pay-web/report?period=2026-11&format=csv")
            bad = await _api_get(worker, "/api/v1/reports?period=2026-13")
            unknown = await _api_get(worker, "/api/v1/reports?period=2026-11&service_name=nope")
        assert month.status_code == 200, month.text
        assert week.status_code == 200, week.text
        assert one.status_code == 200 and one.headers["content-type"].startswith("text/csv")
        assert one.text.count("\n") == 2 and "pay-web" in one.text
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "period"]
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["query", "service_name"]
        return {"month": month.json(), "week": week.json()}

    live = asyncio.run(scenario())
    events_path = tmp_path / "events.jsonl"
    events_path.write_bytes(b"".join(e + b"\n" for e in events))
    at = datetime.fromtimestamp(clock.now_us() / US, UTC).isoformat().replace("+00:00", "Z")
    for key, period in (("month", "2026-11"), ("week", "2026-W46")):
        proc = run_report("--slos", topology.path, "--events", events_path, "--period", period, "--at", at)
        assert proc.returncode == 0, proc.stderr
        offline = json.loads(proc.stdout)
        assert live[key] == offline, key
    month = live["month"]
    rows = {r["slo_id"]: r for r in month["slos"]}
    assert rows["pay-api"]["total"] == steps * 5 * 1000
    assert rows["pay-api"]["pages"] >= 1 and rows["pay-api"]["alert_minutes"] > 0  # the incident was seen live
    assert month["interval"]["closed"] is False
