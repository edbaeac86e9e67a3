"""Input the worker must not count as it came: each bad-input class of the contract goes
to the dead-letter topic with its reason and the original bytes; unkeyed or wrongly
keyed events are republished under their slo_id and counted exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.stream.helpers import (
    DAY_S,
    Msg,
    Producer,
    Spawn,
    TopicReader,
    event_bytes,
    last_status,
    make_topology,
    partition_for,
    slo_def,
    wait_caught_up,
)

pytestmark = pytest.mark.kafka

OK, RETIRED = "dlq-ok", "dlq-retired"


def bad_messages(now: float) -> list[tuple[str, bytes | None]]:
    """(expected dlq.reason, message value): one per bad-input class of the contract."""
    ts = now - 60

    def raw(body: str) -> bytes:
        return body.encode()

    return [
        ("invalid_json", raw('{"slo_id": "dlq-ok", "timestamp": ')),
        ("not_an_object", raw("[1, 2, 3]")),
        ("missing_field", raw(f'{{"slo_id": "dlq-ok", "timestamp": {ts}, "good": 1}}')),
        ("good_exceeds_total", event_bytes(OK, ts, 11, 10)),
        ("negative_count", event_bytes(OK, ts, -1, 10)),
        ("non_integer_count", raw(f'{{"slo_id": "dlq-ok", "timestamp": {ts}, "good": 1.5, "total": 2}}')),
        ("non_integer_count", raw(f'{{"slo_id": "dlq-ok", "timestamp": {ts}, "good": 1, "total": "2"}}')),
        ("non_finite_timestamp", raw('{"slo_id": "dlq-ok", "timestamp": NaN, "good": 1, "total": 1}')),
        ("non_finite_timestamp", raw('{"slo_id": "dlq-ok", "timestamp": Infinity, "good": 1, "total": 1}')),
        ("invalid_timestamp", event_bytes(OK, "yesterday at noon", 1, 1)),
        ("invalid_timestamp", event_bytes(OK, "2026-13-45T99:00:00Z", 1, 1)),
        ("unknown_slo", event_bytes("dlq-no-such-slo", ts, 1, 1)),
        ("disabled_slo", event_bytes(RETIRED, ts, 1, 1)),
        ("timestamp_too_old", event_bytes(OK, now - 401 * DAY_S, 1, 1)),
        ("timestamp_in_future", event_bytes(OK, now + 3600, 1, 1)),
        ("invalid_json", b'{"slo_id": "dlq-ok\xff\xfe", "timestamp": 1, "good": 1, "total": 1}'),  # not UTF-8
        ("invalid_json", None),  # a null value (tombstone)
    ]


@pytest.mark.timeout(90)
def test_each_bad_input_class_is_dead_lettered(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def(OK), slo_def(RETIRED, enabled=False)], partitions=4, timer_interval_s=1)
    worker = spawn(bootstrap, topology, "dlq")

    async def scenario() -> None:
        await worker.ready()
        now = time.time()
        bad = bad_messages(now)
        valid = event_bytes(OK, now - 30, 7, 9)
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.metrics) as metrics,
            TopicReader(bootstrap, topology.dead_letter) as dlq,
            TopicReader(bootstrap, topology.status) as status,
        ):
            # All keyed by the valid SLO, so that no rejection hides behind repartitioning.
            sent = await producer.send(topology.metrics, [Msg(OK.encode(), value) for _, value in bad])
            await producer.send(topology.metrics, [Msg(OK.encode(), valid)])  # after them, in order
            await wait_caught_up(bootstrap, topology, metrics, timeout=30)
            await dlq.read_to_end()
            await status.read_to_end()

        assert len(dlq.records) == len(bad), [r.value for r in dlq.records]
        by_source = {}
        for r in dlq.records:
            headers = dict(r.headers)
            by_source[int(headers["dlq.source.partition"]), int(headers["dlq.source.offset"])] = r
        for (reason, value), meta in zip(bad, sent, strict=True):
            record = by_source.get((meta.partition, meta.offset))
            assert record is not None, f"{reason}: {value!r} not dead-lettered"
            headers = {k: v.decode() for k, v in record.headers}
            assert headers["dlq.reason"] == reason, (value, headers)
            assert headers["dlq.source.topic"] == topology.metrics
            assert headers["dlq.detail"], "a human-readable detail"
            assert record.value == value, "the original bytes, untouched"
            assert record.key == OK.encode()

        # The valid event after them was counted, and only it.
        final = last_status(status.records)
        assert set(final) == {OK}
        u = final[OK]["slo_status_update"]
        assert (u["good_events"], u["total_events"]) == (7, 9)

        # The per-reason counters, printed when the worker stops.
        worker.terminate()
        assert worker.wait_exit(15) == 0
        stats = worker.stats()
        expected = Counter(f"rejected:{reason}" for reason, _ in bad)
        assert {k: v for k, v in stats.items() if k.startswith("rejected:")} == dict(expected)
        assert stats["accepted"] == 1
        assert stats["events_in"] == len(bad) + 1

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_unkeyed_and_wrongly_keyed_events_are_repartitioned_and_counted_once(
    bootstrap: str, spawn: Spawn, tmp_path: Path
) -> None:
    slo_id = "rp-checkout"
    topology = make_topology(tmp_path, [slo_def(slo_id)], partitions=4)
    home = partition_for(slo_id.encode(), 4)
    wrong_key = next(k for k in (f"other-{i}".encode() for i in range(100)) if partition_for(k, 4) != home)
    worker = spawn(bootstrap, topology, "repartition")

    async def scenario() -> None:
        await worker.ready()
        now = time.time()
        unkeyed = event_bytes(slo_id, now - 40, 90, 100)
        wrongly_keyed = event_bytes(slo_id, now - 30, 180, 200)
        wrong_partition = event_bytes(slo_id, now - 20, 250, 300)  # right key, produced to another partition
        well_keyed = event_bytes(slo_id, now - 10, 399, 400)
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.metrics) as metrics,
            TopicReader(bootstrap, topology.status) as status,
        ):
            await producer.send(
                topology.metrics,
                [
                    Msg(None, unkeyed),
                    Msg(wrong_key, wrongly_keyed),
                    Msg(slo_id.encode(), wrong_partition, partition=(home + 1) % 4),
                    Msg(slo_id.encode(), well_keyed),
                ],
            )
            await wait_caught_up(bootstrap, topology, metrics, timeout=30)
            await status.read_to_end()

        # Each misplaced event was published again, once, under its slo_id to the SLO's partition.
        copies = [r for r in metrics.records if r.key == slo_id.encode() and r.partition == home]
        expected = [unkeyed, wrongly_keyed, wrong_partition, well_keyed]  # the last was there already
        assert sorted(r.value for r in copies) == sorted(expected)
        assert len(metrics.records) == 4 + 3
        # Counted exactly once each: 90+180+250+399 good of 100+200+300+400.
        u = last_status(status.records)[slo_id]["slo_status_update"]
        assert (u["good_events"], u["total_events"]) == (919, 1000)
        worker.terminate()
        assert worker.wait_exit(15) == 0
        stats = worker.stats()
        assert stats["repartitioned"] == 3
        assert stats["accepted"] == 4
        assert not any(k.startswith("rejected:") for k in stats), stats

    asyncio.run(scenario())
