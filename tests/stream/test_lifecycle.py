"""Time and lifecycle: the wall-clock timer publishes only on a change; SIGTERM finishes
the work in flight, commits and exits 0; a restarted worker resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from app.clock import ManualClock
from app.stream.kafka_io import ensure_topics
from app.topology import load_topology
from tests.stream.helpers import (
    DAY_S,
    US,
    Producer,
    Spawn,
    TopicReader,
    WorkerProcess,
    assert_matches_replay,
    committed_offsets,
    event_bytes,
    keyed,
    last_status,
    make_topology,
    parse_instant_us,
    partition_for,
    run_replay,
    slo_def,
    status_events,
    wait_caught_up,
)
from tests.stream.inprocess import advance_and_tick, running_worker

pytestmark = pytest.mark.kafka


@pytest.mark.timeout(90)
def test_timer_publishes_when_an_alert_resolves_and_never_repeats_itself(bootstrap: str, tmp_path: Path) -> None:
    """An incident about to leave the 5m window: the page rule 1h/5m fires on the event,
    stops firing on its own once the clock has moved past it (the timer publishes that
    change with no new input), and after that the timer publishes nothing while nothing
    changes. In process, on a clock the test moves: no waiting for the 5m window."""
    slo_id = "timer-checkout"
    topology = make_topology(tmp_path, [slo_def(slo_id, 99.9)], partitions=2, timer_interval_s=1)
    now = float(int(time.time()))
    clock = ManualClock(int(now) * US)

    async def scenario() -> None:
        # 10% errors 290 s ago: 5m and 1h burn 100 > 14.4. A clean 10M events 2 days ago
        # keep the budget healthy (only 1% spent), so the status is decided by the rules.
        incident_ts = now - 290
        # Its bucket k = ceil(ts / 5 s) stays in the 5m window while ceil(now / 5 s) - k < 60.
        out_of_5m_at = (math.ceil(incident_ts / 5) + 59) * 5
        events = [
            event_bytes(slo_id, now - 2 * DAY_S, 10_000_000, 10_000_000),
            event_bytes(slo_id, incident_ts, 900, 1000),
        ]
        events_path = tmp_path / "events.jsonl"
        events_path.write_bytes(b"".join(e + b"\n" for e in events))
        async with (
            running_worker(bootstrap, topology, clock) as worker,
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.status) as status,
        ):
            await producer.send(topology.metrics, keyed(events))
            await status.wait_until(lambda rs: len(rs) >= 1, 10, "the status of the incident")
            first = status_events(status.records)[0]["slo_status_update"]
            assert first["status"] == "CRITICAL"
            assert first["firing_alerts"] == ["page-1h-5m", "page-6h-30m", "ticket-24h-2h"]
            # No new input from here on: only the timer can publish. One second before
            # the incident leaves the 5m window nothing changes; one second after, it has.
            await advance_and_tick(worker, clock, out_of_5m_at - now - 1)
            await advance_and_tick(worker, clock, 2)
            await status.wait_until(lambda rs: len(rs) >= 2, 10, "the timer's status event")
            for _ in range(3):  # a few more timer passes: nothing changes, nothing is published
                await advance_and_tick(worker, clock, 1)
            await status.poll(200)
        published = status_events(status.records)
        assert [e["sequence"] for e in published] == [1, 2], "one event per change, no repeats"
        timer_event = published[1]
        u = timer_event["slo_status_update"]
        assert u["status"] == "CRITICAL"  # page 6h/30m still fires
        assert u["firing_alerts"] == ["page-6h-30m", "ticket-24h-2h"]
        assert u["burn_rates"]["5m"] == 0.0
        assert parse_instant_us(timer_event["evaluated_at"]) == (int(out_of_5m_at) + 1) * US
        replay = run_replay(topology, events_path, timer_event["evaluated_at"])
        assert_matches_replay(timer_event, replay[slo_id])

    asyncio.run(scenario())


def one_slo_per_partition(prefix: str, partitions: int) -> list[str]:
    found: dict[int, str] = {}
    for i in range(1000):
        slo_id = f"{prefix}-{i}"
        found.setdefault(partition_for(slo_id.encode(), partitions), slo_id)
        if len(found) == partitions:
            return [found[p] for p in range(partitions)]
    raise AssertionError("unreachable")


@pytest.mark.timeout(120)
def test_sigterm_commits_what_it_published_and_a_restart_resumes_exactly(
    bootstrap: str, spawn: Spawn, tmp_path: Path
) -> None:
    """SIGTERM while the worker works through a backlog: exit 0 within a few seconds,
    every status it published backed by a commit. A new worker picks up the rest with
    exact totals; one started after that, with nothing new to count, publishes nothing."""
    partitions = 4
    busy = one_slo_per_partition("term", partitions)  # one SLO per partition: offsets count its events
    topology = make_topology(tmp_path, [slo_def(s) for s in busy], partitions=partitions, timer_interval_s=1)

    async def scenario() -> None:
        now = time.time()
        # Every event counts 1 (good or bad): an SLO's total_events is how many were applied.
        # Timestamps 20 to 25 minutes ago: no window edge reaches them for several minutes,
        # so no status or firing rule can change by itself while the test runs.
        n = 40_000
        counts = [(busy[i % partitions], now - 1500 + i * 300 / n, int(i % 7 != 0)) for i in range(n)]
        backlog = keyed(event_bytes(slo_id, ts, good, 1) for slo_id, ts, good in counts)
        # The whole backlog is there before the worker starts, so it is busy in its
        # batches (not waiting for input) when the signal comes.
        await ensure_topics(bootstrap, load_topology(topology.path))
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.metrics) as metrics,
            TopicReader(bootstrap, topology.status) as status,
        ):
            await producer.send(topology.metrics, backlog)
            first = spawn(bootstrap, topology, "term-1")
            await first.ready()
            await status.wait_until(lambda rs: len(rs) >= 8, 30, "the worker to get going")
            await terminate_and_check(first, expect_mid_stream=n)

            # Everything the first worker published is covered by its commits.
            committed = await committed_offsets(bootstrap, topology.name, metrics.tps)
            await status.read_to_end()
            before = last_status(status.records)
            n_before = len(status.records)
            for p, slo_id in enumerate(busy):
                published = before[slo_id]["slo_status_update"]["total_events"] if slo_id in before else 0
                assert max(0, committed[p]) == published, (
                    f"{slo_id}: committed offset {committed[p]} but its last status counts {published} "
                    "events: published work was not committed"
                )

            second = spawn(bootstrap, topology, "term-2")
            await second.ready()
            await wait_caught_up(bootstrap, topology, metrics, timeout=60)
            await status.read_to_end()
            after = status_events(status.records[n_before:])
            for slo_id in busy:
                mine = [e for e in after if e["slo_status_update"]["slo_id"] == slo_id]
                done_before = published_total(before, slo_id) if slo_id in before else 0
                if done_before == n // partitions:
                    assert mine == [], f"{slo_id} was complete: nothing new to publish"
                    continue
                # It resumed after the committed offset: no status re-counting old input,
                # and the sequence continues from the last one published.
                assert mine, slo_id
                assert mine[0]["slo_status_update"]["total_events"] > done_before
                if slo_id in before:
                    assert mine[0]["sequence"] > before[slo_id]["sequence"]
            final = last_status(status.records)
            for slo_id in busy:
                u = final[slo_id]["slo_status_update"]
                mine_counts = [good for s, _, good in counts if s == slo_id]
                assert (u["good_events"], u["total_events"]) == (sum(mine_counts), len(mine_counts)), slo_id

            # Nothing left to count and nothing changing: a restarted worker stays silent.
            await terminate_and_check(second)
            n_settled = len(status.records)
            third = spawn(bootstrap, topology, "term-3")
            await third.ready()
            await third.wait_ticks(3)  # three timer passes
            await status.poll(200)
            assert status_events(status.records[n_settled:]) == [], "a restart republished unchanged statuses"

    asyncio.run(scenario())


def published_total(last: dict[str, dict], slo_id: str) -> int:
    return int(last[slo_id]["slo_status_update"]["total_events"])


async def terminate_and_check(worker: WorkerProcess, expect_mid_stream: int | None = None) -> None:
    """SIGTERM: exit status 0 (a hang fails the wait) and the stats line printed."""
    worker.terminate()
    code = await asyncio.to_thread(worker.wait_exit, 15)
    stats = worker.stats()
    assert code == 0, worker.describe()
    if expect_mid_stream is not None:
        assert 0 < stats["accepted"] < expect_mid_stream, "SIGTERM should come mid-backlog"
