"""Error-budget policy alerts (budget-<percent>) through a real worker on the embedded broker.

In process, on a clock the test moves: a calendar month's budget alerts are resolved
by the timer when the month ends, with no event at all; a ROLLING_1H SLO's resolve
when the bad events leave the hour. Through the sinks (real Alertmanager and Pulsar):
tests/sinks/test_budget_alerts.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.clock import ManualClock
from app.domain.models import DEFAULT_ACTIONS
from app.stream.worker import Worker
from tests.stream.helpers import (
    US,
    Producer,
    TopicReader,
    event_bytes,
    keyed,
    make_topology,
    slo_def,
    status_events,
)
from tests.stream.inprocess import advance_and_tick, running_worker

pytestmark = pytest.mark.kafka


@pytest.fixture
def bootstrap(noida_bootstrap: str) -> str:
    """One worker at a time (restarts with a clean leave): the embedded default broker, whose
    fetches do not slow down with what it holds, as Tansu's do."""
    return noida_bootstrap

BUDGET_RULES = ["budget-50", "budget-80", "budget-100"]


def alert_events(reader: TopicReader) -> list[dict[str, Any]]:
    """The budget-* alert events, once per event_id (delivery is at least once)."""
    seen: dict[str, dict[str, Any]] = {}
    for r in reader.records:
        event = json.loads(r.value)
        if event["rule"].startswith("budget-"):
            seen.setdefault(event["event_id"], event)
    return list(seen.values())


def budget_count(records: list[Any]) -> int:
    return sum(json.loads(r.value)["rule"].startswith("budget-") for r in records)


def iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.timeout(90)
def test_the_timer_resolves_a_calendar_months_budget_alerts_when_the_month_ends(bootstrap: str, tmp_path: Path) -> None:
    slo_id = "month-api"
    topology = make_topology(tmp_path, [slo_def(slo_id, 99.0, "CALENDAR_MONTH")], partitions=1, timer_interval_s=1)
    month_end = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    start = month_end - 180  # 2026-10-31T23:57:00Z
    clock = ManualClock(start * US)

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            first_run = contextlib.AsyncExitStack()
            first = await first_run.enter_async_context(running_worker(bootstrap, topology, clock))  # makes topics
            producer = await stack.enter_async_context(Producer(bootstrap))
            alerts = await stack.enter_async_context(TopicReader(bootstrap, topology.alerts))
            status = await stack.enter_async_context(TopicReader(bootstrap, topology.status))
            await fire(first, producer, alerts, status)
            await first_run.aclose()
            # A restarted worker recovers the open episodes from the changelog: it neither
            # fires them again nor forgets to resolve them.
            worker = await stack.enter_async_context(running_worker(bootstrap, topology, clock))
            await end_of_month(worker, alerts)
        events = alert_events(alerts)
        assert len(events) == 6, events
        fired, resolved = events[:3], events[3:]
        assert [(e["rule"], e["state"]) for e in resolved] == [(r, "resolved") for r in BUDGET_RULES]
        for f, r in zip(fired, resolved, strict=True):
            assert (r["alert_id"], r["episode"], r["started_at"]) == (f["alert_id"], 1, f["started_at"])
            assert r["resolved_at"] == iso(month_end)
            assert r["error_budget_consumed"] == 0.0  # November has no data yet

    async def fire(worker: Worker, producer: Producer, alerts: TopicReader, status: TopicReader) -> None:
        # 10 bad of 100 against a 1% budget: 10x the budget, every threshold at once.
        await producer.send(topology.metrics, keyed([event_bytes(slo_id, start, 90, 100)]))
        # (the burn-rate rules fire too: their windows are rolling, the month does not end them)
        await alerts.wait_until(lambda rs: budget_count(rs) >= 3, 15, "three budget alerts firing")
        fired = alert_events(alerts)
        assert [(e["rule"], e["state"], e["episode"]) for e in fired] == [(r, "firing", 1) for r in BUDGET_RULES]
        top = fired[-1]
        assert (top["severity"], top["threshold"], top["error_budget_consumed"]) == ("page", 1.0, 10.0)
        assert top["action"] == DEFAULT_ACTIONS[1.0]
        assert (top["long_window"], top["short_window"], top["started_at"]) == (None, None, iso(start))
        await status.wait_until(lambda rs: len(rs) >= 1, 10, "the status event")
        update = status_events(status.records)[0]["slo_status_update"]
        assert update["firing_alerts"][-3:] == BUDGET_RULES and update["alert_triggered"]
        # the action of the highest threshold reached, and of that one only
        budget_advice = [r for r in update["recommendations"] if r.startswith("budget-")]
        assert budget_advice == [
            f"budget-100: 1000.0% of the error budget consumed, at or above 100%: {DEFAULT_ACTIONS[1.0]}"
        ]

        await advance_and_tick(worker, clock, 60)  # 23:58:00, and nothing more happens
        await alerts.poll(200)
        assert len(alert_events(alerts)) == 3

    async def end_of_month(worker: Worker, alerts: TopicReader) -> None:
        # October's last seconds: nothing changes. Then November: no event at all,
        # and the timer's first pass in the new month ends every episode.
        await advance_and_tick(worker, clock, 119)  # 23:59:59
        await alerts.poll(200)
        assert len(alert_events(alerts)) == 3
        await advance_and_tick(worker, clock, 1)  # 00:00:00, November
        await alerts.wait_until(lambda rs: budget_count(rs) >= 6, 15, "three resolved events")
        await advance_and_tick(worker, clock, 1)
        await alerts.poll(200)

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_a_rolling_hours_budget_alerts_resolve_when_the_bad_events_leave_the_hour(
    bootstrap: str, tmp_path: Path
) -> None:
    slo_id = "hour-api"
    # budget-50 only, as a ticket with its own action: the override travels to the alert
    policy = [{"threshold": 0.5, "severity": "ticket", "action": "look at the canary"}]
    topology = make_topology(
        tmp_path, [slo_def(slo_id, 99.0, "ROLLING_1H", budget_policy=policy)], partitions=1, timer_interval_s=1
    )
    now = int(time.time()) // 60 * 60  # whole minutes: the 1h window's buckets are 1 min
    clock = ManualClock(now * US)

    async def scenario() -> None:
        async with (
            running_worker(bootstrap, topology, clock) as worker,
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.alerts) as alerts,
        ):
            # 50 minutes ago 2 bad of 100, now 100 good: 2 bad of 200 = 100% of a 1% budget
            events = [event_bytes(slo_id, now - 3000, 98, 100), event_bytes(slo_id, now, 100, 100)]
            await producer.send(topology.metrics, keyed(events))
            await alerts.wait_until(lambda rs: len(rs) >= 1, 15, "budget-50 firing")
            [fired] = alert_events(alerts)
            assert (fired["rule"], fired["severity"], fired["action"]) == ("budget-50", "ticket", "look at the canary")
            # The bad event (a minute bucket's end) leaves the hour's 1-minute buckets once the
            # clock is in the next bucket after now + 540 s (the contract's far-edge resolution).
            await advance_and_tick(worker, clock, 540)
            await alerts.poll(200)
            assert len(alert_events(alerts)) == 1
            await advance_and_tick(worker, clock, 60)
            await alerts.wait_until(lambda rs: len(rs) >= 2, 15, "budget-50 resolved")
        [_, resolved] = alert_events(alerts)
        assert (resolved["rule"], resolved["state"], resolved["resolved_at"]) == (
            "budget-50",
            "resolved",
            iso(now + 600),
        )
        assert resolved["error_budget_consumed"] == 0.0  # 100 good events left in the hour

    asyncio.run(scenario())
