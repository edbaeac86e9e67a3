"""Scale benchmark (issue 11, sections 2 and 3): curves at 1k, 10k and 100k SLOs per
worker, and 1, 2 and 4 workers on 8 partitions.

Section 2, per size N (--sizes 1000,10000,100000), a fresh topic set:
  * definitions: the N SLOs are published to the definitions topic in bulk and the
    topology file holds none (`inline_slos=False`). The other way, a topology file
    listing every SLO, costs the worker a YAML parse and one acknowledged send per
    SLO at every start: "topology parse" times that parse in this process
    (--parse-max caps N), "inline start" times a worker's start->ready from such a
    file (--inline-start-max caps N);
  * one worker subprocess (`python -m app run`, API on a free port for /metrics,
    loggers app.stream.worker=INFO and app.stream.timer=DEBUG): spawn -> ready
    (reads the N definitions), RSS (VmRSS of /proc/<pid>/status) when ready;
  * warm-up: one event per SLO (stream_bench's primer), time from the first send to
    the last SLO's first status event received; RSS after, and the RSS delta per SLO;
  * timer at rest: after warm-up, once a timer pass has run with no load,
    slo_timer_pass_seconds and slo_timer_longest_hold_seconds from /metrics (the
    scrape's own time and size are recorded: the worker renders every SLO's series
    on its event loop);
  * load: stream_bench's paced producer at --rate events/s for --duration s, round
    robin over the SLOs, latency produce -> status exactly as stream_bench (p50,
    p99, max, per 10 s). Timer passes during it come from the worker's log ("timer
    tick N done" at the end of each pass; a pass starts timer_interval_s after the
    previous one ended, so its duration is the difference minus the interval).
    Status receipts at the consumer give the max gap between consecutive status
    events starting inside a timer pass vs outside: the poll loop's stall as a
    consumer sees it (the broker's own hiccups are in the "outside" figure);
    latency p99 of events sent during a pass vs outside; /metrics after the run;
  * recovery: SIGKILL the worker, start a new one on the same topics: restart ->
    ready, its log line "assigned partitions [...]: R changelog records recovered
    in Xs" (all 8 partitions, N SLOs: the worker owns them all), its
    slo_worker_recovery_seconds, RSS after; then, in this process, one changelog
    partition (N/8 SLOs) read to its end and rebuilt, timed apart, with the
    rebuild's cProfile (benchmarks/scale_inproc.py);
  * memory per SLO in this process (tracemalloc, scale_inproc.state_bytes;
    --mem-max caps N);
  * broker alone: stream_bench's floor (same producer and consumer, no worker) at
    the same rate and duration, on a fresh broker of its own (--no-floor skips it).
With --profile, py-spy records the worker during warm-up, a timer pass at rest,
the load and the restart (own-time and inclusive top functions are printed; the
raw stacks are kept in --out).

Section 3 (--workers 1,2,4; benchmarks/scale_cluster.py): throughput of K
workers draining a backlog, and takeover after SIGKILL at --takeover-slos.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/scale_bench.py [--sizes 1000,10000]
       [--rate 1000] [--duration 60] [--bootstrap HOST:PORT] [--profile]
       [--skip-sizes] [--workers 1,2,4] [--backlog 1000000] [--takeover-slos 1000,100000]
       [--takeover-sessions 2000/200,default] [--json out.json]
Without --bootstrap a fresh embedded broker (app.stream.broker) is started for each
size (--broker, default the embedded default, noida-db), each section 3 run (Tansu:
noida-db never completes a rebalance when a consumer joins a running group) and each
broker-alone baseline, so no run inherits another's records.
Worker logs, topology files and py-spy stacks are kept under --out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import scale_inproc as inproc
import stream_bench as sb
from aiokafka import AIOKafkaProducer
from scale_tools import GapTracker, Profile, ScaleWorker, dump_stack, publish_definitions, wait_log, warm_up

from app.stream.broker import DEFAULT_BROKER, embedded_broker
from app.stream.kafka_io import changelog_topic, ensure_topics

MB = 1024 * 1024


@dataclass
class SizeResult:
    n: int
    defs_publish_s: float = float("nan")
    ready_s: float = float("nan")
    rss_ready: int = 0
    warm_s: float = float("nan")
    warm_cpu_us: float = float("nan")
    rss_warm: int = 0
    rest: dict[str, float] = field(default_factory=dict)
    passes_rest_s: list[float] = field(default_factory=list)
    lat: dict[str, Any] = field(default_factory=dict)
    passes_load_s: list[float] = field(default_factory=list)
    after_load: dict[str, float] = field(default_factory=dict)
    rss_load: int = 0
    restart: dict[str, Any] = field(default_factory=dict)
    partition: dict[str, Any] = field(default_factory=dict)
    mem: dict[str, Any] = field(default_factory=dict)
    parse: dict[str, float] = field(default_factory=dict)
    timer_eval: dict[str, Any] = field(default_factory=dict)
    inline_ready_s: float | None = None
    floor: dict[str, Any] = field(default_factory=dict)
    broker_rss: int = 0
    profiles: dict[str, list[str]] = field(default_factory=dict)
    load_avg: str = ""


def proc_rss(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def profiled(enabled: bool, worker: ScaleWorker, out: Path, label: str, result: SizeResult) -> Iterator[None]:
    prof = Profile.start(worker.pid, out / f"pyspy-{result.n}-{label}.txt") if enabled else None
    try:
        yield
    finally:
        if prof is not None:
            result.profiles[label] = prof.stop()
            for line in result.profiles[label]:
                print(f"  py-spy {label}: {line}")


def pass_durations(ends: list[float], interval_s: float) -> list[tuple[float, float]]:
    """(start, end) of each timer pass from consecutive ends (the first has no start)."""
    return [(a + interval_s, b) for a, b in itertools.pairwise(ends) if b - a >= interval_s]


def split_by_passes(
    values_at_s: np.ndarray, values: np.ndarray, windows: list[tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray]:
    inside = np.zeros(values_at_s.size, dtype=bool)
    for a, b in windows:
        inside |= (values_at_s >= a) & (values_at_s <= b)
    return values[inside], values[~inside]


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if x.size else float("nan")


async def load_phase(
    bootstrap: str, topic: str, ids: list[str], tracker: GapTracker, worker: ScaleWorker, args: argparse.Namespace
) -> dict[str, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
    await producer.start()
    keys = [sid.encode() for sid in ids]
    tracker.measure = True
    first_lat = len(tracker.lat_ns)
    t_start = time.time()
    cpu0 = worker.cpu_s()
    try:
        sent, achieved = await sb.paced_send(producer, topic, ids, keys, tracker, args.rate, args.duration)
        t_sent = time.time()
        complete = await sb.wait_until(lambda: tracker.incomplete == 0, 30, 0.01)
    finally:
        await producer.stop()
    cpu = worker.cpu_s() - cpu0
    drain_s = tracker.last_cover_ns / 1e9 - t_sent
    lat = np.asarray(tracker.lat_ns[first_lat:], dtype=np.int64)
    send = np.asarray(tracker.lat_send_ns[first_lat:], dtype=np.int64)
    windows = [w for w in pass_durations(worker.ticks(), args.interval) if w[1] >= t_start]
    lat_in, lat_out = split_by_passes(send / 1e9, lat, windows)
    recv = np.asarray([r for r in tracker.recv_ns if r >= int(t_start * 1e9)], dtype=np.int64)
    gap = np.diff(recv) / 1e9 if recv.size > 1 else np.zeros(0)
    gap_in, gap_out = split_by_passes(recv[:-1] / 1e9, gap, windows) if gap.size else (gap, gap)
    return {
        "events": sent,
        "achieved": achieved,
        "complete": complete,
        "drain_s": drain_s,
        "p50_ms": sb.ms(_pct(lat, 50)),
        "p99_ms": sb.ms(_pct(lat, 99)),
        "max_ms": sb.ms(float(lat.max())) if lat.size else float("nan"),
        "series10": sb.series(send, lat, 10.0),
        "p99_in_pass_ms": sb.ms(_pct(lat_in, 99)),
        "p99_outside_ms": sb.ms(_pct(lat_out, 99)),
        "events_in_pass": int(lat_in.size),
        "passes": [round(b - a, 3) for a, b in windows],
        "gap_in_pass_max_ms": float(gap_in.max() * 1000) if gap_in.size else float("nan"),
        "gap_in_pass_p99_ms": _pct(gap_in, 99) * 1000,
        "gap_outside_max_ms": float(gap_out.max() * 1000) if gap_out.size else float("nan"),
        "gap_outside_p99_ms": _pct(gap_out, 99) * 1000,
        "worker_cpu_us_per_event": cpu / max(sent, 1) * 1e6,
    }


async def size_run(
    bootstrap: str, broker_pid: int | None, workdir: Path, n: int, args: argparse.Namespace
) -> SizeResult:
    r = SizeResult(n, load_avg=sb.loadavg())
    ids = sb.slo_ids(n)
    tag = f"s{n}-{int(time.time())}"
    path, topology = sb.write_topology(workdir, tag, ids, inline_slos=False)
    await ensure_topics(bootstrap, topology)
    r.defs_publish_s = await publish_definitions(bootstrap, topology.topics.definitions, topology.slos)
    print(f"  {n:,} definitions published in {r.defs_publish_s:.1f}s", flush=True)
    ready_timeout = 120 + n / 500
    worker = ScaleWorker(bootstrap, path, workdir, f"{tag}-a", args.fetch_wait_ms)
    tracker = GapTracker(ids)
    reader = None
    try:
        await worker.wait_ready(ready_timeout)
        r.ready_s, r.rss_ready = worker.ready_after_s or float("nan"), worker.rss()
        print(f"  ready after {r.ready_s:.1f}s, RSS {r.rss_ready / MB:,.0f} MiB", flush=True)
        reader = await sb.start_reader(bootstrap, topology.topics.status, args.consumer_fetch_wait_ms, tracker)
        cpu0 = worker.cpu_s()
        with profiled(args.profile, worker, args.out, "warm-up", r):
            r.warm_s = await warm_up(bootstrap, topology.topics.metrics, ids, tracker, 120 + n / 250)
        r.warm_cpu_us = (worker.cpu_s() - cpu0) / n * 1e6
        r.rss_warm = worker.rss()
        print(
            f"  warm-up (one event per SLO): {r.warm_s:.1f}s, worker CPU {r.warm_cpu_us:.0f} us/SLO; "
            f"RSS {r.rss_warm / MB:,.0f} MiB ({(r.rss_warm - r.rss_ready) / n:,.0f} B/SLO over ready)",
            flush=True,
        )
        # a timer pass with no load: wait for one that starts after the warm-up
        ticks = len(worker.ticks())
        await wait_log(worker, lambda w: len(w.ticks()) > ticks, 3 * args.interval + n / 1000)
        ticks = len(worker.ticks())
        with profiled(args.profile, worker, args.out, "timer-at-rest", r):
            await wait_log(worker, lambda w: len(w.ticks()) > ticks, 3 * args.interval + n / 1000)
        r.passes_rest_s = [round(b - a, 3) for a, b in pass_durations(worker.ticks(), args.interval)][-2:]
        if n <= args.scrape_max:  # /metrics renders every SLO's series on the worker's loop: a long stall
            r.rest = await worker.ascrape()
        print(f"  timer at rest: passes {r.passes_rest_s} s (log); {r.rest}", flush=True)
        with profiled(args.profile, worker, args.out, "load", r):
            r.lat = await load_phase(bootstrap, topology.topics.metrics, ids, tracker, worker, args)
        r.after_load = await worker.ascrape()
        r.rss_load = worker.rss()
        print(f"  load: {json.dumps(r.lat)}", flush=True)
        print(f"  after the load: {r.after_load}; RSS {r.rss_load / MB:,.0f} MiB", flush=True)
        if broker_pid:
            r.broker_rss = proc_rss(broker_pid)
        await sb.stop_reader(*reader)
        reader = None
        lost = worker.group_trouble()  # a stall past the session timeout (e.g. the scrape) costs a rebalance
        # recovery: SIGKILL, then a new worker on the same topics
        killed_at = worker.kill()
        again = ScaleWorker(bootstrap, path, workdir, f"{tag}-b", args.fetch_wait_ms)
        await asyncio.sleep(0.3)
        try:
            with profiled(args.profile, again, args.out, "restart", r):
                await again.wait_ready(ready_timeout)
            assigned = again.assignments()
            r.restart = {
                "ready_s": again.ready_after_s,
                "kill_to_ready_s": again.ready_ns / 1e9 - killed_at,
                "records": sum(a.records for a in assigned),
                "recovery_log_s": sum(a.recovery_s for a in assigned),
                "partitions": sorted({p for a in assigned for p in a.partitions}),
                "rss": again.rss(),
                "lost_sessions_before_kill": lost,
            }
            r.restart.update({f"gauge_{k}": v for k, v in (await again.ascrape()).items()})
        except RuntimeError as exc:  # not ready in time: say so, keep the other figures
            r.restart = {"error": str(exc)[:300], "stack": dump_stack(again.pid)}
        finally:
            again.stop()
        print(f"  restart after SIGKILL: {r.restart}", flush=True)
        objectives = {s.slo_id: inproc.objective_of(s) for s in topology.slos}
        part = await inproc.partition_recovery(bootstrap, changelog_topic(topology), 0, objectives)
        r.partition = asdict(part)
        print(
            f"  one changelog partition in this process: {part.records:,} records ({part.bytes / MB:.1f} MiB) "
            f"for {part.slos:,} SLOs; read {part.fetch_s:.2f}s, rebuild {part.rebuild_s:.2f}s",
            flush=True,
        )
        for line in part.profile:
            print(f"    {line}")
    finally:
        if reader is not None:
            await sb.stop_reader(*reader)
        worker.stop()
    if not args.no_floor:  # on a broker of its own, as fresh as the one the run above started with
        with broker_for(args, args.broker) as (floor_bootstrap, floor_pid):
            fl = await sb.floor_phase(floor_bootstrap, floor_pid or os.getpid(), ids, args.rate, args)
        r.floor = {"p50_ms": fl.p50_ms, "p99_ms": fl.p99_ms, "max_ms": fl.max_ms, "series": fl.series}
        print(f"  broker alone: p50 {fl.p50_ms:.1f} / p99 {fl.p99_ms:.1f} / max {fl.max_ms:.0f} ms", flush=True)
        print(f"  broker alone per 2 s: {fl.series}", flush=True)
    if n <= args.mem_max:
        r.mem = inproc.state_bytes(topology, n)
        print(f"  memory per SLO in this process: {r.mem}", flush=True)
        r.timer_eval = inproc.timer_evaluation(topology, n)
        print(f"  timer evaluation alone (this process): {r.timer_eval['us_per_slo']:.1f} us/SLO", flush=True)
        for line in r.timer_eval["profile"]:
            print(f"    {line}")
    if n <= args.parse_max:
        r.parse = inproc.topology_parse(workdir, ids)
        print(f"  topology file with every SLO inline: {r.parse}", flush=True)
    if n <= args.inline_start_max:
        r.inline_ready_s = await inline_start(bootstrap, workdir, ids, args)
        print(f"  worker start -> ready from an inline topology: {r.inline_ready_s:.1f}s", flush=True)
    return r


async def inline_start(bootstrap: str, workdir: Path, ids: list[str], args: argparse.Namespace) -> float:
    """start -> ready of a worker whose topology file lists every SLO (it parses the file
    and publishes each definition with one acknowledged send before reading them back)."""
    tag = f"inline{len(ids)}-{int(time.time())}"
    path, _ = sb.write_topology(workdir, tag, ids)
    worker = ScaleWorker(bootstrap, path, workdir, tag, args.fetch_wait_ms)
    try:
        await worker.wait_ready(600)
        return worker.ready_after_s or float("nan")
    finally:
        worker.stop()


# -- report ------------------------------------------------------------------------
def _mib(b: float) -> str:
    return f"{b / MB:,.0f} MiB"


def markdown_sizes(results: list[SizeResult], args: argparse.Namespace) -> list[str]:
    lines = [
        f"Section 2: one worker, {sb.PARTITIONS} partitions, load {args.rate:,}/s for {args.duration:.0f} s "
        f"(timer every {args.interval:.0f} s).",
        "",
        "| SLOs | RSS ready / warm / after load | RSS per SLO (warm - ready) | warm-up | timer pass at rest "
        "| longest hold at rest | timer passes under load | longest hold (last pass) | max status gap in pass / "
        "outside | p99 in pass / outside | p50 / p99 / max at load | broker alone p50 / p99 | /metrics scrape |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat, rest, after = r.lat, r.rest, r.after_load
        floor = f"{r.floor['p50_ms']:.0f} / {r.floor['p99_ms']:.0f} ms" if r.floor else "-"
        lines.append(
            f"| {r.n:,} | {_mib(r.rss_ready)} / {_mib(r.rss_warm)} / {_mib(r.rss_load)} "
            f"| {(r.rss_warm - r.rss_ready) / r.n / 1024:,.1f} KiB | {r.warm_s:.1f} s "
            f"| {rest.get('slo_timer_pass_seconds', float('nan')) * 1000:,.0f} ms "
            f"(log: {', '.join(f'{p * 1000:,.0f}' for p in r.passes_rest_s)}) "
            f"| {rest.get('slo_timer_longest_hold_seconds', float('nan')) * 1000:.1f} ms "
            f"| {', '.join(f'{p * 1000:,.0f}' for p in lat.get('passes', []))} ms "
            f"| {after.get('slo_timer_longest_hold_seconds', float('nan')) * 1000:.1f} ms "
            f"| {lat.get('gap_in_pass_max_ms', float('nan')):.0f} / "
            f"{lat.get('gap_outside_max_ms', float('nan')):.0f} ms "
            f"| {lat.get('p99_in_pass_ms', float('nan')):.0f} / {lat.get('p99_outside_ms', float('nan')):.0f} ms "
            f"| {lat.get('p50_ms', float('nan')):.0f} / {lat.get('p99_ms', float('nan')):.0f} / "
            f"{lat.get('max_ms', float('nan')):.0f} ms | {floor} "
            f"| {after.get('scrape_s', float('nan')):.2f} s, {after.get('scrape_bytes', 0) / MB:.1f} MiB |"
        )
    lines += [
        "",
        "| SLOs | definitions published | worker start -> ready | restart after SIGKILL -> ready | changelog "
        "records recovered (8 partitions) | recovery (log / gauge) | RSS after recovery | one partition: records, "
        "read, rebuild | broker RSS after the load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rs, p = r.restart, r.partition
        lines.append(
            f"| {r.n:,} | {r.defs_publish_s:.1f} s | {r.ready_s:.1f} s | {rs.get('ready_s', float('nan')):.1f} s "
            f"| {rs.get('records', 0):,} | {rs.get('recovery_log_s', float('nan')):.2f} s / "
            f"{rs.get('gauge_slo_worker_recovery_seconds', float('nan')):.2f} s | {_mib(rs.get('rss', 0))} "
            f"| {p.get('records', 0):,} ({p.get('slos', 0):,} SLOs, {p.get('bytes', 0) / MB:.1f} MiB), "
            f"{p.get('fetch_s', float('nan')):.2f} s, {p.get('rebuild_s', float('nan')):.2f} s "
            f"| {_mib(r.broker_rss) if r.broker_rss else '-'} |"
        )
    mem = [r for r in results if r.mem]
    if mem:
        lines += [
            "",
            "Memory per SLO in the worker's objects (tracemalloc, this process):",
            "",
            "| SLOs | unit, every window loaded | unit, one event | of which counters | report book, 400 days "
            "| unit with history and report book | per day of alert activity | definition (Objective) "
            "| Prometheus children | per further dedup id | forget_slo per call (release of N/2: est.) "
            "| timer evaluation alone, per SLO (whole pass) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in mem:
            m = r.mem
            lines.append(
                f"| {r.n:,} | {m['unit_loaded'] / 1024:.1f} KiB | {m['unit_one_event'] / 1024:.1f} KiB "
                f"| {m['counters'] / 1024:.1f} KiB | {m['book_loaded'] / 1024:.1f} KiB "
                f"| {m['unit_history_and_book'] / 1024:.1f} KiB | {m['book_alert_day']:,.0f} B "
                f"| {m['objective']:,.0f} B | {m['metrics'] / 1024:.1f} KiB "
                f"| {m['dedup_id']:,.0f} B | {m['forget_slo_ms']:,.1f} ms ({m['forget_slo_ms'] * r.n / 2000:,.0f} s) "
                f"| {r.timer_eval.get('us_per_slo', float('nan')):.1f} µs "
                f"({r.timer_eval.get('pass_s', float('nan')):.2f} s) |"
            )
    parse = [r for r in results if r.parse or r.inline_ready_s is not None]
    if parse:
        lines += ["", "Topology file with every SLO inline (the alternative to the definitions topic):", ""]
        for r in parse:
            p = r.parse
            lines.append(
                f"- {r.n:,} SLOs ({p.get('bytes', 0) / MB:.1f} MB): load_topology (yaml.safe_load + pydantic) "
                f"{p.get('load_topology_s', float('nan')):.1f} s; libyaml CSafeLoader "
                f"{p.get('csafe_yaml_s', float('nan')):.2f} s + pydantic {p.get('pydantic_s', float('nan')):.2f} s"
                + (f"; worker start -> ready {r.inline_ready_s:.1f} s" if r.inline_ready_s is not None else "")
            )
    lines += ["", "Latency p50/p99 (ms) per 10 s of sending:", ""]
    lines += [f"- {r.n:,} SLOs: {r.lat.get('series10', '')}" for r in results]
    return lines


@contextlib.contextmanager
def broker_for(args: argparse.Namespace, kind: str) -> Iterator[tuple[str, int | None]]:
    """A fresh embedded broker of `kind` per phase (Tansu slows down with everything it
    holds: phases must not inherit each other's records), or the external one (--bootstrap)."""
    if args.bootstrap is not None:
        yield args.bootstrap, None
        return
    with embedded_broker(kind) as broker:
        assert broker.process is not None
        yield broker.bootstrap, broker.process.pid


async def main_async(args: argparse.Namespace) -> None:
    import scale_cluster

    m = sb.machine()
    print(f"{m['nproc']} cores, {m['cpu']}, Python {m['python']}, {m['date']}, code {m['code']}")
    print(f"load average before: {sb.loadavg()}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    sizes: list[SizeResult] = []
    cluster: dict[str, Any] = {}
    tmp = args.out / f"run-{time.strftime('%Y%m%d-%H%M%S')}"  # topology files and worker logs, kept
    tmp.mkdir()
    if not args.skip_sizes:
        for n in args.sizes:
            with broker_for(args, args.broker) as (bootstrap, broker_pid):
                print(f"{n:,} SLOs (load {sb.loadavg()}), broker at {bootstrap} ...", flush=True)
                sizes.append(await size_run(bootstrap, broker_pid, tmp, n, args))
    # several workers in one group: Tansu (noida-db never completes a rebalance when a
    # consumer joins a running group: ../shared/infra-notes.md)
    cluster = await scale_cluster.run(lambda: broker_for(args, "tansu"), tmp, args)
    print(f"load average after: {sb.loadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"machine": m, "sizes": [asdict(r) for r in sizes], **cluster}, indent=1))
    print()
    lines = [
        "## Scale (issue 11): `benchmarks/scale_bench.py`",
        "",
        f"{m['nproc']} cores, {m['cpu']}; Python {m['python']}; {m['date']}; code {m['code']}; broker "
        + (f"embedded {args.broker} (1 worker), Tansu (several)" if args.bootstrap is None else args.bootstrap)
        + f"; load average at the start of each part: {', '.join(f'{r.n:,}: {r.load_avg}' for r in sizes)}.",
        "",
    ]
    if sizes:
        lines += markdown_sizes(sizes, args)
    lines += scale_cluster.markdown(cluster)
    print("\n".join(lines))


def main() -> None:
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=ints, default=[1000, 10_000, 100_000])
    parser.add_argument("--skip-sizes", action="store_true", help="section 3 only")
    parser.add_argument("--rate", type=int, default=1000, help="events/s of the load phase")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the load phase")
    parser.add_argument("--interval", type=float, default=10.0, help="timer_interval_s of the topology (10)")
    parser.add_argument("--bootstrap", default=None, help="an external broker instead of the embedded ones")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help="1-worker sizes: noida or tansu")
    parser.add_argument("--fetch-wait-ms", type=int, default=int(os.environ.get("SLO_FETCH_MAX_WAIT_MS", 5)))
    parser.add_argument("--consumer-fetch-wait-ms", type=int, default=5)
    parser.add_argument("--no-floor", action="store_true", help="skip the broker-alone baseline")
    parser.add_argument("--mem-max", type=int, default=100_000, help="largest N for the tracemalloc figures")
    parser.add_argument(
        "--scrape-max", type=int, default=10_000, help="largest N scraped at rest (above: only after the load)"
    )
    parser.add_argument("--parse-max", type=int, default=100_000, help="largest N for the topology parse")
    parser.add_argument("--inline-start-max", type=int, default=10_000, help="largest N for the inline start")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker (pip install py-spy)")
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "scale-bench", help="worker logs, profiles"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    scale_cluster_flags(parser)
    args = parser.parse_args()
    asyncio.run(main_async(args))


def scale_cluster_flags(parser: argparse.ArgumentParser) -> None:
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument("--workers", type=ints, default=[], help="section 3 throughput: worker counts, e.g. 1,2,4")
    parser.add_argument("--scaling-slos", type=int, default=1000, help="SLOs of the throughput runs")
    parser.add_argument("--backlog", type=int, default=1_000_000, help="events pre-filled for the throughput runs")
    parser.add_argument("--tput-timeout", type=float, default=300.0, help="longest wait for a backlog to drain")
    parser.add_argument(
        "--takeover-slos", type=ints, default=[], help="section 3 takeover at these SLO counts, e.g. 1000,100000"
    )
    parser.add_argument("--takeover-workers", type=int, default=2)
    parser.add_argument(
        "--takeover-sessions",
        type=lambda s: s.split(","),
        default=["2000/200", "default"],
        help="session/heartbeat ms per takeover run, or `default` (the code's)",
    )
    parser.add_argument("--takeover-rate", type=int, default=1000, help="events/s during the takeover run")
    parser.add_argument(
        "--warm-rate", type=int, default=5000, help="primers/s of the takeover's warm-up (0: as fast as possible)"
    )
    parser.add_argument("--kill-after", type=float, default=10.0, help="seconds of load before the SIGKILL")
    parser.add_argument("--takeover-timeout", type=float, default=300.0, help="longest wait for the catch-up")
    parser.add_argument("--after-kill", type=float, default=50.0, help="seconds of load after the SIGKILL")


if __name__ == "__main__":
    main()
