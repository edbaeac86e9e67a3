"""The newcomer's commands: produce-demo feeds a worker, tail-status prints what it publishes."""

from __future__ import annotations

import asyncio
import fcntl
import json
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.stream.helpers import Msg, Producer, Spawn, TopicReader, make_topology, slo_def

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_produce_demo_then_tail_status(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def("demo-a"), slo_def("demo-b", period="CALENDAR_MONTH")], partitions=2)
    worker = spawn(bootstrap, topology, "demo")
    asyncio.run(worker.ready())
    base = [sys.executable, "-m", "app"]
    flags = ["--bootstrap", bootstrap, "--topology", str(topology.path)]
    demo = subprocess.run(
        [*base, "produce-demo", *flags, "--duration", "3"], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert demo.returncode == 0, demo.stderr
    assert "producing demo traffic for 2 SLOs" in demo.stdout
    tail = subprocess.Popen(
        [*base, "tail-status", *flags, "--from-beginning"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        seen: dict[str, str] = {}
        assert tail.stdout is not None
        for line in tail.stdout:  # one line per status event: time, slo_id, status, sli, burn, budget
            fields = line.split()
            seen[fields[1]] = fields[2]
            if {"demo-a", "demo-b"} <= seen.keys():
                break
    finally:
        tail.terminate()
        tail.communicate(timeout=10)  # drains its stdout: never a writer blocked on a full pipe
    # a day of backfill at 0.02% errors, then live traffic: both healthy, nothing firing
    assert seen == {"demo-a": "HEALTHY", "demo-b": "HEALTHY"}


@pytest.mark.timeout(120)
def test_produce_backfills_a_file_and_reports_bad_lines(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def("bf-a"), slo_def("bf-b")], partitions=2)
    worker = spawn(bootstrap, topology, "backfill")
    asyncio.run(worker.ready())
    now = time.time()
    lines = [
        json.dumps({"slo_id": "bf-a", "timestamp": now - 86_400 * 3, "good": 90, "total": 100}),  # 3 days ago
        "{not json",
        json.dumps({"slo_id": "bf-a", "timestamp": now - 60, "good": 100, "total": 100}),
        json.dumps({"slo_id": "bf-b", "timestamp": now - 3_600, "good": 5, "total": 4}),  # good > total
        json.dumps({"slo_id": "bf-b", "timestamp": now - 3_600, "good": 7, "total": 10}),
    ]
    events = tmp_path / "backfill.jsonl"
    events.write_text("\n".join(lines) + "\n")
    flags = ["--bootstrap", bootstrap, "--topology", str(topology.path)]
    run = subprocess.run(
        [sys.executable, "-m", "app", "produce", *flags, "--events", str(events)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "produce: 3 events sent" in run.stdout and "2 rejected" in run.stdout
    assert "line 2: invalid_json" in run.stderr and "line 4: good_exceeds_total" in run.stderr

    async def counted() -> dict[str, tuple[int, int]]:
        async with TopicReader(bootstrap, topology.status) as status:
            deadline = time.monotonic() + 30
            while True:
                await status.poll(200)
                finals = {
                    u["slo_id"]: (u["good_events"], u["total_events"])
                    for u in (json.loads(r.value)["slo_status_update"] for r in status.records)
                }
                if finals.get("bf-a") == (190, 200) and "bf-b" in finals:
                    return finals
                assert time.monotonic() < deadline, finals

    assert asyncio.run(counted()) == {"bf-a": (190, 200), "bf-b": (7, 10)}


@pytest.mark.timeout(150)
def test_producing_a_file_twice_counts_it_once_across_a_crash(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    """Events carrying event_ids: the second run of `produce` on the same file is refused
    as duplicates (dead letter `duplicate_event`), even though the worker was SIGKILLed
    and restarted in between: the dedup horizon lives in the changelog."""
    topology = make_topology(tmp_path, [slo_def("dd-a"), slo_def("dd-b")], partitions=2)
    now = time.time()
    lines = [
        json.dumps({"slo_id": slo_id, "timestamp": now - 60 * i, "good": 9, "total": 10, "event_id": f"{slo_id}-{i}"})
        for i in range(1, 6)
        for slo_id in ("dd-a", "dd-b")
    ]
    lines.append(json.dumps({"slo_id": "dd-a", "timestamp": now - 30, "good": 1, "total": 1}))  # no id
    events = tmp_path / "with-ids.jsonl"
    events.write_text("\n".join(lines) + "\n")
    flags = ["--bootstrap", bootstrap, "--topology", str(topology.path)]

    def produce() -> None:
        run = subprocess.run(
            [sys.executable, "-m", "app", "produce", *flags, "--events", str(events)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr

    async def finals(want: dict[str, tuple[int, int]]) -> None:
        async with TopicReader(bootstrap, topology.status) as status:
            await status.wait_until(
                lambda records: (
                    {
                        u["slo_id"]: (u["good_events"], u["total_events"])
                        for u in (json.loads(r.value)["slo_status_update"] for r in records)
                    }
                    == want
                ),
                timeout=30,
                what=f"status events with counts {want}",
            )

    first = spawn(bootstrap, topology, "dedup-1")
    asyncio.run(first.ready())
    produce()
    asyncio.run(finals({"dd-a": (46, 51), "dd-b": (45, 50)}))
    first.kill()

    second = spawn(bootstrap, topology, "dedup-2")
    asyncio.run(second.ready())
    produce()

    async def duplicates() -> list[dict[str, str]]:
        async with TopicReader(bootstrap, topology.dead_letter) as dlq:
            await dlq.wait_until(lambda records: len(records) >= 10, timeout=30, what="10 dead letters")
            return [{k: v.decode() for k, v in r.headers} for r in dlq.records]

    headers = asyncio.run(duplicates())
    assert [h["dlq.reason"] for h in headers] == ["duplicate_event"] * 10
    assert all(h["dlq.field"] == "event_id" for h in headers)
    # the event without an id counted twice (never deduplicated), the others once
    asyncio.run(finals({"dd-a": (47, 52), "dd-b": (45, 50)}))


# Linux's default pipe buffer is 64 KiB; a writer blocks once it cannot fit its next write,
# which may leave part of the last pages unused.
PIPE_NEARLY_FULL = 48 * 1024


def unread_bytes(fd: int) -> int:
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


def tail_a_full_topic(bootstrap: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    """tail-status --json on a status topic holding ~600 KB, its stdout a pipe nobody reads
    yet: returns once that pipe is (nearly) full, with far more left to write."""
    topology = make_topology(tmp_path, [slo_def("pipe-a")], partitions=1)
    value = json.dumps({"filler": "x" * 300}).encode()

    async def fill() -> None:
        async with Producer(bootstrap) as producer:
            await producer.send(topology.status, [Msg(b"pipe-a", value)] * 2000)

    asyncio.run(fill())
    flags = ["--bootstrap", bootstrap, "--topology", str(topology.path)]
    tail = subprocess.Popen(
        [sys.executable, "-m", "app", "tail-status", *flags, "--from-beginning", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tail.stdout is not None
    deadline = time.monotonic() + 30
    while unread_bytes(tail.stdout.fileno()) < PIPE_NEARLY_FULL:
        assert tail.poll() is None, tail.stderr.read() if tail.stderr else ""
        assert time.monotonic() < deadline, "tail-status never filled its pipe"
        time.sleep(0.02)
    return tail


@pytest.mark.timeout(60)
def test_tail_status_ends_on_sigterm_while_its_pipe_is_full(bootstrap: str, tmp_path: Path) -> None:
    tail = tail_a_full_topic(bootstrap, tmp_path)
    try:
        tail.send_signal(signal.SIGTERM)
        code = tail.wait(10)  # nobody reads its stdout meanwhile
    finally:
        if tail.poll() is None:
            tail.kill()
        _, err = tail.communicate(timeout=10)
    assert code == 0, err.decode()
    assert b"Traceback" not in err


@pytest.mark.timeout(60)
def test_tail_status_ends_quietly_when_its_reader_leaves(bootstrap: str, tmp_path: Path) -> None:
    tail = tail_a_full_topic(bootstrap, tmp_path)
    assert tail.stdout is not None and tail.stderr is not None
    tail.stdout.close()  # `tail-status | head`: the reader is gone
    try:
        code = tail.wait(10)
    finally:
        if tail.poll() is None:
            tail.kill()
        err = tail.stderr.read()
    assert code == 0, err.decode()
    assert err == b"", err.decode()  # no BrokenPipeError, no traceback
