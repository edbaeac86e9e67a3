"""Streaming benchmark (issue 3): one worker process on an embedded broker (--broker).

What runs: this script starts an embedded broker (--broker: noida or tansu;
default SLO_EMBEDDED_BROKER, else the embedded default), writes a topology with
`--slos` SLOs (default 1000), creates its topics with the configs `python -m app
run` gives them on that broker (deleting committed input where it does, on
noida-db) and starts ONE worker as a subprocess
(`python -m app run --bootstrap ... --topology ... --quiet`, with
SLO_FETCH_MAX_WAIT_MS = --fetch-wait-ms, SLO_API_PORT=0 and no REDIS_URL: the
streaming path alone, without the HTTP API or the read model). Each phase uses a fresh topic set and
consumer group (a new topology name), hence a fresh worker: Tansu's per-fetch
cost grows with the number of record batches stored in a partition
(docs/spike-faust-on-tansu.md, section 0), so phases must not inherit each
other's partitions.

Latency phases (--rates, default 1k, 5k, 20k events/s, --duration s each):
  * an aiokafka producer (linger 1 ms, acks=1, key = slo_id) sends events at a
    steady paced rate, round robin over the SLOs (so at 5k/s one SLO gets an
    event every 200 ms and a status event normally reflects exactly one input
    event); the send wall-clock time is embedded in `event_id`
    (`<slo_id>:<n>:<time_ns>`) and kept in memory;
  * a plain aiokafka consumer (no group, fetch wait --consumer-fetch-wait-ms)
    in the same process reads the status topic; its receive time is taken when
    getmany() returns. Each status record gets a partial msgspec decode and
    an O(1) match in the loop (percentiles and timestamp parsing wait for the
    end of the run), so the producer's pacing and the consumer do not starve
    each other: this process uses about 0.2-0.35 of a core even at 20k/s (the
    "bench" CPU column).

How a status event is matched to input events (status events carry no
event_id): every SLO first gets one "primer" event with good = total = 100000,
then event n (n = 1, 2, ...) has total = 100000 and good = 99999 (one bad event).
After n events the SLO's period holds bad = n, total = (n + 1) * 100000, so a
status event tells exactly which n is the latest event it reflects: n =
total_events - good_events when the status carries the counts, else it is
decoded from `error_budget_consumed` = n / ((n + 1) * 100000 * (1 - target))
(and checked to be an integer). The SLOs stay HEALTHY (burn rate 0.01), like
real traffic.

Measured latency, per input event n >= 1 of an SLO: the receive time of the
first status event of that SLO that reflects it (decoded n' >= n) minus the
wall-clock time just before `producer.send()` of event n. It therefore
includes the producer's linger (<= 1 ms), the worker's fetch wait, its batch
processing, acks of its status/changelog sends, and the status consumer's
fetch. When the worker coalesces several events of one SLO into one status
event (rare: only when it is > 1 round-robin period behind), every coalesced
event gets its own latency from the same status event, so coalescing never
hides a delay. "send->worker" is the status event's `timestamp` (the worker's
wall clock when it started the batch) minus the send time of the newest event
it reflects: the part of the latency spent before the worker processed it.
The primer events also serve as the readiness probe: the phase starts once
every SLO has published its first status event.

Kept up: every event's status arrived, and the backlog left when sending
stopped drained within 0.5 s ("drain": last send -> last status received).
The p50 of the first and last third of the run, and p50/p99 per 2 s of it,
show any trend; "broker alone" (same producer, same consumer, a topic with
the same partitions, no worker, run right after each phase; --no-floor skips
it) is the embedded broker's own floor: on Tansu it grows within seconds
because every fetch costs time in proportion to the record batches stored in
a partition (docs/spike-faust-on-tansu.md, section 0).

Throughput phase: the metrics topic of a fresh topology is pre-filled with
--prefill events (plus one primer per SLO; big producer batches), then the
worker is started; throughput = events / (time the last event's status is
received - worker wall clock at the start of its first batch); the worker's
committed offsets are checked against the end of every partition after it
stopped. Events are round robin, so a fetched batch of 2000 records from one
partition holds ~16 events of each of its ~125 SLOs: ~15 events coalesce in a
status event (printed), and the figure is for that mix; the latency phases'
"worker CPU / event" is the cost when every event gets its own status.

CPU columns: CPU time (user + system, /proc) of the worker, the broker and this
script during the phase, in cores; "other" = the rest of the machine's busy
time (another test suite, ...): if it is large, the figures are contended.

Usage: .venv/bin/python benchmarks/stream_bench.py [--rates 1000,5000,20000]
       [--duration 12] [--slos 1000] [--partitions 8] [--prefill 500000]
       [--fetch-wait-ms 5] [--consumer-fetch-wait-ms 5] [--no-floor]
       [--skip-latency | --skip-throughput] [--worker-module app]
(about 2 minutes with the defaults). Prints the figures and a Markdown section
for benchmarks/RESULTS.md. --worker-module runs `python -m MODULE run` instead
of `app`, to A/B a patched worker (put it on PYTHONPATH).
Where the worker's time goes: benchmarks/stream_profile.py.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.core.budget import BudgetRatio
from app.domain.enums import TimePeriod
from app.stream.broker import BROKER_KINDS, EmbeddedBroker, TansuBroker, embedded_broker
from app.stream.kafka_io import ensure_topics
from app.stream.long_poll import LongPollConsumer
from app.stream.settings import WorkerSettings
from app.stream.trim import trim_consumed
from app.topology import parse_topology

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 8  # as topologies/default.yaml; --partitions overrides
BROKER: EmbeddedBroker = TansuBroker()  # the embedded broker of the run (--broker), set by main_async
TARGET = 99.9
UNIT = 100_000  # total per event; one bad event per non-primer event
CLK = os.sysconf("SC_CLK_TCK")


# -- CPU accounting ----------------------------------------------------------------
def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def system_busy_s() -> float:
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + vals[4]
    return (sum(vals[:8]) - idle) / CLK


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


@dataclass
class CpuSnap:
    t: float
    pids: dict[str, float]
    busy: float

    @classmethod
    def take(cls, pids: dict[str, int]) -> CpuSnap:
        return cls(time.monotonic(), {k: proc_cpu_s(p) for k, p in pids.items()}, system_busy_s())

    def cores_since(self, start: CpuSnap) -> dict[str, float]:
        dt_s = max(self.t - start.t, 1e-9)
        out = {k: (self.pids[k] - start.pids[k]) / dt_s for k in self.pids}
        out["other"] = max(0.0, (self.busy - start.busy) / dt_s - sum(out.values()))
        return out


# -- topology and events -------------------------------------------------------------
def slo_ids(n: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(n)]


def write_topology(directory: Path, tag: str, ids: list[str], inline_slos: bool = True) -> tuple[Path, Any]:
    """The topology file and the parsed topology (with its SLOs). `inline_slos=False`
    writes the file without them (the SLOs are then published to the definitions
    topic by the caller: benchmarks/scale_bench.py)."""
    periods = list(TimePeriod)
    doc = {
        "name": f"bench-{tag}",
        "topics": {
            "metrics": f"bench.{tag}.metrics",
            "status": f"bench.{tag}.status",
            "definitions": f"bench.{tag}.definitions",
            "dead_letter": f"bench.{tag}.dlq",
        },
        "partitions": PARTITIONS,
        "timer_interval_s": 10,
        "slos": [
            {
                "slo_id": sid,
                "slo_name": f"Bench service {i} availability",
                "service_name": f"bench-svc-{i % 50:02d}",
                "slo_type": "AVAILABILITY",
                "target_percentage": TARGET,
                "time_period": periods[i % len(periods)].value,
            }
            for i, sid in enumerate(ids)
        ],
    }
    path = directory / f"topology-{tag}.yaml"
    path.write_text(json.dumps(doc if inline_slos else {**doc, "slos": []}, indent=1))  # JSON is YAML
    return path, parse_topology(doc)


class _Clock:
    """RFC 3339 (seconds) of the current second, formatted once a second."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def stamp(self, now_ns: int) -> str:
        s = now_ns // 1_000_000_000
        if s != self.second:
            self.second = s
            self.text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))
        return self.text


def event_bytes(sid: str, n: int, send_ns: int, ts: str) -> bytes:
    good = UNIT if n == 0 else UNIT - 1
    return (
        f'{{"slo_id":"{sid}","timestamp":"{ts}","good":{good},"total":{UNIT},"event_id":"{sid}:{n}:{send_ns}"}}'
    ).encode()


# -- status tracking -----------------------------------------------------------------
class _Update(msgspec.Struct):
    slo_id: str
    error_budget_consumed: float
    good_events: int | None = None  # in the status event since issue 3's worker change
    total_events: int | None = None


class _Status(msgspec.Struct):
    timestamp: str
    slo_status_update: _Update


_status_decoder = msgspec.json.Decoder(_Status)
_BUDGET = BudgetRatio.of(TARGET).value


def events_reflected(consumed: float) -> float:
    """n from error_budget_consumed = n / ((n + 1) * UNIT * budget ratio)."""
    x = consumed * _BUDGET * UNIT  # n / (n + 1)
    return x / (1.0 - x)


class Tracker:
    """Send times per SLO and event index; status events matched to them."""

    def __init__(self, ids: list[str]) -> None:
        self.index = {sid: i for i, sid in enumerate(ids)}
        self.send_ns: list[list[int]] = [[] for _ in ids]
        self.covered = [-1] * len(ids)  # highest n whose status was received
        self.pending_records: list[tuple[int, bytes]] = []
        self.lat_send_ns: list[int] = []
        self.lat_ns: list[int] = []
        self.worker_lag_us: list[tuple[str, int, int]] = []  # (status timestamp, newest send us, recv us)
        self.statuses = 0
        self.stale = 0  # timer events / duplicates: reflect nothing new
        self.coalesced = 0
        self.undecodable = 0
        self.first_recv_ns = 0
        self.last_cover_ns = 0
        self.first_worker_ts: str | None = None
        self.incomplete = 0  # SLOs whose newest sent event is not covered yet
        self.measure = True

    def sent(self, i: int, send_ns: int) -> None:
        if self.covered[i] == len(self.send_ns[i]) - 1:
            self.incomplete += 1
        self.send_ns[i].append(send_ns)

    def received(self, recv_ns: int, value: bytes) -> None:
        self.statuses += 1
        if not self.first_recv_ns:
            self.first_recv_ns = recv_ns
        st = _status_decoder.decode(value)
        u = st.slo_status_update
        i = self.index.get(u.slo_id)
        if u.good_events is not None and u.total_events is not None:
            nf = float(u.total_events - u.good_events)  # bad events = n, exactly
        else:
            nf = events_reflected(u.error_budget_consumed)
        n = round(nf)
        if i is None or abs(nf - n) > 1e-3 or n >= len(self.send_ns[i]):
            self.undecodable += 1
            return
        if self.first_worker_ts is None or st.timestamp < self.first_worker_ts:
            self.first_worker_ts = st.timestamp
        c = self.covered[i]
        if n <= c:
            self.stale += 1
            return
        sends = self.send_ns[i]
        if c >= 0:
            self.coalesced += n - c - 1
        if self.measure:
            for k in range(max(c + 1, 1), n + 1):
                self.lat_send_ns.append(sends[k])
                self.lat_ns.append(recv_ns - sends[k])
            if n >= 1:
                self.worker_lag_us.append((st.timestamp, sends[n] // 1000, recv_ns // 1000))
        self.covered[i] = n
        self.last_cover_ns = recv_ns
        if n == len(sends) - 1:
            self.incomplete -= 1


async def status_reader(consumer: AIOKafkaConsumer, tracker: Tracker, stop: asyncio.Event) -> None:
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=50)
        recv_ns = time.time_ns()
        for records in batch.values():
            for r in records:
                tracker.received(recv_ns, r.value)


async def wait_until(predicate: Any, timeout_s: float, step_s: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step_s)
    return True


# -- the worker subprocess -----------------------------------------------------------
class WorkerProcess:
    def __init__(
        self,
        bootstrap: str,
        topology_path: Path,
        fetch_wait_ms: int,
        workdir: Path,
        module: str = "app",
        *,
        name: str | None = None,
        env_extra: dict[str, str] | None = None,
        args_extra: list[str] | None = None,
    ) -> None:
        """`name`: stem of the .out/.err files (default: the topology's); `env_extra`
        overrides the environment (e.g. SLO_API_PORT to serve /metrics); `args_extra`
        are appended to `run`."""
        stem = name or topology_path.stem
        self.out_path = workdir / f"{stem}.out"
        self.err_path = workdir / f"{stem}.err"
        # The streaming worker alone: no HTTP API (SLO_API_PORT=0; it would also need a
        # free port) and no Redis read model.
        env = {**os.environ, "SLO_FETCH_MAX_WAIT_MS": str(fetch_wait_ms), "SLO_API_PORT": "0"}
        session_ms = int(env.get("SLO_SESSION_TIMEOUT_MS", "0") or 0)
        if session_ms < BROKER.min_session_timeout_ms:  # as `run` does on its embedded broker
            env["SLO_SESSION_TIMEOUT_MS"] = str(BROKER.min_session_timeout_ms)
        for var in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"):
            env.pop(var, None)
        env.update(env_extra or {})
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                "run",
                "--bootstrap",
                bootstrap,
                "--topology",
                str(topology_path),
                "--quiet",
                *(args_extra or []),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.out_path.open("wb"),
            stderr=self.err_path.open("wb"),
        )
        self.ready_after_s: float | None = None
        self.ready_ns = 0
        self.stats: dict[str, int] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while b" ready: " not in self.out_path.read_bytes():
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}): {self.err_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker not ready after {timeout_s}s: {self.err_path.read_text()[-2000:]}")
            await asyncio.sleep(0.005)
        self.ready_ns = time.time_ns()
        self.ready_after_s = time.monotonic() - self.spawned

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for line in self.out_path.read_text().splitlines():
            if line.startswith("worker stopped: "):
                with contextlib.suppress(ValueError, SyntaxError):
                    self.stats = dict(ast.literal_eval(line.removeprefix("worker stopped: ")))

    def warnings(self) -> list[str]:
        return [ln for ln in self.err_path.read_text().splitlines() if "WARNING" in ln or "ERROR" in ln]


# -- helpers -----------------------------------------------------------------------------
def pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")


def ms(ns: float) -> float:
    return ns / 1e6


def parse_ts_us(text: str) -> int:
    d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(d.timestamp()) * 1_000_000 + d.microsecond


def status_consumer(bootstrap: str, topic: str, fetch_wait_ms: int) -> AIOKafkaConsumer:
    return LongPollConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_wait_ms,
    )


async def start_reader(
    bootstrap: str, topic: str, fetch_wait_ms: int, tracker: Tracker
) -> tuple[AIOKafkaConsumer, asyncio.Event, asyncio.Task[None]]:
    consumer = status_consumer(bootstrap, topic, fetch_wait_ms)
    await consumer.start()
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    await consumer.seek_to_beginning()
    stop = asyncio.Event()
    task = asyncio.create_task(status_reader(consumer, tracker, stop))
    return consumer, stop, task


async def stop_reader(consumer: AIOKafkaConsumer, stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(task, 2)
    await consumer.stop()


# -- latency phase ---------------------------------------------------------------------------
@dataclass
class LatencyResult:
    rate: int
    achieved_rate: float
    events: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    p50_first_ms: float
    p50_last_ms: float
    worker_p50_ms: float
    worker_p99_ms: float
    out_p50_ms: float
    out_p99_ms: float
    drain_ms: float
    complete: bool
    kept_up: bool
    worker_us_per_event: float
    statuses: int
    coalesced: int
    stale: int
    undecodable: int
    ready_s: float
    cpu: dict[str, float]
    series: str = ""
    floor: FloorResult | None = None
    worker_stats: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


SLICE_S = [2.0]


def series(send_ns: np.ndarray, lat_ns: np.ndarray, slice_s: float | None = None) -> str:
    """p50/p99 (ms) per slice of send time: shows a backlog or a broker slowing down."""
    if not send_ns.size:
        return ""
    slice_s = SLICE_S[0] if slice_s is None else slice_s
    idx = ((send_ns - send_ns.min()) // int(slice_s * 1e9)).astype(np.int64)
    parts = []
    for k in range(int(idx.max()) + 1):
        x = lat_ns[idx == k]
        if x.size:
            parts.append(f"{k * slice_s:.0f}s {ms(pct(x, 50)):.1f}/{ms(pct(x, 99)):.1f}")
    return ", ".join(parts)


@dataclass
class FloorResult:
    """The broker alone: the same producer and consumer, no worker in between."""

    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu: dict[str, float]
    series: str


async def floor_phase(
    bootstrap: str, broker_pid: int, ids: list[str], rate: int, args: argparse.Namespace
) -> FloorResult:
    topic = f"bench.floor{rate}-{int(time.time())}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
    await producer.start()
    consumer = status_consumer(bootstrap, topic, args.consumer_fetch_wait_ms)
    await consumer.start()
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    await consumer.seek_to_beginning()
    got: list[tuple[int, bytes]] = []
    stop = asyncio.Event()

    async def read() -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=50)
            recv_ns = time.time_ns()
            for records in batch.values():
                for r in records:
                    got.append((recv_ns, r.value))

    task = asyncio.create_task(read())
    tracker = Tracker(ids)
    keys = [sid.encode() for sid in ids]
    pids = {"broker": broker_pid, "bench": os.getpid()}
    try:
        await asyncio.sleep(0.3)
        cpu0 = CpuSnap.take(pids)
        sent, _ = await paced_send(producer, topic, ids, keys, tracker, rate, args.duration)
        await wait_until(lambda: len(got) >= sent, 10)
        cpu = CpuSnap.take(pids).cores_since(cpu0)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 2)
        await consumer.stop()
        await producer.stop()
    send = np.asarray([int(v[v.rindex(b":") + 1 : -2]) for _, v in got], dtype=np.int64)
    lat = np.asarray([r for r, _ in got], dtype=np.int64) - send
    return FloorResult(
        ms(pct(lat, 50)),
        ms(pct(lat, 99)),
        ms(float(lat.max())) if lat.size else float("nan"),
        cpu,
        series(send, lat),
    )


async def paced_send(
    producer: AIOKafkaProducer,
    topic: str,
    ids: list[str],
    keys: list[bytes],
    tracker: Tracker,
    rate: int,
    duration_s: float,
) -> tuple[int, float]:
    clock = _Clock()
    n_total = int(rate * duration_s)
    n_slos = len(ids)
    t0 = time.perf_counter()
    i = 0
    while i < n_total:
        due = min(n_total, int((time.perf_counter() - t0) * rate) + 1)
        while i < due:
            s = i % n_slos
            n = len(tracker.send_ns[s])
            now_ns = time.time_ns()
            tracker.sent(s, now_ns)
            await producer.send(topic, event_bytes(ids[s], n, now_ns, clock.stamp(now_ns)), key=keys[s])
            i += 1
        next_due = t0 + i / rate
        await asyncio.sleep(max(next_due - time.perf_counter(), 0.0005))
    elapsed = time.perf_counter() - t0
    return i, i / elapsed


async def latency_phase(
    bootstrap: str, broker_pid: int, workdir: Path, ids: list[str], rate: int, args: argparse.Namespace
) -> LatencyResult:
    tag = f"lat{rate}-{int(time.time())}"
    path, topology = write_topology(workdir, tag, ids)
    # As `python -m app run` on its embedded broker: the topics with the configs that
    # bound the broker's memory, and committed input deleted where the broker needs it.
    await ensure_topics(bootstrap, topology, configs=BROKER.topic_configs)
    trim = None
    if BROKER.trims_consumed:
        trim = asyncio.create_task(trim_consumed(bootstrap, topology.name, topology.topics.metrics))
    worker = WorkerProcess(bootstrap, path, args.fetch_wait_ms, workdir, args.worker_module)
    keys = [sid.encode() for sid in ids]
    tracker = Tracker(ids)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
    reader = None
    try:
        await worker.wait_ready()
        await producer.start()
        reader = await start_reader(bootstrap, topology.topics.status, args.consumer_fetch_wait_ms, tracker)
        # Primers: one per SLO; the phase starts when every SLO has a status (warm worker).
        clock = _Clock()
        tracker.measure = False
        for s, sid in enumerate(ids):
            now_ns = time.time_ns()
            tracker.sent(s, now_ns)
            await producer.send(topology.topics.metrics, event_bytes(sid, 0, now_ns, clock.stamp(now_ns)), key=keys[s])
        await producer.flush()
        if not await wait_until(lambda: tracker.incomplete == 0, 30):
            raise RuntimeError(f"primers: {tracker.incomplete} SLOs without a status after 30 s")
        await asyncio.sleep(0.3)
        tracker.measure = True
        pids = {"worker": worker.pid, "broker": broker_pid, "bench": os.getpid()}
        cpu0 = CpuSnap.take(pids)
        sent, achieved = await paced_send(producer, topology.topics.metrics, ids, keys, tracker, rate, args.duration)
        last_send_ns = time.time_ns()
        complete = await wait_until(lambda: tracker.incomplete == 0, 15)
        cpu1 = CpuSnap.take(pids)
        cpu = cpu1.cores_since(cpu0)
        worker_us = (cpu1.pids["worker"] - cpu0.pids["worker"]) / max(sent, 1) * 1e6
        drain_ms = ms(max(tracker.last_cover_ns - last_send_ns, 0))
    finally:
        if reader is not None:
            await stop_reader(*reader)
        await producer.stop()
        worker.stop()
        if trim is not None:
            trim.cancel()

    lat = np.asarray(tracker.lat_ns, dtype=np.int64)
    send = np.asarray(tracker.lat_send_ns, dtype=np.int64)
    order = np.argsort(send, kind="stable")
    lat_sorted = lat[order]
    third = max(len(lat_sorted) // 3, 1)
    stamps = np.asarray([parse_ts_us(ts) for ts, _, _ in tracker.worker_lag_us], dtype=np.int64)
    wl = (stamps - np.asarray([s for _, s, _ in tracker.worker_lag_us], dtype=np.int64)) * 1000
    wo = (np.asarray([r for _, _, r in tracker.worker_lag_us], dtype=np.int64) - stamps) * 1000
    return LatencyResult(
        rate=rate,
        achieved_rate=achieved,
        events=sent,
        p50_ms=ms(pct(lat, 50)),
        p99_ms=ms(pct(lat, 99)),
        max_ms=ms(float(lat.max())) if lat.size else float("nan"),
        p50_first_ms=ms(pct(lat_sorted[:third], 50)),
        p50_last_ms=ms(pct(lat_sorted[-third:], 50)),
        worker_p50_ms=ms(pct(wl, 50)),
        worker_p99_ms=ms(pct(wl, 99)),
        out_p50_ms=ms(pct(wo, 50)),
        out_p99_ms=ms(pct(wo, 99)),
        drain_ms=drain_ms,
        complete=complete,
        kept_up=complete and drain_ms < 500,
        worker_us_per_event=worker_us,
        statuses=tracker.statuses,
        coalesced=tracker.coalesced,
        stale=tracker.stale,
        undecodable=tracker.undecodable,
        ready_s=worker.ready_after_s or float("nan"),
        cpu=cpu,
        series=series(send, lat),
        worker_stats=worker.stats,
        warnings=worker.warnings(),
    )


# -- throughput phase -------------------------------------------------------------------------
@dataclass
class ThroughputResult:
    events: int
    prefill_s: float
    prefill_rate: float
    ready_s: float
    elapsed_s: float
    from_ready_s: float
    rate: float
    rate_from_ready: float
    complete: bool
    covered: int
    statuses: int
    committed_ok: bool | None
    committed: int
    end: int
    cpu: dict[str, float]
    worker_cpu_us_per_event: float
    worker_stats: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


async def prefill(bootstrap: str, topic: str, ids: list[str], tracker: Tracker, per_slo: int) -> dict[int, int]:
    """Primer + per_slo events per SLO, round robin; returns the end offset per partition."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1, max_batch_size=512 * 1024)
    await producer.start()
    keys = [sid.encode() for sid in ids]
    clock = _Clock()
    ends: dict[int, int] = {}
    futures: list[asyncio.Future[Any]] = []

    async def settle() -> None:
        for md in await asyncio.gather(*futures):
            ends[md.partition] = max(ends.get(md.partition, 0), md.offset + 1)
        futures.clear()

    try:
        for n in range(per_slo + 1):
            for s, sid in enumerate(ids):
                now_ns = time.time_ns()
                tracker.sent(s, now_ns)
                futures.append(
                    await producer.send(topic, event_bytes(sid, n, now_ns, clock.stamp(now_ns)), key=keys[s])
                )
            if len(futures) >= 20_000:
                await settle()
        await settle()
    finally:
        await producer.stop()
    return ends


async def committed_total(bootstrap: str, group: str, topic: str) -> int | None:
    """Sum of the group's committed offsets on `topic` (read after the worker left the group)."""
    consumer = LongPollConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)]
        return sum(o or 0 for o in offsets)
    except Exception as exc:
        print(f"  (committed offsets not readable: {exc!r})")
        return None
    finally:
        await consumer.stop()


async def throughput_phase(
    bootstrap: str, broker_pid: int, workdir: Path, ids: list[str], args: argparse.Namespace
) -> ThroughputResult:
    tag = f"tput-{int(time.time())}"
    path, topology = write_topology(workdir, tag, ids)
    await ensure_topics(bootstrap, topology)
    per_slo = max(1, args.prefill // len(ids))
    tracker = Tracker(ids)
    tracker.measure = False  # only the covering times matter here
    t0 = time.perf_counter()
    ends = await prefill(bootstrap, topology.topics.metrics, ids, tracker, per_slo)
    prefill_s = time.perf_counter() - t0
    total = len(ids) * (per_slo + 1)
    end = sum(ends.values())
    print(f"  prefilled {total:,} events in {prefill_s:.1f}s ({total / prefill_s:,.0f}/s); end offsets sum {end:,}")
    reader = await start_reader(bootstrap, topology.topics.status, args.consumer_fetch_wait_ms, tracker)
    worker = WorkerProcess(bootstrap, path, args.fetch_wait_ms, workdir, args.worker_module)
    pids = {"worker": worker.pid, "broker": broker_pid, "bench": os.getpid()}
    try:
        await worker.wait_ready()
        cpu0 = CpuSnap.take(pids)
        complete = await wait_until(lambda: tracker.incomplete == 0, args.tput_timeout, 0.02)
        cpu_snap = CpuSnap.take(pids)
        cpu = cpu_snap.cores_since(cpu0)
        worker_cpu_s = cpu_snap.pids["worker"] - cpu0.pids["worker"]
    finally:
        await stop_reader(*reader)
        worker.stop()  # SIGTERM: the worker finishes its batch, commits and leaves the group
    committed = await committed_total(bootstrap, topology.name, topology.topics.metrics)
    covered = sum(c + 1 for c in tracker.covered)
    first_us = parse_ts_us(tracker.first_worker_ts) if tracker.first_worker_ts else 0
    last_us = tracker.last_cover_ns // 1000
    elapsed = (last_us - first_us) / 1e6 if first_us else float("nan")
    from_ready = (tracker.last_cover_ns - worker.ready_ns) / 1e9
    return ThroughputResult(
        events=total,
        prefill_s=prefill_s,
        prefill_rate=total / prefill_s,
        ready_s=worker.ready_after_s or float("nan"),
        elapsed_s=elapsed,
        from_ready_s=from_ready,
        rate=covered / elapsed if elapsed > 0 else float("nan"),
        rate_from_ready=covered / from_ready if from_ready > 0 else float("nan"),
        complete=complete,
        covered=covered,
        statuses=tracker.statuses,
        committed_ok=None if committed is None else committed == end,
        committed=committed or 0,
        end=end,
        cpu=cpu,
        worker_cpu_us_per_event=worker_cpu_s / covered * 1e6 if covered else float("nan"),
        worker_stats=worker.stats,
        warnings=worker.warnings(),
    )


# -- report --------------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import aiokafka

    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "aiokafka": aiokafka.__version__,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "code": code_version(),
    }


def code_version() -> str:
    """The commit measured, and whether the working tree had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty else "")


def fmt_cpu(cpu: dict[str, float]) -> str:
    return " / ".join(f"{cpu.get(k, 0.0):.2f}" for k in ("worker", "broker", "bench", "other"))


def markdown(
    m: dict[str, str],
    args: argparse.Namespace,
    load_before: str,
    lat: list[LatencyResult],
    tput: ThroughputResult | None,
) -> str:
    lines = [
        "## Streaming worker (issue 3): `benchmarks/stream_bench.py`",
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}; Python {m['python']}, aiokafka {m['aiokafka']}, "
        f"embedded broker {BROKER.label}; {m['date']}; code {m['code']}; load average before: "
        f"{load_before}. "
        f"One worker process (`python -m {args.worker_module} run --quiet`, "
        f"SLO_FETCH_MAX_WAIT_MS={args.fetch_wait_ms}), {args.slos} SLOs, {PARTITIONS} partitions, "
        "a fresh topic set and worker per phase. Load from one process: an aiokafka producer "
        "(linger 1 ms, acks=1) paced, keyed and round robin over the SLOs, and a status consumer "
        f"(fetch wait {args.consumer_fetch_wait_ms} ms). Latency = `producer.send()` of an input event -> "
        "receipt of the first status event reflecting it (matched exactly through the event counts, "
        "see the script's docstring). send->worker = until the worker's clock at the start of the batch "
        "holding it; worker->consumed = from there to receipt. Coalesced = share of events whose status "
        "event also reflects a later event of the same SLO (the worker was > 1 round-robin period behind). "
        "Kept up = every status arrived and the backlog left when sending stopped drained in < 0.5 s. "
        '"broker alone" = the same producer and '
        "consumer on a topic with the same partitions, no worker: the embedded broker's own floor.",
        "",
    ]
    if lat:
        lines += [
            "| rate | events | p50 | p99 | max | send->worker p50 / p99 | worker->consumed p50 / p99 "
            "| p50 first -> last third | coalesced | drain | kept up | worker CPU / event "
            "| CPU cores worker / broker / bench / other | broker alone p50 / p99 / max |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in lat:
            floor = f"{r.floor.p50_ms:.1f} / {r.floor.p99_ms:.1f} / {r.floor.max_ms:.0f} ms" if r.floor else "-"
            lines.append(
                f"| {r.achieved_rate:,.0f}/s | {r.events:,} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms | "
                f"{r.max_ms:.0f} ms | {r.worker_p50_ms:.1f} / {r.worker_p99_ms:.1f} ms | "
                f"{r.out_p50_ms:.1f} / {r.out_p99_ms:.1f} ms | {r.p50_first_ms:.1f} -> {r.p50_last_ms:.1f} ms | "
                f"{r.coalesced / max(r.events, 1):.0%} | {r.drain_ms:.0f} ms | {'yes' if r.kept_up else '**no**'} | "
                f"{r.worker_us_per_event:.0f} µs | "
                f"{fmt_cpu(r.cpu)} | {floor} |"
            )
        lines += ["", f"p50 / p99 (ms) per {SLICE_S[0]:g} s of sending, worker path | broker alone:", ""]
        for r in lat:
            lines.append(f"- {r.rate:,}/s: {r.series} | {r.floor.series if r.floor else '-'}")
        lines += [
            "",
            "Worker start -> ready (topics, definitions, group join, changelog recovery): "
            + ", ".join(f"{r.ready_s:.1f} s" for r in lat)
            + ".",
            "",
        ]
    if tput is not None:
        lines += [
            f"Max sustained throughput: {tput.events:,} events pre-filled ({tput.prefill_rate:,.0f}/s), then "
            f"one worker: **{tput.rate:,.0f} events/s** (start of its first batch -> last event's status "
            f"received: {tput.elapsed_s:.1f} s; {tput.rate_from_ready:,.0f}/s counted from `ready`); "
            f"{tput.statuses:,} status events ({tput.covered / max(tput.statuses, 1):.1f} events coalesced in "
            f"each); worker CPU {tput.worker_cpu_us_per_event:.1f} µs/event; CPU cores worker / broker / "
            f"bench / other {fmt_cpu(tput.cpu)}; committed offsets "
            + ("= the end of every partition." if tput.committed_ok else f"{tput.committed:,} of {tput.end:,}.")
            + ("" if tput.complete else " **Incomplete within the timeout.**"),
            "",
        ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    global PARTITIONS
    PARTITIONS = args.partitions
    m = machine()
    load_before = loadavg()
    print(
        f"{m['nproc']} cores, {m['cpu']}, Python {m['python']}, aiokafka {m['aiokafka']}, {m['date']}, code {m['code']}"
    )
    print(f"load average before: {load_before}")
    ids = slo_ids(args.slos)
    lat_results: list[LatencyResult] = []
    tput: ThroughputResult | None = None
    global BROKER
    BROKER = embedded_broker(args.broker)
    with tempfile.TemporaryDirectory(prefix="stream-bench-") as tmp, BROKER as broker:
        workdir = Path(tmp)
        assert broker.process is not None
        print(f"broker ({broker.label}) at {broker.bootstrap}")
        if not args.skip_latency:
            for rate in args.rates:
                print(f"latency at {rate:,} events/s for {args.duration:.0f}s (load {loadavg()}) ...", flush=True)
                r = await latency_phase(broker.bootstrap, broker.process.pid, workdir, ids, rate, args)
                lat_results.append(r)
                print(
                    f"  achieved {r.achieved_rate:,.0f}/s, {r.events:,} events: p50 {r.p50_ms:.2f} ms, "
                    f"p99 {r.p99_ms:.2f} ms, max {r.max_ms:.1f} ms; send->worker p50 {r.worker_p50_ms:.2f} / "
                    f"p99 {r.worker_p99_ms:.2f} ms; worker->consumed p50 {r.out_p50_ms:.2f} / "
                    f"p99 {r.out_p99_ms:.2f} ms; "
                    f"p50 first third {r.p50_first_ms:.2f} -> last third {r.p50_last_ms:.2f} ms; "
                    f"drain {r.drain_ms:.0f} ms; kept up: {r.kept_up}"
                )
                print(
                    f"  statuses {r.statuses:,} (coalesced events {r.coalesced}, stale {r.stale}, "
                    f"undecodable {r.undecodable}); worker ready after {r.ready_s:.2f}s; "
                    f"worker CPU {r.worker_us_per_event:.0f} us/event; "
                    f"CPU cores worker/broker/bench/other {fmt_cpu(r.cpu)}"
                )
                print(f"  per 2 s of send time, p50/p99 ms: {r.series}")
                print(f"  worker stats: {r.worker_stats}")
                for w in r.warnings[:5]:
                    print(f"  worker log: {w}")
                if not args.no_floor:
                    f = r.floor = await floor_phase(broker.bootstrap, broker.process.pid, ids, rate, args)
                    print(
                        f"  broker alone (same producer -> consumer, no worker): p50 {f.p50_ms:.2f} ms, "
                        f"p99 {f.p99_ms:.2f} ms, max {f.max_ms:.1f} ms; CPU cores broker/bench/other "
                        f"{f.cpu['broker']:.2f} / {f.cpu['bench']:.2f} / {f.cpu['other']:.2f}"
                    )
                    print(f"  broker alone per 2 s, p50/p99 ms: {f.series}")
        if not args.skip_throughput:
            print(f"throughput: {args.prefill:,} events pre-filled (load {loadavg()}) ...", flush=True)
            tput = await throughput_phase(broker.bootstrap, broker.process.pid, workdir, ids, args)
            print(
                f"  worker ready after {tput.ready_s:.2f}s; {tput.covered:,}/{tput.events:,} events' statuses in "
                f"{tput.elapsed_s:.2f}s from the first batch -> {tput.rate:,.0f} events/s "
                f"({tput.rate_from_ready:,.0f}/s from ready); complete: {tput.complete}"
            )
            print(
                f"  statuses {tput.statuses:,}; worker CPU {tput.worker_cpu_us_per_event:.1f} us/event; CPU cores "
                f"worker/broker/bench/other {fmt_cpu(tput.cpu)}; committed {tput.committed:,} / end {tput.end:,}"
            )
            print(f"  worker stats: {tput.worker_stats}")
            for w in tput.warnings[:5]:
                print(f"  worker log: {w}")
    print(f"load average after: {loadavg()}")
    print()
    print(markdown(m, args, load_before, lat_results, tput))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 5000, 20000])
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per latency phase")
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--slice", type=float, default=2.0, help="seconds per p50/p99 slice in the series")
    parser.add_argument("--partitions", type=int, default=PARTITIONS, help="of every topic (default 8)")
    parser.add_argument("--prefill", type=int, default=500_000, help="events for the throughput phase")
    parser.add_argument("--fetch-wait-ms", type=int, default=int(os.environ.get("SLO_FETCH_MAX_WAIT_MS", 5)))
    parser.add_argument("--consumer-fetch-wait-ms", type=int, default=5)
    parser.add_argument("--tput-timeout", type=float, default=120.0)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--no-floor", action="store_true", help="skip the broker-alone baseline per rate")
    parser.add_argument(
        "--broker",
        default=WorkerSettings.from_env().embedded_broker,
        choices=BROKER_KINDS,
        help="embedded broker (default: SLO_EMBEDDED_BROKER, else the embedded default)",
    )
    parser.add_argument("--worker-module", default="app", help="`python -m MODULE run ...` (A/B a patched worker)")
    args = parser.parse_args()
    SLICE_S[0] = args.slice
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
