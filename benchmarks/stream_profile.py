"""Where the streaming worker's time goes (issue 3 benchmark, profiling part).

Three measurements:
  1. micro: the per-call cost of every step of the hot path, without the
     profiler, on the same events the benchmark produces (decode, acceptance +
     apply, objective_of, evaluate, status_event, Prometheus metrics, JSON
     encode, changelog drain), plus aiokafka's `producer.send()` and a commit
     round trip on the embedded broker;
  2. profile: the worker (app.stream.worker.Worker) run in this process
     under cProfile with a CPU-time clock, over a pre-filled metrics topic;
     prints the per-event CPU of each stage (inclusive), the top functions by
     own time, and the in-process throughput (profiler overhead included, so
     only the shares matter);
  3. --timed-rates R1,R2: the same in-process worker under paced load (the
     producer in a subprocess), with its poll loop timed per batch: events and
     status events per batch, time in process(), of which waiting for the acks
     of its sends and for the offset commit, and the idle time between batches
     (waiting for the next fetch), per third of the run.

Usage: .venv/bin/python benchmarks/stream_profile.py [--slos 1000] [--events 200000]
       [--skip-micro | --skip-profile] [--top 30] [--timed-rates 1000,5000]
(about 1 minute with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stream_bench as sb
from aiokafka import AIOKafkaProducer, TopicPartition

from app.clock import SystemClock
from app.compose import build_worker
from app.core.acceptance import acceptance_range
from app.core.units import SloUnits
from app.domain.events import TimestampCache, decode_event
from app.domain.views import objective_of, status_event
from app.stream.broker import DEFAULT_BROKER, embedded_broker
from app.stream.kafka_io import ensure_topics
from app.stream.long_poll import LongPollConsumer
from app.stream.settings import WorkerSettings

_encode = msgspec.json.Encoder().encode


def per_call_us(fn: Callable[[], Any], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def micro(ids: list[str], topology: Any) -> dict[str, float]:
    slos = {s.slo_id: objective_of(s) for s in topology.slos}
    defs = {s.slo_id: s for s in topology.slos}
    now = SystemClock().now_us()
    clock = sb._Clock()
    raws = [sb.event_bytes(sid, 1, time.time_ns(), clock.stamp(time.time_ns())) for sid in ids]
    cache = TimestampCache()
    store = SloUnits(300_000_000, track=True)
    events = [decode_event(r, cache) for r in raws]
    for e in events:
        store.offer(slos[e.slo_id], e, now, 0)
    store.drain_records()
    out: dict[str, float] = {}
    it = iter(range(10**9))

    def pick() -> int:
        return next(it) % len(ids)

    out["decode_event (msgspec + timestamp cache)"] = per_call_us(lambda: decode_event(raws[pick()], cache), 50_000)
    off = iter(range(1, 10**9))
    out["units.offer (acceptance + advance + add + dirty parts)"] = per_call_us(
        lambda: (lambda e: store.offer(slos[e.slo_id], e, now, next(off)))(events[pick()]), 50_000
    )
    out["  of which acceptance_range().verdict (calendar SLOs build datetimes)"] = per_call_us(
        lambda: (lambda e: acceptance_range(now, slos[e.slo_id].time_period, 300_000_000).verdict(e.ts_us))(
            events[pick()]
        ),
        50_000,
    )
    out["objective_of(slo) (once per definition)"] = per_call_us(lambda: objective_of(defs[ids[pick()]]), 20_000)
    out["units.evaluate"] = per_call_us(lambda: store.evaluate(slos[ids[pick()]], now), 20_000)
    reports = {sid: store.evaluate(slos[sid], now) for sid in ids}
    out["status_event (Struct + isoformat + recommendations)"] = per_call_us(
        lambda: (lambda sid: status_event(defs[sid], reports[sid], 5, now))(ids[pick()]), 20_000
    )
    ev = status_event(defs[ids[0]], reports[ids[0]], 5, now)
    try:  # the worker's Prometheus metrics (app/stream/metrics.py), when present
        from app.stream.metrics import WorkerMetrics

        metrics = WorkerMetrics()
        out["metrics.observe_slo (per status event: ~17 labelled gauges)"] = per_call_us(
            lambda: (lambda sid: metrics.observe_slo(defs[sid], reports[sid]))(ids[pick()]), 20_000
        )
        out["metrics Counter.inc() (events_in + accepted: 2 per event)"] = per_call_us(metrics.events_in.inc, 100_000)
    except ImportError:
        pass
    out["msgspec encode of a status event"] = per_call_us(lambda: _encode(ev), 50_000)
    out["status event bytes"] = float(len(_encode(ev)))

    def drain_one() -> None:
        e = events[pick()]
        store.offer(slos[e.slo_id], e, now, next(off))
        store.drain_records()

    apply_us = out["units.offer (acceptance + advance + add + dirty parts)"]
    out["drain_records per dirty SLO (scans all SLOs of the partition)"] = per_call_us(drain_one, 10_000) - apply_us
    e = events[0]
    store.offer(slos[e.slo_id], e, now, next(off))
    out["changelog records per event (1 SLO dirty)"] = float(len(store.drain_records()))
    return out


async def micro_kafka(bootstrap: str) -> dict[str, float]:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic("micro", 8, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    value = b"x" * 600
    keys = [f"bench-{i:04d}".encode() for i in range(1000)]
    out: dict[str, float] = {}
    for _ in range(2):
        futures = []
        t0 = time.perf_counter()
        for i in range(20_000):
            futures.append(await producer.send("micro", value, key=keys[i % 1000]))
        t_enqueue = time.perf_counter() - t0
        await asyncio.gather(*futures)
        t_all = time.perf_counter() - t0
    out["producer.send() enqueue only, per record (600 B, keyed)"] = t_enqueue / 20_000 * 1e6
    out["producer: enqueue + delivery of 20k records, per record (wall)"] = t_all / 20_000 * 1e6
    consumer = LongPollConsumer(
        bootstrap_servers=bootstrap, group_id="micro", enable_auto_commit=False, fetch_max_wait_ms=5
    )
    await consumer.start()
    consumer.subscribe(["micro"])
    await consumer.getmany(timeout_ms=3000)
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=200)
    tps = {TopicPartition("micro", p): 1 for p in range(8)}
    t0 = time.perf_counter()
    for i in range(200):
        await consumer.commit({tp: 1 + i for tp in tps})
    out["consumer.commit() round trip, 8 partitions (wall)"] = (time.perf_counter() - t0) / 200 * 1e6
    await consumer.stop()
    await producer.stop()
    return out


# -- in-process worker under cProfile -----------------------------------------------------
STAGES = [
    ("process (whole batch handling)", "app/stream/worker.py", "process"),
    ("_handle (per record)", "app/stream/worker.py", "_handle"),
    ("decode_event", "app/domain/events.py", "decode_event"),
    ("units.offer", "app/core/units.py", "offer"),
    ("_publish_status", "app/stream/worker.py", "_publish_status"),
    ("units.evaluate", "app/core/units.py", "evaluate"),
    ("objective_of", "app/domain/views.py", "objective_of"),
    ("core evaluate", "app/core/report.py", "evaluate"),
    ("status_event", "app/domain/views.py", "status_event"),
    ("encode (msgspec)", "~", "<method 'encode' of 'msgspec.json.Encoder' objects>"),
    ("drain_records", "app/core/units.py", "drain_records"),
    ("producer.send (all)", "aiokafka/producer/producer.py", "send"),
    ("gather of acks", "~", "<built-in method _asyncio.gather>"),
    ("consumer.commit", "aiokafka/consumer/consumer.py", "commit"),
    ("consumer.getmany", "aiokafka/consumer/consumer.py", "getmany"),
    ("fetcher: decode fetched records", "aiokafka/consumer/fetcher.py", "_unpack_records"),
    ("fetcher: fetch routine", "aiokafka/consumer/fetcher.py", "_fetch_requests_routine"),
    ("producer sender routine", "aiokafka/producer/sender.py", "_sender_routine"),
    ("conn: read responses", "aiokafka/conn.py", "_read"),
    ("timer tick", "app/stream/timer.py", "tick"),
    ("metrics.observe_slo", "app/stream/metrics.py", "observe_slo"),
    ("prometheus Counter.inc", "prometheus_client/metrics.py", "inc"),
    ("prometheus labels()", "prometheus_client/metrics.py", "labels"),
]


def stage_times(stats: pstats.Stats) -> dict[str, tuple[float, int]]:
    table: dict[str, tuple[float, int]] = {}
    raw = stats.stats  # type: ignore[attr-defined]
    for label, file_part, func in STAGES:
        ct, nc = 0.0, 0
        for (file, _line, name), (_cc, ncalls, _tt, cum, _callers) in raw.items():
            if name == func and (file_part == "~" or file.endswith(file_part)):
                ct += cum
                nc += ncalls
        table[label] = (ct, nc)
    return table


async def profile_worker(bootstrap: str, workdir: Path, ids: list[str], n_events: int, top: int) -> None:
    tag = f"prof-{int(time.time())}"
    _path, topology = sb.write_topology(workdir, tag, ids)
    await ensure_topics(bootstrap, topology)
    tracker = sb.Tracker(ids)
    per_slo = max(1, n_events // len(ids))
    t0 = time.perf_counter()
    await sb.prefill(bootstrap, topology.topics.metrics, ids, tracker, per_slo)
    total = len(ids) * (per_slo + 1)
    print(f"prefilled {total:,} events in {time.perf_counter() - t0:.1f}s")
    settings = WorkerSettings(bootstrap=bootstrap, worker_id="profile")
    worker = build_worker(bootstrap, topology, settings)
    profiler = cProfile.Profile(time.process_time)
    await worker.start()
    await worker.ready.wait()
    print("worker ready; profiling until every event is accepted")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    profiler.enable()
    while worker.stats["accepted"] < total:
        await asyncio.sleep(0.01)
    async with worker._lock:
        await worker.producer.flush()
    profiler.disable()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    await worker.shutdown()
    print(
        f"in-process under cProfile: {total:,} events in {wall:.2f}s wall = {total / wall:,.0f}/s; "
        f"process CPU {cpu:.2f}s = {cpu / total * 1e6:.1f} us/event (profiler overhead included); "
        f"status events {worker.stats['status_out']:,}"
    )
    stats = pstats.Stats(profiler)
    table = stage_times(stats)
    total_tt = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    print(f"\nprofiled CPU total {total_tt:.2f}s; per stage (inclusive, CPU clock), us/event and share:")
    for label, (ct, nc) in table.items():
        print(f"  {label:<36} {ct / total * 1e6:8.2f} us/event  {ct / total_tt:6.1%}  ({nc:,} calls)")
    print(f"\ntop {top} functions by own time:")
    stats.sort_stats("tottime").print_stats(top)


# -- in-process worker under paced load: where the poll loop's wall time goes -------------------
class _TimedGather:
    """Stands in for the worker module's `asyncio`, timing `gather` (the wait for acks)."""

    def __init__(self, real: Any, sink: list[float]) -> None:
        self._real = real
        self._sink = sink

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def gather(self, *aws: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await self._real.gather(*aws, **kw)
        finally:
            self._sink.append(time.perf_counter() - t0)


async def produce_paced(bootstrap: str, topic: str, n_slos: int, rate: int, duration: float) -> None:
    ids = sb.slo_ids(n_slos)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
    await producer.start()
    try:
        tracker = sb.Tracker(ids)
        await sb.paced_send(producer, topic, ids, [i.encode() for i in ids], tracker, rate, duration)
        await producer.flush()
    finally:
        await producer.stop()


async def timed_worker(
    bootstrap: str, workdir: Path, ids: list[str], rate: int, duration: float, fetch_wait_ms: int
) -> None:
    import app.stream.worker as worker_module

    tag = f"timed{rate}-{int(time.time())}"
    _path, topology = sb.write_topology(workdir, tag, ids)
    settings = WorkerSettings(bootstrap=bootstrap, worker_id="timed", fetch_max_wait_ms=fetch_wait_ms)
    worker = build_worker(bootstrap, topology, settings)
    acks: list[float] = []
    commits: list[float] = []
    rows: list[tuple[float, int, int, float, float, float, float]] = []
    setattr(worker_module, "asyncio", _TimedGather(asyncio, acks))  # noqa: B010 - swap the module it calls
    real_commit = worker.consumer.commit
    real_process = worker.process

    async def commit(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await real_commit(*a, **kw)
        finally:
            commits.append(time.perf_counter() - t0)

    last_end = [0.0]

    async def process(batch: Any) -> None:
        t0 = time.perf_counter()
        n_acks, n_commits, status0 = len(acks), len(commits), worker.stats["status_out"]
        await real_process(batch)
        t1 = time.perf_counter()
        ack = sum(acks[n_acks:])
        com = sum(commits[n_commits:])
        gap = t0 - last_end[0] if last_end[0] else 0.0
        last_end[0] = t1
        n = sum(len(r) for r in batch.values())
        rows.append((t0, n, worker.stats["status_out"] - status0, t1 - t0, ack, com, gap))

    worker.consumer.commit = commit
    worker.process = process  # type: ignore[method-assign]
    try:
        await worker.start()
        await worker.ready.wait()
        producer = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--produce",
            bootstrap,
            topology.topics.metrics,
            str(len(ids)),
            str(rate),
            str(duration),
        )
        await producer.wait()
        await asyncio.sleep(1.0)
    finally:
        await worker.shutdown()
        setattr(worker_module, "asyncio", asyncio)  # noqa: B010
    if not rows:
        print("no batches")
        return
    t_first = rows[0][0]
    print(
        f"\nin-process worker at {rate:,}/s for {duration:.0f}s (paced producer in a subprocess), "
        f"SLO_FETCH_MAX_WAIT_MS={fetch_wait_ms}: {len(rows):,} batches"
    )
    print(
        "  slice   batches  events/batch  statuses/batch  process ms p50/p99  of which: acks wait  commit wait   "
        "compute (rest)   idle between batches"
    )
    thirds = max(1, int(duration // 3))
    import numpy as np

    for k in range(0, int(duration) + 1, thirds):
        sel = [r for r in rows if k <= r[0] - t_first < k + thirds]
        if not sel:
            continue
        a = np.asarray([r[1:] for r in sel], dtype=float)
        proc, ack, com, gap = a[:, 2] * 1e3, a[:, 3] * 1e3, a[:, 4] * 1e3, a[:, 5] * 1e3
        rest = proc - ack - com
        print(
            f"  {k:>2}-{k + thirds:<2}s {len(sel):>8} {a[:, 0].mean():>13.1f} {a[:, 1].mean():>15.1f} "
            f"{np.percentile(proc, 50):>9.2f} / {np.percentile(proc, 99):>6.2f} "
            f"{np.percentile(ack, 50):>13.2f} {np.percentile(com, 50):>12.2f} {np.percentile(rest, 50):>12.2f}"
            f" {np.percentile(gap, 50):>16.2f}  (medians, ms)"
        )


async def main_async(args: argparse.Namespace) -> None:
    if args.produce:
        bootstrap, topic, n_slos, rate, duration = args.produce
        await produce_paced(bootstrap, topic, int(n_slos), int(rate), float(duration))
        return
    ids = sb.slo_ids(args.slos)
    with tempfile.TemporaryDirectory(prefix="stream-profile-") as tmp, embedded_broker(args.broker) as broker:
        workdir = Path(tmp)
        _path, topology = sb.write_topology(workdir, "micro", ids)
        if not args.skip_micro:
            print("micro (best of 3, no profiler):")
            for k, v in micro(ids, topology).items():
                print(f"  {k:<70} {v:8.2f}")
            for k, v in (await micro_kafka(broker.bootstrap)).items():
                print(f"  {k:<70} {v:8.2f}")
        if not args.skip_profile:
            await profile_worker(broker.bootstrap, workdir, ids, args.events, args.top)
        for rate in args.timed_rates:
            await timed_worker(broker.bootstrap, workdir, ids, rate, args.duration, args.fetch_wait_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--broker", default=DEFAULT_BROKER, help="embedded broker: noida or tansu")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--skip-micro", action="store_true")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument(
        "--timed-rates",
        type=lambda v: [int(x) for x in v.split(",") if x],
        default=[],
        help="also run the in-process worker under paced load at these rates, timing its poll loop",
    )
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--fetch-wait-ms", type=int, default=5)
    parser.add_argument("--produce", nargs=5, default=None, help=argparse.SUPPRESS)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
