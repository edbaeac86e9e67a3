"""In-process parts of benchmarks/scale_bench.py: memory per SLO (tracemalloc), the
topology file's parse time, and one changelog partition's recovery, step by step.

Memory per SLO (`state_bytes`): the worker's own objects for N SLOs, built the
way the worker builds them, measured with tracemalloc (Python heap, numpy and
array buffers included):
  * definition: the SLO model and its Objective (what the definitions feed keeps);
  * unit, one event: SloUnits(track=True).offer() of one event without an
    event_id, then drain_records() (the steady state between batches);
  * unit, every window loaded: the same units after one event in every bucket of
    every ring (5 s ... 1 day tiers, 1,600 buckets) and in the month and quarter
    sums: the "fully loaded" state (counts stay 32-bit; a count past 2**32 widens
    the SLO's array to 64 bits, doubling its 12.8 KB of buckets);
  * report book: each unit's report book (app/core/report_book) fully loaded, as a
    recovery restores it: the 400-day array of captured worst hours and one edge
    count per week's and month's first instant of the 400 days; and, apart, per day
    with alert activity (a sample of SLOs, 400 such days each);
  * dedup id: each accepted event_id, held for the dedup horizon (1 h); the
    first one of an SLO also creates its DedupWindow (about 1 KB);
  * metrics: the SLO's labelled Prometheus gauge children (observe_slo);
  * forget_slo: the time of one WorkerMetrics.forget_slo() call with n SLOs exported
    (Worker.release() makes one per SLO of every revoked partition).
Timer evaluation (`timer_evaluation`): the timer's per-SLO work alone, no Kafka.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import stream_bench as sb
import yaml
from aiokafka import TopicPartition

from app.core.report_book import ACTIVITY, EDGES, WORST, is_period_start
from app.core.ring import LAYOUT
from app.core.unit import status_key
from app.core.units import SloUnits
from app.domain.events import SliEvent, TimestampCache, decode_event
from app.domain.views import objective_of
from app.stream.kafka_io import read_to_end
from app.stream.long_poll import LongPollConsumer
from app.stream.metrics import WorkerMetrics
from app.topology import load_topology, parse_topology

DEDUP_IDS = 10  # further event ids per SLO for the per-id figure
DEDUP_SAMPLE = 5000  # of that many SLOs
BOOK_DAY_SAMPLE = 1000  # SLOs given 400 days of alert activity for the per-day figure
DAY_US = 86_400_000_000
HISTORY_DAYS = 400


def _heap() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _loaded_batch(now_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One event in every bucket of every ring, all at or before now."""
    ts = []
    for bucket_us, n, *_ in LAYOUT:
        head_end = -(-now_us // bucket_us) * bucket_us  # the end of the bucket holding now
        ts.extend(min(now_us, head_end - age * bucket_us) for age in range(n))
    arr = np.asarray(sorted(set(ts)), dtype=np.int64)
    return arr, np.full(arr.size, 999, dtype=np.int64), np.full(arr.size, 1000, dtype=np.int64)


def full_book_parts(now_us: int) -> dict[str, Any]:
    """A report book's changelog parts with 400 days held: worst hours and period-start edges
    (`with_days`: also an alert-activity entry for each day)."""
    today = now_us // DAY_US
    starts = [d * DAY_US for d in range(today - HISTORY_DAYS, today + 1) if is_period_start(d * DAY_US)]
    return {
        WORST: [today - 1, [0.0005 + (d % 7) * 1e-4 for d in range(HISTORY_DAYS)]],
        EDGES: [10**9, [v for ts in starts for v in (ts, 999, 1000)]],
        ACTIVITY: [now_us - now_us % 60_000_000, [], [[d, 30, 1, 2] for d in range(today - HISTORY_DAYS, today)]],
    }


def state_bytes(topology: Any, n: int) -> dict[str, Any]:
    """Bytes per SLO of each part (see the module docstring), over the first n SLOs."""
    slos = topology.slos[:n]
    now = time.time_ns() // 1000
    clock = sb._Clock()
    cache = TimestampCache()
    tracemalloc.start()
    try:
        b0 = _heap()
        objectives = {s.slo_id: objective_of(s) for s in slos}
        b1 = _heap()
        store = SloUnits(300_000_000, track=True)
        for i, slo in enumerate(slos):
            raw = sb.event_bytes(slo.slo_id, 0, now * 1000, clock.stamp(now * 1000))
            event = decode_event(raw, cache)  # without its event_id: ids are the "dedup id" line
            store.offer(objectives[slo.slo_id], SliEvent(event.slo_id, event.ts_us, event.good, event.total), now, i)
        store.drain_records()
        b2 = _heap()
        ts, good, total = _loaded_batch(now)
        for slo in slos:
            state = store.units[slo.slo_id].state
            state.add_batch(ts, good, total)
        del ts, good, total
        b3 = _heap()
        book = full_book_parts(now)
        for slo in slos:
            store.units[slo.slo_id].report.restore([(WORST, book[WORST]), (EDGES, book[EDGES])])
        b3_book = _heap()
        book_sample = slos[:BOOK_DAY_SAMPLE]
        for slo in book_sample:
            store.units[slo.slo_id].report.restore([(ACTIVITY, book[ACTIVITY])])
        b3_days = _heap()
        del book
        sample = slos[:DEDUP_SAMPLE]  # per id: a sample is enough (and tracemalloc is slow)
        for k in range(DEDUP_IDS):
            for i, slo in enumerate(sample):
                raw = sb.event_bytes(slo.slo_id, k + 1, now * 1000, clock.stamp(now * 1000))
                store.offer(objectives[slo.slo_id], decode_event(raw, cache), now, n + k * n + i)
            store.drain_records()
        b4 = _heap()
        metrics = WorkerMetrics()
        for slo in slos:
            metrics.observe_slo(slo, store.evaluate(objectives[slo.slo_id], now))
        b5 = _heap()
        top = tracemalloc.take_snapshot().statistics("filename")[:6]
    finally:
        tracemalloc.stop()
    # What Worker.release() does for every SLO of a revoked partition (each call scans
    # every series of the registry): per call, with n SLOs exported.
    k = min(20, n)
    t0 = time.perf_counter()
    for slo in slos[:k]:
        metrics.forget_slo(slo)
    forget_s = (time.perf_counter() - t0) / k
    counters = store.units[slos[0].slo_id].state.nbytes()
    return {
        "n": float(n),
        "objective": (b1 - b0) / n,
        "unit_one_event": (b2 - b1) / n,
        "unit_loaded": (b3 - b1) / n,
        "counters": float(counters),
        "book_loaded": (b3_book - b3) / n,
        "book_alert_day": (b3_days - b3_book) / (len(book_sample) * HISTORY_DAYS),
        "unit_history_and_book": (b3_book - b1) / n,
        "dedup_id": (b4 - b3_days) / (len(sample) * DEDUP_IDS),
        "metrics": (b5 - b4) / n,
        "forget_slo_ms": forget_s * 1000,
        "top_files": "; ".join(f"{Path(s.traceback[0].filename).name} {s.size / n:,.0f} B" for s in top),
    }


def timer_evaluation(topology: Any, n: int, repeats: int = 3) -> dict[str, float]:
    """What the timer does per SLO, without Kafka or the lock: SloUnits.evaluate at
    now + 10 s (the next pass) and status_key, over n units holding one event each;
    µs per SLO, best of `repeats` passes (each 10 s later than the last)."""
    slos = topology.slos[:n]
    objectives = {s.slo_id: objective_of(s) for s in slos}
    now = time.time_ns() // 1000
    clock = sb._Clock()
    cache = TimestampCache()
    store = SloUnits(300_000_000, track=True)
    for i, slo in enumerate(slos):
        raw = sb.event_bytes(slo.slo_id, 0, now * 1000, clock.stamp(now * 1000))
        store.offer(objectives[slo.slo_id], decode_event(raw, cache), now, i)
    store.drain_records()
    best = float("inf")
    for k in range(1, repeats + 1):
        at = now + k * 10_000_000
        t0 = time.perf_counter()
        for slo in slos:
            status_key(store.evaluate(objectives[slo.slo_id], at))
        best = min(best, time.perf_counter() - t0)
    prof = cProfile.Profile()
    at = now + (repeats + 1) * 10_000_000
    prof.enable()
    for slo in slos:
        status_key(store.evaluate(objectives[slo.slo_id], at))
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(8)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return {"us_per_slo": best / n * 1e6, "pass_s": best, "profile": lines[start : start + 9]}  # type: ignore[dict-item]


def topology_parse(workdir: Path, ids: list[str]) -> dict[str, float]:
    """Seconds to load a topology file holding every SLO inline, as `python -m app run`
    does (yaml.safe_load, pure Python, then pydantic), and with libyaml's CSafeLoader."""
    path, _ = sb.write_topology(workdir, f"parse{len(ids)}", ids)
    t0 = time.perf_counter()
    load_topology(path)
    t1 = time.perf_counter()
    doc = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    t2 = time.perf_counter()
    parse_topology(doc)
    t3 = time.perf_counter()
    return {
        "bytes": float(path.stat().st_size),
        "load_topology_s": t1 - t0,
        "csafe_yaml_s": t2 - t1,
        "pydantic_s": t3 - t2,
    }


@dataclass
class PartitionRecovery:
    records: int
    bytes: int
    slos: int
    fetch_s: float
    rebuild_s: float
    profile: list[str]


async def partition_recovery(
    bootstrap: str, changelog: str, partition: int, objectives: dict[str, Any], top: int = 14
) -> PartitionRecovery:
    """What a worker does for one assigned partition, in this process: read the
    changelog partition to its end (read_to_end, as Worker.recover), then rebuild its
    units (SloUnits.recover), timed apart; the rebuild again under cProfile."""
    reader = LongPollConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    await reader.start()
    try:
        t0 = time.perf_counter()
        records = await read_to_end(reader, [TopicPartition(changelog, partition)])
        fetch_s = time.perf_counter() - t0
    finally:
        await reader.stop()
    recs = [(k, v) for _tp, k, v in records if k is not None]
    size = sum(len(k) + len(v or b"") for k, v in recs)
    now = time.time_ns() // 1000
    t0 = time.perf_counter()
    units = SloUnits.recover(objectives, recs, now)
    rebuild_s = time.perf_counter() - t0
    n_slos = len(units.units)
    del units
    prof = cProfile.Profile()
    prof.enable()
    SloUnits.recover(objectives, recs, now)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return PartitionRecovery(len(recs), size, n_slos, fetch_s, rebuild_s, lines[start : start + top + 1])


def main() -> None:
    """`python benchmarks/scale_inproc.py 1000 10000`: the memory figures alone, no broker."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="memory per SLO (state_bytes) for each N")
    parser.add_argument("sizes", type=int, nargs="+")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        for n in args.sizes:
            ids = [f"slo-{i:06d}" for i in range(n)]
            _, topology = sb.write_topology(Path(workdir), f"mem{n}", ids)
            print(n, state_bytes(topology, n), flush=True)


if __name__ == "__main__":
    main()
