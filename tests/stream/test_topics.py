"""Topics that exist before the worker, with another partition count than the topology's
(a producer started first on a broker that creates topics on first use): the worker
co-partitions what it creates with the metrics topic, or refuses in one line. Never hangs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.stream.helpers import (
    Ev,
    Producer,
    Spawn,
    TopicReader,
    keyed,
    last_status,
    make_topology,
    partition_for,
    slo_def,
)
from tests.stream.test_startup import assert_one_error_line, run_cli

pytestmark = pytest.mark.kafka

METRICS_PARTITIONS = 6  # what the producer's side created
TOPOLOGY_PARTITIONS = 2  # what the worker's topology says


async def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in topics.items()])
    finally:
        await admin.close()


async def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(topics)}
    finally:
        await admin.close()


@pytest.mark.timeout(90)
def test_a_metrics_topic_with_more_partitions_is_co_partitioned(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    # SLOs on every one of the 6 metrics partitions, 4 of which the topology does not have.
    slo_ids: dict[int, str] = {}
    i = 0
    while len(slo_ids) < METRICS_PARTITIONS:
        slo_ids.setdefault(partition_for(f"pre-{i}".encode(), METRICS_PARTITIONS), f"pre-{i}")
        i += 1
    topology = make_topology(tmp_path, [slo_def(s) for s in slo_ids.values()], partitions=TOPOLOGY_PARTITIONS)
    asyncio.run(create_topics(bootstrap, {topology.metrics: METRICS_PARTITIONS}))
    worker = spawn(bootstrap, topology, "pre-created")

    async def scenario() -> None:
        await worker.ready(timeout=30)
        await worker.wait_for(
            rf"topic {topology.metrics} exists with 6 partitions \(the topology says 2\): "
            r"the topics created now get 6 too",
            1,
        )
        counts = await partition_counts(bootstrap, [topology.changelog, topology.status, topology.alerts])
        assert counts == {topology.changelog: 6, topology.status: 6, topology.alerts: 6}
        now = time.time()
        events = [Ev(s, int(now * 1e6), 9, 10, now) for s in slo_ids.values()]
        async with Producer(bootstrap) as producer, TopicReader(bootstrap, topology.status) as status:
            await producer.send(topology.metrics, keyed(e.to_bytes() for e in events))
            await status.wait_until(lambda records: len(last_status(records)) == 6, 20, "a status per SLO")
            finals = last_status(status.records)
        assert {
            s: (u["slo_status_update"]["good_events"], u["slo_status_update"]["total_events"])
            for s, u in finals.items()
        } == {s: (9, 10) for s in slo_ids.values()}

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_a_changelog_with_another_count_than_metrics_is_refused_in_one_line(bootstrap: str, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def("conflict-a")], partitions=TOPOLOGY_PARTITIONS)
    asyncio.run(create_topics(bootstrap, {topology.metrics: METRICS_PARTITIONS, topology.changelog: 2}))
    argv = ["run", "--bootstrap", bootstrap, "--topology", str(topology.path), "--quiet"]
    code, _, stderr, took_s = run_cli(argv, {})
    assert code == 2, stderr
    assert_one_error_line(stderr, f"'{topology.changelog}' has 2 partitions, 6 needed", f"{topology.metrics!r} (6)")
    assert took_s < 20
