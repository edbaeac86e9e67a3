"""The read model's pending writes, applied to a real Redis: the latest write per key
wins, memory stays bounded however long Redis is away, and writes that failed and were
merged with newer ones leave Redis as if every write had gone through in order."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.stream.read_model_writes import HashWrite, PendingWrites
from tests.stream.servers import RedisServer

N = 10  # slots of the ring behind the hash


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    server = RedisServer(Path(tmp_path_factory.mktemp("redis"))).start()
    c = server.client()
    try:
        yield c
    finally:
        c.close()
        server.stop()


def write(client: redis.Redis, pending: PendingWrites) -> None:
    pipe = client.pipeline(transaction=False)
    for key, w in pending.take(len(pending)):
        w.apply(pipe, key)
    pipe.execute()


def fields(client: redis.Redis, key: str) -> dict[int, str]:
    return {int(k): v.decode() for k, v in client.hgetall(key).items()}


def test_a_key_written_many_times_is_pending_once(client: redis.Redis) -> None:
    pending = PendingWrites()
    for i in range(10_000):
        pending.set("a:status", lambda i=i: f"v{i}")  # type: ignore[misc]
    assert len(pending) == 1
    write(client, pending)
    assert client.get("a:status") == b"v9999"


def test_a_long_outage_keeps_at_most_two_laps_and_deletes_expired_fields(client: redis.Redis) -> None:
    key = "b:m"
    # Before the outage Redis holds the first lap, buckets 1..10.
    pending = PendingWrites()
    for k in range(1, N + 1):
        pending.hash(key, N).put(k, f"{k},{k}")
    write(client, pending)
    assert fields(client, key) == {k: f"{k},{k}" for k in range(1, N + 1)}
    # Then 1000 buckets are written while Redis is away: nothing is sent meanwhile.
    for k in range(N + 1, 1000 + N + 1):
        pending.hash(key, N).put(k, f"{k},{k}")
        entry = pending.writes[key]
        assert isinstance(entry, HashWrite) and len(entry) <= 2 * N
    write(client, pending)
    assert fields(client, key) == {k: f"{k},{k}" for k in range(1001, 1011)}  # the ring's last lap only


def test_failed_batches_merged_with_newer_writes_end_as_writes_in_order(client: redis.Redis) -> None:
    rng = random.Random(7)
    direct, buffered = "c:direct", "c:buffered"
    pending = PendingWrites()
    in_flight: PendingWrites | None = None  # a batch the writer took and is sending
    head = 0
    for _ in range(600):
        head += rng.choice((0, 0, 1, 2, 15))
        k = head - rng.randrange(N)  # a bucket of the current lap
        value = f"{rng.randrange(100)},{rng.randrange(100, 200)}"
        # The direct path: every write sent at once.
        one = PendingWrites()
        one.hash(direct, N).put(k, value)
        write(client, one)
        # The buffered path: staged while the writer takes batches that fail (merged back
        # under what was staged since) or go through.
        pending.hash(buffered, N).put(k, value)
        if in_flight is None and rng.random() < 0.2:
            in_flight, pending = pending, PendingWrites()
        elif in_flight is not None and rng.random() < 0.1:
            pending = in_flight.merged_with(pending)
            in_flight = None
        elif in_flight is not None and rng.random() < 0.05:
            write(client, in_flight)
            in_flight = None
    if in_flight is not None:
        pending = in_flight.merged_with(pending)
    write(client, pending)
    live = range(head - N + 1, head + 1)  # fields the ring still holds
    got, want = fields(client, buffered), fields(client, direct)
    assert {k: v for k, v in got.items() if k in live} == {k: v for k, v in want.items() if k in live}
    # Older laps: never a field the direct path would not have kept too (a slot that was
    # not written again keeps its last lap's bucket on both paths).
    assert set(got) - set(live) <= set(want) - set(live)


def test_a_reset_hash_deletes_the_old_fields_before_new_ones(client: redis.Redis) -> None:
    key = "d:h"
    pending = PendingWrites()
    for k in (1, 2, 3):
        pending.hash(key, N).put(k, "1,1")
    write(client, pending)
    failed = PendingWrites()
    failed.hash(key, N).put(4, "4,4")
    newer = PendingWrites()
    newer.reset_hash(key)  # the SLO was deleted, then re-created
    newer.hash(key, N).put(7, "7,7")
    write(client, failed.merged_with(newer))
    assert fields(client, key) == {7: "7,7"}
