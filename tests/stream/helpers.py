"""Helpers for the streaming worker's integration tests.

Workers run as real subprocesses (`python -m app run`); the tests talk to the
broker with plain aiokafka clients: a producer, and consumers with no group
that read whole topics. Every wait polls against a deadline.

Tansu answers ListOffsets(LATEST) with the last batch's base offset + 1, so
the end of a partition is taken from a fetch's high watermark, never from
`end_offsets()` (docs/spike-faust-on-tansu.md, section 4).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Protocol

import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2

from app.domain.events import encode_event

ROOT = Path(__file__).resolve().parents[2]
US = 1_000_000
MINUTE_S = 60
HOUR_S = 3600
DAY_S = 86_400

# Fast failover (session 2 s, heartbeat 0.2 s), set explicitly: the defaults (10 s / 1 s) suit a
# stock Kafka and take over in ~16 s on Tansu, these in ~3.4 s (tests/stream/test_failover.py).
WORKER_ENV = {"SLO_SESSION_TIMEOUT_MS": "2000", "SLO_HEARTBEAT_INTERVAL_MS": "200", "SLO_API_PORT": "0"}

PERIOD_S = {
    "ROLLING_1H": HOUR_S,
    "ROLLING_24H": DAY_S,
    "ROLLING_7D": 7 * DAY_S,
    "ROLLING_30D": 30 * DAY_S,
    "ROLLING_90D": 90 * DAY_S,
}
WINDOW_S = {
    "5m": 5 * MINUTE_S,
    "30m": 30 * MINUTE_S,
    "1h": HOUR_S,
    "2h": 2 * HOUR_S,
    "6h": 6 * HOUR_S,
    "24h": DAY_S,
    "3d": 3 * DAY_S,
    "7d": 7 * DAY_S,
    "30d": 30 * DAY_S,
    "90d": 90 * DAY_S,
}


# -- topologies -----------------------------------------------------------------
def slo_def(slo_id: str, target: float = 99.9, period: str = "ROLLING_30D", **extra: Any) -> dict[str, Any]:
    return {
        "slo_id": slo_id,
        "slo_name": f"SLO {slo_id}",
        "service_name": slo_id.split("-")[0],
        "slo_type": "AVAILABILITY",
        "target_percentage": target,
        "time_period": period,
        **extra,
    }


@dataclass(frozen=True)
class Topology:
    path: Path  # the topology file a worker loads
    slos_path: Path  # the same SLOs as a `slos:` file, for `python -m app replay`
    name: str  # consumer group id and changelog prefix
    metrics: str
    status: str
    definitions: str
    dead_letter: str
    alerts: str
    partitions: int
    slos: list[dict[str, Any]]

    @property
    def changelog(self) -> str:
        return f"{self.name}-state-changelog"

    def slo(self, slo_id: str) -> dict[str, Any]:
        return next(s for s in self.slos if s["slo_id"] == slo_id)


def make_topology(
    directory: Path,
    slos: list[dict[str, Any]],
    *,
    partitions: int = 4,
    timer_interval_s: float = 10.0,
    sinks: dict[str, Any] | None = None,
) -> Topology:
    """A topology with unique topic and group names, so tests never share state."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    topics = {
        "metrics": f"{name}.metrics",
        "status": f"{name}.status",
        "definitions": f"{name}.definitions",
        "dead_letter": f"{name}.dlq",
        "alerts": f"{name}.alerts",
    }
    doc = {
        "name": name,
        "topics": topics,
        "partitions": partitions,
        "timer_interval_s": timer_interval_s,
        "max_skew_s": 300,
        **({"sinks": sinks} if sinks is not None else {}),
        "slos": slos,
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    slos_path = directory / f"{name}-slos.yaml"
    slos_path.write_text(yaml.safe_dump({"slos": slos}, sort_keys=False))
    return Topology(path, slos_path, name, partitions=partitions, slos=slos, **topics)


def partition_for(key: bytes, n_partitions: int) -> int:
    """Kafka's default partitioner (murmur2), written out here rather than imported from app."""
    return (murmur2(key) & 0x7FFFFFFF) % n_partitions


# -- worker processes ------------------------------------------------------------
_ASSIGNED = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO app\.stream\.worker: "
    r"assigned partitions \[(?P<parts>[\d, ]*)\]",
    re.MULTILINE,
)


# Settings a test never inherits from the environment it runs in: it passes them explicitly.
_INHERITED_NOT = {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "SLO_API_TOKEN", "SLO_API_HOST", "SLO_API_PORT"}


def log_time(asctime: str) -> float:
    """Epoch seconds of a logging `asctime` (local time, millisecond precision)."""
    return datetime.strptime(asctime, "%Y-%m-%d %H:%M:%S,%f").timestamp()


# Loggers whose DEBUG lines are the signals tests wait on: timer passes, definitions applied.
DEBUG_SIGNALS = "INFO,app.stream.timer=DEBUG,app.stream.definitions_feed=DEBUG"
_TICK = re.compile(r"timer tick (\d+) done")


class WorkerProcess:
    """`python -m app run` as a subprocess, its stdout and stderr in files."""

    def __init__(
        self, bootstrap: str, topology: Topology, log_dir: Path, label: str, env: dict[str, str] | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.topology = topology
        self.env = dict(env or {})  # on top of WORKER_ENV: SLO_API_PORT, REDIS_URL, SLO_API_TOKEN...
        self.label = f"{label}-{uuid.uuid4().hex[:6]}"
        self.out_path = log_dir / f"{self.label}.out"
        self.err_path = log_dir / f"{self.label}.err"
        self.proc: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []

    def start(self) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if k not in _INHERITED_NOT}
        env.update({**WORKER_ENV, **self.env, "SLO_WORKER_ID": self.label, "PYTHONUNBUFFERED": "1"})
        out, err = open(self.out_path, "wb"), open(self.err_path, "wb")  # noqa: SIM115
        self._files = [out, err]
        argv = [sys.executable, "-m", "app", "run", "--bootstrap", self.bootstrap]
        argv += ["--topology", str(self.topology.path), "--quiet", "--log-level", DEBUG_SIGNALS]
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def describe(self, lines: int = 40) -> str:
        err = "\n".join(self.stderr().splitlines()[-lines:])
        code = None if self.proc is None else self.proc.poll()
        return f"--- worker {self.label} (exit {code}) stdout:\n{self.stdout()}--- stderr (tail):\n{err}"

    async def wait_for(self, pattern: str, timeout: float, *, stream: str = "err") -> re.Match[str]:
        """The first match of `pattern` in the worker's stderr (or stdout), polling until `timeout`."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr() if stream == "err" else self.stdout()
            if m := regex.search(text):
                return m
            if not self.alive():
                raise AssertionError(f"worker exited while waiting for {pattern!r}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} after {timeout}s\n{self.describe()}")
            await asyncio.sleep(0.02)

    def ticks(self) -> int:
        """Timer passes the worker has completed so far."""
        return max((int(m[1]) for m in _TICK.finditer(self.stderr())), default=0)

    async def wait_ticks(self, n: int, timeout: float = 30.0) -> None:
        """Wait until the timer has completed `n` more passes than now: every evaluation
        the timer owes to what happened before this call has been published."""
        target = self.ticks() + n
        await self.wait_for(rf"timer tick {target} done", timeout)

    async def wait_definition(self, slo_id: str, times: int, state: str = "applied", timeout: float = 20.0) -> None:
        """Wait until the worker's definitions feed has applied (or deleted) `slo_id` for
        the `times`-th time since it started (the topology's own publication counts)."""
        regex = re.compile(rf"definition {re.escape(slo_id)} {state}$", re.MULTILINE)
        deadline = time.monotonic() + timeout
        while len(regex.findall(self.stderr())) < times:
            assert self.alive(), f"worker exited while waiting for {regex.pattern!r}\n{self.describe()}"
            assert time.monotonic() < deadline, f"no {regex.pattern!r} x{times} after {timeout}s\n{self.describe()}"
            await asyncio.sleep(0.02)

    async def ready(self, timeout: float = 30.0) -> None:
        await self.wait_for(r"^worker \S+ ready", timeout, stream="out")

    def assignments(self) -> list[tuple[float, list[int]]]:
        """Every "assigned partitions" log line: (epoch seconds, partitions)."""
        return [
            (log_time(m["at"]), [int(p) for p in m["parts"].split(",") if p.strip()])
            for m in _ASSIGNED.finditer(self.stderr())
        ]

    def kill(self) -> float:
        """SIGKILL; returns the wall-clock instant of the kill."""
        assert self.proc is not None
        at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        return at

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stats(self) -> dict[str, int]:
        """The counters of the "worker stopped: {...}" line printed on exit."""
        m = re.search(r"^worker stopped: (\{.*\})$", self.stdout(), re.MULTILINE)
        assert m, f"no stats line\n{self.describe()}"
        stats: dict[str, int] = ast.literal_eval(m[1])
        return stats

    def close(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        for f in self._files:
            f.close()


class WorkerPool:
    """Starts worker subprocesses (a `Spawn`) and kills them all at close."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.workers: list[WorkerProcess] = []

    def __call__(
        self, bootstrap: str, topology: Topology, label: str, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        worker = WorkerProcess(bootstrap, topology, self.log_dir, label, env).start()
        self.workers.append(worker)
        return worker

    def close(self, show_logs: bool = False) -> None:
        for worker in self.workers:
            worker.close()
            if show_logs:
                print(worker.describe(lines=80))


class Spawn(Protocol):
    """The `spawn` fixture: spawn(bootstrap, topology, label[, env]) -> a started worker."""

    def __call__(
        self, bootstrap: str, topology: Topology, label: str, env: dict[str, str] | None = None
    ) -> WorkerProcess: ...


# -- producing ---------------------------------------------------------------------
@dataclass(frozen=True)
class Msg:
    key: bytes | None
    value: bytes | None
    partition: int | None = None


def event_bytes(slo_id: str, ts: float | str, good: int, total: int) -> bytes:
    return encode_event(slo_id, ts, good, total)


def keyed(events: Iterable[bytes]) -> list[Msg]:
    """Messages keyed by their slo_id, as the contract asks."""
    return [Msg(json.loads(v)["slo_id"].encode(), v) for v in events]


class Producer:
    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)

    async def __aenter__(self) -> Producer:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, topic: str, messages: Sequence[Msg]) -> list[Any]:
        """Send and wait for every acknowledgement; returns the RecordMetadata in order."""
        futures = [await self.producer.send(topic, m.value, key=m.key, partition=m.partition) for m in messages]
        return list(await asyncio.gather(*futures))

    async def send_steadily(
        self,
        topic: str,
        messages: Sequence[Msg],
        rate_per_s: float,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Send at about `rate_per_s`, in 10 ms ticks; `on_progress(n_sent)` after each tick."""
        per_tick = max(1, round(rate_per_s / 100))
        start = time.monotonic()
        futures = []
        for i in range(0, len(messages), per_tick):
            for m in messages[i : i + per_tick]:
                futures.append(await self.producer.send(topic, m.value, key=m.key, partition=m.partition))
            if on_progress is not None:
                on_progress(min(i + per_tick, len(messages)))
            ahead = start + (i + per_tick) / rate_per_s - time.monotonic()
            await asyncio.sleep(max(0.0, ahead))
        await asyncio.gather(*futures)


# -- reading -----------------------------------------------------------------------
class TopicReader:
    """A plain consumer (no group) over every partition of a topic, from the beginning."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        self.tps: list[TopicPartition] = []
        self.records: list[Any] = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        deadline = time.monotonic() + 20
        while not (parts := self.consumer.partitions_for_topic(self.topic)):
            assert time.monotonic() < deadline, f"topic {self.topic} never appeared"
            await self.consumer.topics()  # refreshes metadata
            await asyncio.sleep(0.05)
        self.tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self.consumer.assign(self.tps)
        await self.consumer.seek_to_beginning(*self.tps)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.consumer.stop()

    async def poll(self, timeout_ms: int = 100) -> list[Any]:
        batch = await self.consumer.getmany(timeout_ms=timeout_ms)
        new = [r for records in batch.values() for r in records]
        self.records.extend(new)
        return new

    async def read_to_end(self, timeout: float = 20.0) -> dict[TopicPartition, int]:
        """Read every record up to the topic's end as of now; returns those ends."""
        ends = await true_ends(self.bootstrap, self.tps)
        deadline = time.monotonic() + timeout
        while True:
            positions = {tp: await self.consumer.position(tp) for tp in self.tps}
            if all(positions[tp] >= end for tp, end in ends.items()):
                return ends
            assert time.monotonic() < deadline, f"{self.topic}: at {positions}, not {ends} after {timeout}s"
            await self.poll(50)

    async def wait_until(self, predicate: Callable[[list[Any]], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.records):
            assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
            await self.poll(100)


async def true_ends(bootstrap: str, tps: Sequence[TopicPartition], timeout: float = 10.0) -> dict[TopicPartition, int]:
    """Each partition's end offset now: the high watermark of a fetch issued after this call.

    A fresh consumer, so no high watermark seen earlier can be returned: aiokafka
    keeps the HW of the last fetch response for the current position, which may
    predate the last write. ListOffsets(LATEST) is 0 only for an empty partition
    (on Tansu it is the last batch's base offset + 1: a record exists below it)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        lower = await consumer.end_offsets(list(tps))
        ends = {tp: 0 for tp in tps if lower[tp] == 0}
        probe = [tp for tp in tps if lower[tp] > 0]
        if probe:
            consumer.assign(probe)
            for tp in probe:  # before the fetcher runs: its first fetch uses these positions
                consumer.seek(tp, lower[tp] - 1)
            deadline = time.monotonic() + timeout
            while len(ends) < len(tps):
                await consumer.getmany(timeout_ms=50)
                for tp in probe:
                    hw = consumer.highwater(tp)
                    if hw is not None:
                        ends[tp] = hw
                assert time.monotonic() < deadline, f"no high watermark for {set(probe) - set(ends)}"
        return ends
    finally:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await consumer.stop()


async def committed_offsets(bootstrap: str, group: str, tps: Sequence[TopicPartition]) -> dict[int, int]:
    """partition -> committed offset of `group` (-1 when none), via OffsetFetch.

    (aiokafka's admin `list_consumer_group_offsets` fails to decode Tansu's answer;
    a consumer that carries the group id but never subscribes does not join it.)"""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        out = {}
        for tp in tps:
            offset = await consumer.committed(tp)
            out[tp.partition] = -1 if offset is None else offset
        return out
    finally:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await consumer.stop()


async def wait_caught_up(bootstrap: str, topology: Topology, metrics: TopicReader, timeout: float) -> None:
    """Until the worker group has committed every record of the metrics topic.

    Commits come after the batch's status events and changelog records are
    acknowledged, so afterwards the status topic holds the final status of
    every SLO. The committed offsets are read *before* the ends, so a record
    the worker republished (repartitioning) while we look cannot slip by."""
    deadline = time.monotonic() + timeout
    while True:
        committed = await committed_offsets(bootstrap, topology.name, metrics.tps)
        ends = await metrics.read_to_end()
        behind = {tp.partition: (committed[tp.partition], end) for tp, end in ends.items()}
        if all(c >= end for c, end in behind.values() if end > 0):
            return
        assert time.monotonic() < deadline, f"worker group not caught up after {timeout}s: {behind}"
        await asyncio.sleep(0.1)


def status_events(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


def last_status(records: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """The last status event of each SLO in topic order (all of an SLO's events share a partition)."""
    out: dict[str, dict[str, Any]] = {}
    for event in status_events(records):
        out[event["slo_status_update"]["slo_id"]] = event
    return out


# -- the reference ------------------------------------------------------------------
def run_replay(topology: Topology, events_path: Path, at: str) -> dict[str, dict[str, Any]]:
    """`python -m app replay --at AT`: slo_id -> status line."""
    argv = [sys.executable, "-m", "app", "replay", "--slos", str(topology.slos_path)]
    argv += ["--events", str(events_path), "--at", at]
    done = subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {line["slo_id"]: line for line in lines}


def close(a: float | None, b: float | None, what: str) -> None:
    if a is None or b is None:
        assert a is None and b is None, f"{what}: {a!r} != {b!r}"
        return
    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{what}: {a!r} != {b!r}"


def assert_matches_replay(event: dict[str, Any], replay: dict[str, Any]) -> None:
    """The status event's figures equal replay's at the same instant."""
    u = event["slo_status_update"]
    slo_id = u["slo_id"]
    assert u["status"] == replay["status"], f"{slo_id}: status {u['status']} != {replay['status']}"
    for name in ("current_sli", "error_budget_remaining", "error_budget_consumed", "burn_rate"):
        close(u[name], replay[name], f"{slo_id}.{name}")
    assert set(u["burn_rates"]) == set(replay["burn_rates"]) == set(WINDOW_S)
    for window, value in replay["burn_rates"].items():
        close(u["burn_rates"][window], value, f"{slo_id}.burn_rates[{window}]")
    close(u["time_to_exhaustion_seconds"], replay["time_to_exhaustion_seconds"], f"{slo_id}.time_to_exhaustion_seconds")
    assert u["time_to_exhaustion"] == replay["time_to_exhaustion"], slo_id
    rules = [a["name"] for a in replay["firing_alerts"]] + [a["name"] for a in replay["budget_alerts"]]
    assert u["firing_alerts"] == rules, slo_id
    assert u["alert_triggered"] == bool(rules)
    # The period's counts behind the budget: bad events and allowed bad events.
    assert u["total_events"] - u["good_events"] == replay["consumed_budget"], slo_id
    allowed = u["total_events"] * (1 - Fraction(str(u["target_percentage"])) / 100)
    close(float(allowed), replay["total_budget"], f"{slo_id}.total_budget")


@dataclass
class Ev:
    """One SLI event of a scenario, with its timestamp in epoch microseconds."""

    slo_id: str
    ts_us: int
    good: int
    total: int
    wire_ts: float | str  # the timestamp as written in the message

    def to_bytes(self) -> bytes:
        return event_bytes(self.slo_id, self.wire_ts, self.good, self.total)


def month_start_us(ts_us: int) -> int:
    dt = datetime.fromtimestamp(ts_us / US, UTC)
    return int(datetime(dt.year, dt.month, 1, tzinfo=UTC).timestamp()) * US


def period_counts(slo: dict[str, Any], events: Iterable[Ev], at_us: int) -> tuple[int, int]:
    """(good, total) of the SLO period at `at_us`, by the contract's definition (brute force)."""
    period = slo["time_period"]
    # A rolling period holds at - len < ts <= at; the month holds ts >= its first instant.
    oldest = month_start_us(at_us) - 1 if period == "CALENDAR_MONTH" else at_us - PERIOD_S[period] * US
    inside = [e for e in events if e.slo_id == slo["slo_id"] and oldest < e.ts_us <= at_us]
    return sum(e.good for e in inside), sum(e.total for e in inside)


def exact_burn_rate(slo: dict[str, Any], events: Iterable[Ev], at_us: int, window: str) -> float:
    """The contract's burn rate of a rolling window, scanning every event."""
    oldest = at_us - WINDOW_S[window] * US
    inside = [e for e in events if e.slo_id == slo["slo_id"] and oldest < e.ts_us <= at_us]
    good, total = sum(e.good for e in inside), sum(e.total for e in inside)
    ratio = float((100 - Fraction(str(slo["target_percentage"]))) / 100)
    return ((total - good) / total if total else 0.0) / ratio


def parse_instant_us(text: str) -> int:
    """Epoch microseconds of an RFC 3339 instant such as a status event's `evaluated_at`."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def write_events(path: Path, events: Iterable[Ev]) -> Path:
    path.write_bytes(b"".join(e.to_bytes() + b"\n" for e in events))
    return path


@dataclass
class Progress:
    """Shared counter a steady producer updates, so a test can act mid-stream."""

    sent: int = 0

    def update(self, n_sent: int) -> None:
        self.sent = n_sent


def produce_steadily(
    producer: Producer, topic: str, events: Sequence[Ev], rate_per_s: float
) -> tuple[asyncio.Task[None], Progress]:
    """Send events keyed by slo_id at a steady rate in the background; returns the task
    and its progress."""
    progress = Progress()
    messages = keyed(e.to_bytes() for e in events)
    task = asyncio.create_task(producer.send_steadily(topic, messages, rate_per_s, on_progress=progress.update))
    return task, progress
