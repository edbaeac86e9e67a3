"""Crash and failover: SIGKILL a worker mid-stream; its replacement (a restarted process,
or the surviving member of the group) recovers the state from the changelog and
replays the uncommitted input. Nothing accepted is lost, nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.stream.helpers import (
    US,
    Ev,
    Producer,
    Spawn,
    TopicReader,
    Topology,
    assert_matches_replay,
    committed_offsets,
    last_status,
    make_topology,
    period_counts,
    produce_steadily,
    run_replay,
    slo_def,
    status_events,
    wait_caught_up,
    write_events,
)
from tests.waiting import eventually

pytestmark = pytest.mark.kafka


def steady_events(slo_ids: list[str], n: int, now_s: float, seed: int) -> list[Ev]:
    """n events over the last 10 minutes for the given SLOs, timestamps in random order."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ts_ms = int((now_s - rng.uniform(1, 600)) * 1000)
        total = rng.randint(1, 1000)
        bad = min(total, rng.choice((0, 0, 0, 1, 2, rng.randint(0, total // 10))))
        out.append(Ev(rng.choice(slo_ids), ts_ms * 1000, total - bad, total, ts_ms / 1000))
    return out


def check_final(topology: Topology, events: list[Ev], status_records: list[Any], events_path: Path) -> None:
    """Exact totals per SLO, all figures equal to replay's, sequences never going back."""
    finals = last_status(status_records)
    slo_ids = {e.slo_id for e in events}
    assert set(finals) == slo_ids
    replays: dict[str, dict[str, Any]] = {}
    for slo_id, event in finals.items():
        u = event["slo_status_update"]
        at = event["evaluated_at"]
        expected = period_counts(topology.slo(slo_id), events, int(time.time() * US))
        assert (u["good_events"], u["total_events"]) == expected, f"{slo_id}: lost or double-counted events"
        if at not in replays:
            replays[at] = run_replay(topology, events_path, at)
        assert_matches_replay(event, replays[at][slo_id])
    # A consumer drops a status it saw by sequence: per SLO it never goes back, even
    # across the crash (the replacement may publish one again with the same number).
    for slo_id in slo_ids:
        mine = [e for e in status_events(status_records) if e["slo_status_update"]["slo_id"] == slo_id]
        seqs = [e["sequence"] for e in mine]
        assert seqs == sorted(seqs), (slo_id, seqs)


@pytest.mark.timeout(150)
def test_crash_and_restart_counts_exactly_once(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    slo_ids = [f"crash-{i}" for i in range(6)]
    slos = [slo_def(s, 99.0 + i / 10) for i, s in enumerate(slo_ids)]
    topology = make_topology(tmp_path, slos, partitions=4)

    async def scenario() -> None:
        first = spawn(bootstrap, topology, "crash-1")
        await first.ready()
        events = steady_events(slo_ids, 3000, time.time(), seed=1)
        events_path = write_events(tmp_path / "events.jsonl", events)
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.metrics) as metrics,
            TopicReader(bootstrap, topology.status) as status,
        ):
            producing, progress = produce_steadily(producer, topology.metrics, events, rate_per_s=1000)
            await eventually(lambda: progress.sent >= 1000, 30, "1000 events sent")
            first.kill()  # mid-stream: the producer keeps going
            committed = await committed_offsets(bootstrap, topology.name, metrics.tps)
            done_before = sum(max(0, c) for c in committed.values())
            print(f"killed the worker with {done_before} of {progress.sent} events sent committed")
            assert 0 < done_before < len(events), "the kill should fall mid-stream"
            second = spawn(bootstrap, topology, "crash-2")
            await producing
            await wait_caught_up(bootstrap, topology, metrics, timeout=60)
            await status.read_to_end()
        recovered = await second.wait_for(r"assigned partitions \[0, 1, 2, 3\]: (\d+) changelog records", 5)
        assert int(recovered[1]) > 0, "the replacement should rebuild its state from the changelog"
        check_final(topology, events, status.records, events_path)

    asyncio.run(scenario())


@pytest.mark.timeout(150)
def test_two_workers_split_then_survivor_takes_over(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    slo_ids = [f"pair-{i:02d}" for i in range(16)]
    topology = make_topology(tmp_path, [slo_def(s, 99.5) for s in slo_ids], partitions=8)
    all_partitions = list(range(8))

    async def scenario() -> None:
        a = spawn(bootstrap, topology, "pair-a")
        await a.ready()
        b = spawn(bootstrap, topology, "pair-b")
        await b.ready()

        def split() -> bool:
            last_a, last_b = a.assignments()[-1][1], b.assignments()[-1][1]
            return bool(last_a) and bool(last_b) and sorted(last_a + last_b) == all_partitions

        await eventually(split, 20, "the two workers to split the 8 partitions")
        print(f"split: a={a.assignments()[-1][1]} b={b.assignments()[-1][1]}")

        events = steady_events(slo_ids, 2400, time.time(), seed=2)
        events_path = write_events(tmp_path / "events.jsonl", events)
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.metrics) as metrics,
            TopicReader(bootstrap, topology.status) as status,
        ):
            producing, progress = produce_steadily(producer, topology.metrics, events, rate_per_s=600)
            await eventually(lambda: progress.sent >= 600, 30, "600 events sent")
            killed_at = b.kill()

            def took_over() -> bool:
                return any(t >= killed_at - 0.01 and p == all_partitions for t, p in a.assignments())

            await eventually(took_over, 20, "the survivor to take all partitions")
            line_at = next(t for t, p in a.assignments() if t >= killed_at - 0.01 and p == all_partitions)
            takeover_s = line_at - killed_at
            print(f"takeover: {takeover_s:.2f}s from SIGKILL to the survivor's 'assigned partitions' line")
            await producing
            await wait_caught_up(bootstrap, topology, metrics, timeout=60)
            await status.read_to_end()
        assert takeover_s < 5.0, f"takeover took {takeover_s:.2f}s"
        check_final(topology, events, status.records, events_path)

    asyncio.run(scenario())
