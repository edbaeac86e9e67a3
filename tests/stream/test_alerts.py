"""Alert events through a real worker on the embedded broker: one firing event per
episode, none again after a crash and restart, one resolved event; SLIDataStale
fires when data stops and resolves when it returns."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.stream.helpers import (
    Msg,
    Producer,
    Spawn,
    TopicReader,
    WorkerProcess,
    event_bytes,
    keyed,
    make_topology,
    partition_for,
    slo_def,
    wait_caught_up,
)

pytestmark = pytest.mark.kafka

DEFAULT_RULES = {"page-1h-5m", "page-6h-30m", "ticket-24h-2h", "ticket-3d-6h"}
# These scenarios count burn-rate episodes: their SLOs have no error-budget policy (an
# empty one), whose budget-* alerts tests/stream/test_budget_alerts.py covers.
NO_POLICY: dict[str, Any] = {"budget_policy": []}


def alert_events(reader: TopicReader) -> list[dict[str, Any]]:
    """The alert events read, once per event_id: alert delivery is at least once, and a
    crash between publishing an event and writing the changelog publishes it again
    with the same id (its consumers' idempotency key), never as a new episode."""
    seen: dict[str, dict[str, Any]] = {}
    for r in reader.records:
        event = json.loads(r.value)
        seen.setdefault(event["event_id"], event)
    return list(seen.values())


async def poll_until(reader: TopicReader, predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate(alert_events(reader)):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {alert_events(reader)}"
        await reader.poll(100)


def bad_events(slo_id: str, n: int) -> list[Msg]:
    now = time.time()
    return keyed(event_bytes(slo_id, now - i * 0.01, 50, 100) for i in range(n))


async def end_episodes_by_a_stricter_policy(
    producer: Producer, topology: Any, alerts: TopicReader, slo: dict[str, Any], worker: WorkerProcess
) -> list[dict[str, Any]]:
    """Publish the SLO with one rule at threshold 1000 (> the burn of 500): the timer
    resolves the four open episodes. Returns every alert event once they are in."""
    strict = {
        **slo,
        "burn_rate_rules": [
            {"severity": "page", "long_window": "1h", "short_window": "5m", "burn_rate_threshold": 1000}
        ],
    }
    await producer.send(topology.definitions, [Msg(slo["slo_id"].encode(), json.dumps(strict).encode())])
    await poll_until(alerts, lambda evs: len(evs) >= 8, 20, "four resolved events")
    await worker.wait_ticks(3)  # and nothing more, three timer passes later
    await alerts.poll(200)
    return alert_events(alerts)


@pytest.mark.timeout(120)
def test_one_firing_event_per_episode_across_a_crash_then_one_resolved(
    bootstrap: str, spawn: Spawn, tmp_path: Path
) -> None:
    slo = slo_def("pay-api", 99.9, **NO_POLICY)
    topology = make_topology(tmp_path, [slo], partitions=2, timer_interval_s=0.5)

    async def scenario() -> None:
        first = spawn(bootstrap, topology, "alerts-1")
        await first.ready()
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.alerts) as alerts,
            TopicReader(bootstrap, topology.metrics) as metrics,
        ):
            # 50% errors against a 0.1% budget: burn rate 500 in every window, every rule fires.
            await producer.send(topology.metrics, bad_events("pay-api", 20))
            await poll_until(alerts, lambda evs: len(evs) >= 4, 20, "four firing events")
            firing = alert_events(alerts)
            assert {e["rule"] for e in firing} == DEFAULT_RULES
            assert {e["state"] for e in firing} == {"firing"}
            page = next(e for e in firing if e["rule"] == "page-1h-5m")
            assert (page["slo_id"], page["service_name"], page["severity"]) == ("pay-api", "pay", "page")
            assert page["burn_rate_long"] == pytest.approx(500.0) and page["threshold"] == 14.4
            assert page["resolved_at"] is None
            # the batch is committed, so its changelog (the open episodes) is written: the crash
            # falls after it (a crash in between republishes the firing events: README, Alerts)
            await wait_caught_up(bootstrap, topology, metrics, timeout=20)
            first.kill()
            second = spawn(bootstrap, topology, "alerts-2")
            await second.ready()
            await second.wait_for(r"assigned partitions \[0, 1\]", 20)
            await producer.send(topology.metrics, bad_events("pay-api", 20))
            async with TopicReader(bootstrap, topology.status) as status:

                def counted(n: int) -> bool:
                    return any(json.loads(r.value)["slo_status_update"]["total_events"] == n for r in status.records)

                deadline = time.monotonic() + 20
                while not counted(4_000):
                    assert time.monotonic() < deadline, "the second worker never counted the new events"
                    await status.poll(100)
            await second.wait_ticks(3)  # several timer passes of the new owner
            await alerts.poll(200)
            assert len(alert_events(alerts)) == 4, "a restart must not fire an open episode again"

            # A stricter policy ends every episode: the timer resolves them.
            events = await end_episodes_by_a_stricter_policy(producer, topology, alerts, slo, second)
            assert len(events) == 8
            for rule in DEFAULT_RULES:
                fired, resolved = [e for e in events if e["rule"] == rule]
                assert (fired["state"], resolved["state"]) == ("firing", "resolved")
                assert fired["alert_id"] == resolved["alert_id"]
                assert resolved["started_at"] == fired["started_at"]
                assert resolved["resolved_at"] >= fired["started_at"]
            keys = {r.key for r in alerts.records}
            assert keys == {b"pay-api"}

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_stale_data_fires_and_resolves_when_data_returns(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    slo = slo_def("quiet-api", 99.0, no_data_alert_after_s=2)
    topology = make_topology(tmp_path, [slo], partitions=1, timer_interval_s=0.25)

    async def scenario() -> None:
        worker = spawn(bootstrap, topology, "stale")
        await worker.ready()
        async with Producer(bootstrap) as producer, TopicReader(bootstrap, topology.alerts) as alerts:
            sent_at = time.time()
            await producer.send(topology.metrics, keyed([event_bytes("quiet-api", sent_at, 100, 100)]))
            await poll_until(alerts, lambda evs: len(evs) >= 1, 15, "SLIDataStale firing")
            [fired] = alert_events(alerts)
            assert (fired["rule"], fired["state"], fired["severity"]) == ("SLIDataStale", "firing", "ticket")
            started = datetime.fromisoformat(fired["started_at"]).timestamp()
            assert 2.0 <= started - sent_at < 6.0  # the first tick after 2 s of silence
            await producer.send(topology.metrics, keyed([event_bytes("quiet-api", time.time(), 100, 100)]))
            await poll_until(alerts, lambda evs: len(evs) >= 2, 15, "SLIDataStale resolved")
            resolved = alert_events(alerts)[1]
            assert (resolved["rule"], resolved["state"]) == ("SLIDataStale", "resolved")
            assert resolved["started_at"] == fired["started_at"]

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_deleting_or_disabling_an_slo_resolves_its_open_alerts(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    gone, paused = slo_def("gone-api", 99.9, **NO_POLICY), slo_def("paused-api", 99.9, **NO_POLICY)
    topology = make_topology(tmp_path, [gone, paused], partitions=2, timer_interval_s=0.5)

    async def scenario() -> None:
        worker = spawn(bootstrap, topology, "retire")
        await worker.ready()
        async with Producer(bootstrap) as producer, TopicReader(bootstrap, topology.alerts) as alerts:
            await producer.send(topology.metrics, bad_events("gone-api", 20) + bad_events("paused-api", 20))
            await poll_until(alerts, lambda evs: len(evs) >= 8, 20, "eight firing events")
            await producer.send(
                topology.definitions,
                [
                    Msg(b"gone-api", None),  # tombstone: the SLO is deleted
                    Msg(b"paused-api", json.dumps({**paused, "enabled": False}).encode()),
                ],
            )
            await poll_until(alerts, lambda evs: len(evs) >= 16, 20, "eight resolved events")
            await worker.wait_ticks(3)  # and nothing more
            await alerts.poll(200)
            events = alert_events(alerts)
            assert len(events) == 16
            for slo_id in ("gone-api", "paused-api"):
                mine = [e for e in events if e["slo_id"] == slo_id]
                assert [e["state"] for e in mine] == ["firing"] * 4 + ["resolved"] * 4
                assert {e["rule"] for e in mine[4:]} == DEFAULT_RULES

            # Re-enabled while it still burns, the SLO opens new episodes (numbered 2).
            await producer.send(topology.definitions, [Msg(b"paused-api", json.dumps(paused).encode())])
            await poll_until(alerts, lambda evs: len(evs) >= 20, 20, "four firing events again")
            again = alert_events(alerts)[16:]
            assert {(e["slo_id"], e["state"], e["episode"]) for e in again} == {("paused-api", "firing", 2)}
            assert {e["rule"] for e in again} == DEFAULT_RULES

            # Re-created under the same id, the SLO starts from empty windows: the
            # deleted one's state was tombstoned in the changelog.
            await producer.send(topology.definitions, [Msg(b"gone-api", json.dumps(gone).encode())])
            await worker.wait_definition("gone-api", times=2)  # once from the topology, now again
            await producer.send(topology.metrics, keyed([event_bytes("gone-api", time.time(), 100, 100)]))
            async with TopicReader(bootstrap, topology.status) as status:
                deadline = time.monotonic() + 20
                while True:
                    await status.poll(200)
                    mine = [json.loads(r.value)["slo_status_update"] for r in status.records]
                    mine = [u for u in mine if u["slo_id"] == "gone-api"]
                    if mine and mine[-1]["total_events"] in (100, 2_100):
                        break
                    assert time.monotonic() < deadline, mine[-1:]
            assert (mine[-1]["good_events"], mine[-1]["total_events"]) == (100, 100)
            assert mine[-1]["status"] == "HEALTHY" and mine[-1]["firing_alerts"] == []

    asyncio.run(scenario())


@pytest.mark.timeout(120)
def test_failover_to_the_surviving_worker_neither_refires_nor_loses_an_episode(
    bootstrap: str, spawn: Spawn, tmp_path: Path
) -> None:
    slo = slo_def("cart-api", 99.9, **NO_POLICY)
    topology = make_topology(tmp_path, [slo], partitions=2, timer_interval_s=0.5)
    owner_partition = partition_for(b"cart-api", 2)

    async def scenario() -> None:
        a, b = spawn(bootstrap, topology, "fo-a"), spawn(bootstrap, topology, "fo-b")
        await a.ready()
        await b.ready()
        deadline = time.monotonic() + 30
        while True:  # a stable split: one partition each
            latest = [w.assignments()[-1][1] if w.assignments() else [] for w in (a, b)]
            if sorted(latest[0] + latest[1]) == [0, 1] and all(latest):
                break
            assert time.monotonic() < deadline, latest
            await asyncio.sleep(0.1)
        owner, survivor = (a, b) if owner_partition in latest[0] else (b, a)
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.alerts) as alerts,
            TopicReader(bootstrap, topology.metrics) as metrics,
        ):
            await producer.send(topology.metrics, bad_events("cart-api", 20))
            await poll_until(alerts, lambda evs: len(evs) >= 4, 20, "four firing events")
            # committed: the open episodes are in the changelog when the owner dies (a kill
            # between the alert events and that write republishes them, same ids, with the
            # survivor's start time: at-least-once delivery, README "Guarantees")
            await wait_caught_up(bootstrap, topology, metrics, timeout=20)
            owner.kill()
            await survivor.wait_for(r"assigned partitions \[0, 1\]", 20)
            await producer.send(topology.metrics, bad_events("cart-api", 20))
            async with TopicReader(bootstrap, topology.status) as status:
                await status.wait_until(
                    lambda rs: any(json.loads(r.value)["slo_status_update"]["total_events"] == 4_000 for r in rs),
                    20,
                    "the survivor counting the new events",
                )
            await survivor.wait_ticks(3)  # and ticking several times
            await alerts.poll(200)
            assert len(alert_events(alerts)) == 4, "the survivor fired an open episode again"
            events = await end_episodes_by_a_stricter_policy(producer, topology, alerts, slo, survivor)
            assert [e["state"] for e in events] == ["firing"] * 4 + ["resolved"] * 4
            fired = {e["rule"]: e["started_at"] for e in events[:4]}
            assert {e["rule"]: e["started_at"] for e in events[4:]} == fired  # the same episodes, closed

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_an_slo_deleted_while_its_owner_was_down_resolves_with_its_firing_identity(
    bootstrap: str, spawn: Spawn, tmp_path: Path
) -> None:
    slo = slo_def("old-api", 99.9, **NO_POLICY)
    topology = make_topology(tmp_path, [slo], partitions=1, timer_interval_s=0.5)
    # the next worker must not re-publish the topology's definition: it starts from a
    # copy without SLOs (the deletion is what it reads from the definitions topic)
    empty = tmp_path / "empty-topology.yaml"
    empty.write_text(topology.path.read_text().split("slos:")[0] + "slos: []\n")

    async def scenario() -> None:
        first = spawn(bootstrap, topology, "del-1")
        await first.ready()
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.alerts) as alerts,
            TopicReader(bootstrap, topology.metrics) as metrics,
        ):
            await producer.send(topology.metrics, bad_events("old-api", 20))
            await poll_until(alerts, lambda evs: len(evs) >= 4, 20, "four firing events")
            # the batch is committed, so its changelog (the open episodes) is written: the
            # owner goes down after the fact, not in the middle of writing it
            await wait_caught_up(bootstrap, topology, metrics, timeout=20)
            first.kill()
            await producer.send(topology.definitions, [Msg(b"old-api", None)])  # deleted meanwhile
            second = spawn(bootstrap, dataclasses.replace(topology, path=empty), "del-2")
            await second.ready()
            await poll_until(alerts, lambda evs: len(evs) >= 8, 20, "four resolved events")
            fired, resolved = alert_events(alerts)[:4], alert_events(alerts)[4:]
            assert {e["state"] for e in resolved} == {"resolved"}
            identity = ("alert_id", "slo_name", "service_name", "rule", "severity", "labels", "episode", "started_at")
            assert sorted(tuple(e[k] for k in identity) for e in resolved) == sorted(
                tuple(e[k] for k in identity) for e in fired
            )

    asyncio.run(scenario())
