"""Section 3 of benchmarks/scale_bench.py: several workers on 8 partitions.

Throughput (--workers 1,2,4): a fresh topic set, --scaling-slos definitions, a
backlog of --backlog events pre-filled round robin (stream_bench.prefill), then K
workers started at once (session 2000 ms / heartbeat 200 ms, so joins are quick).
The group is stable when the workers' logged assignments are disjoint and cover
the 8 partitions; the drain rate counts the events whose status arrived after that
instant (the last assignment line, written after its recovery) up to the last one,
in total and per worker (the SLOs of the partitions it owns; its own last status
ends its span). Events drained before the group was stable are reported apart.
CPU: cores of each worker, of the broker and of the rest of the machine over the
drain.

Takeover (--takeover-slos N1,N2, --takeover-workers K, per --takeover-sessions
setting): K workers, N SLOs warmed with one event each, then a paced load
(--takeover-rate) for --kill-after s, SIGKILL of the last worker, and the load
goes on for --after-kill s. Takeover = from the SIGKILL to the first status event
received for an SLO of the killed worker's partitions that a survivor produced
(its `timestamp`, the worker's clock at its batch start, is after the kill). The
survivor's log gives when it was told of the rebalance, released its partitions
(every rebalance revokes all), was assigned them back with the killed worker's and
recovered them (records, seconds); latency per 2 s from just before the kill, for
the killed worker's SLOs and the survivors' own (their partitions are revoked and
recovered too).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import stream_bench as sb
from scale_tools import (
    GapTracker,
    Profile,
    ScaleWorker,
    dump_stack,
    publish_definitions,
    session_env,
    wait_stable,
    warm_up,
)

from app.stream.kafka_io import ensure_topics, partition_for

FAST = "2000/200"


def _partitions_of(ids: list[str]) -> np.ndarray:
    return np.asarray([partition_for(sid.encode(), sb.PARTITIONS) for sid in ids], dtype=np.int64)


async def _start(
    bootstrap: str, path: Path, workdir: Path, tag: str, k: int, env: dict[str, str], args: argparse.Namespace, n: int
) -> tuple[list[ScaleWorker], float]:
    workers = [ScaleWorker(bootstrap, path, workdir, f"{tag}-{i}", args.fetch_wait_ms, env) for i in range(k)]
    try:
        for w in workers:
            await w.wait_ready(120 + n / 500)
        stable = await wait_stable(workers, sb.PARTITIONS, 120 + n / 1000)
    except BaseException:
        for w in workers:
            w.stop()
        raise
    return workers, stable


async def throughput(bootstrap: str, broker_pid: int | None, workdir: Path, k: int, args: argparse.Namespace) -> dict:
    ids = sb.slo_ids(args.scaling_slos)
    tag = f"w{k}-{int(time.time())}"
    path, topology = sb.write_topology(workdir, tag, ids, inline_slos=False)
    await ensure_topics(bootstrap, topology)
    await publish_definitions(bootstrap, topology.topics.definitions, topology.slos)
    tracker = GapTracker(ids)
    tracker.measure = True
    per_slo = max(1, args.backlog // len(ids))
    t0 = time.perf_counter()
    await sb.prefill(bootstrap, topology.topics.metrics, ids, tracker, per_slo)
    total = len(ids) * (per_slo + 1)
    print(f"  {k} worker(s): {total:,} events pre-filled in {time.perf_counter() - t0:.1f}s", flush=True)
    reader = await sb.start_reader(bootstrap, topology.topics.status, args.consumer_fetch_wait_ms, tracker)
    env, _ = session_env(FAST)
    spawned = time.time()
    try:
        workers, stable = await _start(bootstrap, path, workdir, tag, k, env, args, len(ids))
        pids = {w.name: w.pid for w in workers} | ({"broker": broker_pid} if broker_pid else {})
        cpu0 = sb.CpuSnap.take(pids)
        prof = Profile.start(workers[0].pid, args.out / f"pyspy-drain-{k}w.txt") if args.profile else None
        try:
            complete = await sb.wait_until(lambda: tracker.incomplete == 0, args.tput_timeout, 0.02)
            cpu = sb.CpuSnap.take(pids).cores_since(cpu0)
            profile = prof.stop() if prof is not None else []
            for line in profile:
                print(f"  py-spy drain ({workers[0].name}): {line}")
            stacks = {} if complete else {w.name: dump_stack(w.pid) for w in workers}
            for name, stack in stacks.items():
                print(f"  not drained after {args.tput_timeout:.0f}s; {name} now:\n    " + "\n    ".join(stack))
            rss = {w.name: w.rss() for w in workers}
            owned = {w.name: w.owned() for w in workers}
            joins = {w.name: len(w.assignments()) for w in workers}
            trouble = {w.name: w.group_trouble() for w in workers}
        finally:
            for w in workers:
                w.stop()
    finally:
        await sb.stop_reader(*reader)
    recv = (np.asarray(tracker.lat_send_ns, dtype=np.int64) + np.asarray(tracker.lat_ns, dtype=np.int64)) / 1e9
    part = _partitions_of(ids)[np.asarray(tracker.lat_idx, dtype=np.int64)]
    after = recv >= stable
    span = float(recv.max()) - stable if after.any() else float("nan")
    per_worker = {}
    for name, parts in owned.items():
        mask = after & np.isin(part, sorted(parts))
        w_span = float(recv[mask].max()) - stable if mask.any() else float("nan")
        per_worker[name] = {
            "partitions": sorted(parts),
            "events": int(mask.sum()),
            "rate": mask.sum() / w_span if w_span > 0 else float("nan"),
            "cores": cpu.get(name, float("nan")),
            "rss": rss[name],
            "assignments": joins[name],
            "lost_sessions": trouble[name],
        }
    result = {
        "workers": k,
        "slos": len(ids),
        "events": total,
        "covered": len(recv) + len(ids),  # + the primers, not in lat_ns
        "complete": complete,
        "spawn_to_stable_s": stable - spawned,
        "before_stable": int((~after).sum()),
        "after_stable": int(after.sum()),
        "span_s": span,
        "rate": after.sum() / span if span > 0 else float("nan"),
        "per_worker": per_worker,
        "broker_cores": cpu.get("broker", float("nan")),
        "other_cores": cpu.get("other", float("nan")),
        "load_avg": sb.loadavg(),
        "stuck_stacks": stacks,
        "broker_rss": _rss(broker_pid),
        "profile": profile,
    }
    print(f"  {k} worker(s): {result}", flush=True)
    return result


async def takeover(bootstrap: str, workdir: Path, n: int, spec: str, args: argparse.Namespace) -> dict:
    k = args.takeover_workers
    ids = sb.slo_ids(n)
    env, label = session_env(spec)
    tag = f"take{k}-{int(time.time())}"
    path, topology = sb.write_topology(workdir, tag, ids, inline_slos=False)
    await ensure_topics(bootstrap, topology)
    await publish_definitions(bootstrap, topology.topics.definitions, topology.slos)
    load_avg = sb.loadavg()
    workers, _stable = await _start(bootstrap, path, workdir, tag, k, env, args, n)
    tracker = GapTracker(ids)
    reader = await sb.start_reader(bootstrap, topology.topics.status, args.consumer_fetch_wait_ms, tracker)
    victim, survivors = workers[-1], workers[:-1]
    try:
        warm_s = await warm_up(bootstrap, topology.topics.metrics, ids, tracker, 120 + n / 250, args.warm_rate)
        print(f"  takeover {label}: {k} workers, {n:,} SLOs warm in {warm_s:.1f}s", flush=True)
        try:  # a member may have lost its session during the warm-up
            await wait_stable(workers, sb.PARTITIONS, 120 + n / 1000)
        except RuntimeError as exc:
            stacks = {w.name: dump_stack(w.pid) for w in workers}
            print(f"  takeover {label}: {exc}; stacks: {stacks}", flush=True)
            return {"session": label, "workers": k, "slos": n, "error": str(exc), "stuck_stacks": stacks}
        joins_before = sum(len(w.assignments()) for w in workers)
        parts = _partitions_of(ids)
        tracker.measure = True
        first = len(tracker.lat_ns)
        producer = sb.AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
        await producer.start()
        keys = [sid.encode() for sid in ids]
        duration = args.kill_after + args.after_kill
        load = asyncio.create_task(
            sb.paced_send(producer, topology.topics.metrics, ids, keys, tracker, args.takeover_rate, duration)
        )
        await asyncio.sleep(args.kill_after)
        victim_parts = victim.owned()  # at the kill (the group may have rebalanced since it was stable)
        stable_at_kill = sum(len(w.assignments()) for w in workers) == joins_before
        watch = {i for i in range(n) if parts[i] in victim_parts}
        tracker.watch = watch
        killed_at = victim.kill()
        try:
            await load
        finally:
            await producer.stop()
        complete = await sb.wait_until(lambda: tracker.incomplete == 0, args.takeover_timeout, 0.02)
        stacks = {} if complete else {w.name: dump_stack(w.pid) for w in survivors}  # where is it stuck?
        for name, stack in stacks.items():
            print(f"  not caught up after {args.takeover_timeout:.0f}s; {name} now:\n    " + "\n    ".join(stack))
        rss = {w.name: w.rss() for w in survivors}
        trouble = {w.name: w.group_trouble() for w in workers}
    finally:
        await sb.stop_reader(*reader)
        for w in workers:
            w.stop()
    survivor_first = [recv_ns / 1e9 for recv_ns, _i, ts in tracker.watched if sb.parse_ts_us(ts) / 1e6 >= killed_at]
    assigned = [a for w in survivors for a in w.assignments() if a.at_s >= killed_at]
    released = [t for w in survivors for t, _p in w.releases() if t >= killed_at]
    noticed = [t for w in survivors for t in w.rebalance_notices() if t >= killed_at]
    send = np.asarray(tracker.lat_send_ns[first:], dtype=np.int64) / 1e9
    lat = np.asarray(tracker.lat_ns[first:], dtype=np.int64) / 1e6
    idx = np.asarray(tracker.lat_idx[first:], dtype=np.int64)
    victims = np.isin(idx, sorted(watch))
    before = send < killed_at
    baseline_p99 = float(np.percentile(lat[before], 99)) if before.any() else float("nan")

    def from_kill(mask: np.ndarray) -> str:
        """p50/p99 (ms) per 2 s of send time, from 2 s before the kill."""
        m = mask & (send >= killed_at - 2)
        return sb.series(((send[m] - killed_at + 2) * 1e9).astype(np.int64), (lat[m] * 1e6).astype(np.int64))

    result = {
        "session": label,
        "workers": k,
        "slos": n,
        "victim_slos": len(watch),
        "victim_partitions": sorted(victim_parts),
        "warm_s": warm_s,
        "takeover_s": min(survivor_first) - killed_at if survivor_first else float("nan"),
        "rebalance_seen_s": min(noticed) - killed_at if noticed else float("nan"),
        "released_s": min(released) - killed_at if released else float("nan"),
        "assigned_s": min(a.at_s for a in assigned) - killed_at if assigned else float("nan"),
        "recovered_records": sum(a.records for a in assigned),
        "recovery_s": sum(a.recovery_s for a in assigned),
        "baseline_p99_ms": baseline_p99,
        "killed_series": from_kill(victims),
        "survivor_series": from_kill(~victims),
        "victim_max_ms": float(lat[victims].max()) if victims.any() else float("nan"),
        "others_p99_ms": float(np.percentile(lat[~victims & ~before], 99)) if (~victims & ~before).any() else 0.0,
        "complete": complete,
        "stable_at_kill": stable_at_kill,
        "stuck_stacks": stacks,
        "lost_sessions": trouble,
        "survivor_rss": rss,
        "load_avg": load_avg,
    }
    print(f"  takeover {label}: {result}", flush=True)
    return result


async def run(
    broker_for: Callable[[], AbstractContextManager[tuple[str, int | None]]], workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Every run on a broker of its own (`broker_for()`: fresh embedded, or the external one)."""
    out: dict[str, Any] = {"throughput": [], "takeover": []}
    for k in args.workers:
        with broker_for() as (bootstrap, broker_pid):
            print(f"throughput, {k} worker(s) (load {sb.loadavg()}) ...", flush=True)
            out["throughput"].append(await throughput(bootstrap, broker_pid, workdir, k, args))
    for n in args.takeover_slos:
        for spec in args.takeover_sessions:
            with broker_for() as (bootstrap, broker_pid):
                print(f"takeover at {n:,} SLOs, session {spec} (load {sb.loadavg()}) ...", flush=True)
                result = await takeover(bootstrap, workdir, n, spec, args)
                result["broker_rss"] = _rss(broker_pid)
                out["takeover"].append(result)
    return out


def _rss(pid: int | None) -> int:
    if pid is None:
        return 0
    with open(f"/proc/{pid}/status") as f:
        return next((int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmRSS:")), 0)


def markdown(cluster: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if cluster.get("throughput"):
        lines += [
            "",
            "Section 3, throughput: a pre-filled backlog drained by K workers on 8 partitions "
            "(counted from the group's last assignment to the last status).",
            "",
            "| workers | SLOs | backlog | spawn -> stable | drained before stable | total after stable "
            "| per worker: partitions, events/s, CPU cores | broker / other cores | lost sessions | load average |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for t in cluster["throughput"]:
            per = "; ".join(
                f"{','.join(map(str, w['partitions']))}: {w['rate']:,.0f}/s, {w['cores']:.2f}"
                for w in t["per_worker"].values()
            )
            lines.append(
                f"| {t['workers']} | {t['slos']:,} | {t['events']:,} | {t['spawn_to_stable_s']:.1f} s "
                f"| {t['before_stable']:,} | **{t['rate']:,.0f}/s** ({t['after_stable']:,} in {t['span_s']:.1f} s) "
                f"| {per} | {t['broker_cores']:.2f} / {t['other_cores']:.2f} "
                f"| {sum(w['lost_sessions'] for w in t['per_worker'].values())} | {t['load_avg']} |"
            )
    if cluster.get("takeover"):
        lines += [
            "",
            "Section 3, takeover after SIGKILL of one worker (load continues; times from the SIGKILL):",
            "",
            "| session / heartbeat | workers | SLOs (killed worker's) | survivor told of the rebalance | survivor "
            "released its partitions | assigned (after recovery) | recovery: records, s | first status of a killed "
            "worker's SLO | max latency, killed SLOs | p99 survivor's SLOs after the kill (before) "
            "| lost sessions (log lines), stable at kill | load average |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for t in cluster["takeover"]:
            if "error" in t:
                lines.append(f"| {t['session']} | {t['workers']} | {t['slos']:,} | {t['error']} |")
                continue
            trouble = sum(t["lost_sessions"].values())
            lines.append(
                f"| {t['session']} | {t['workers']} | {t['slos']:,} ({t['victim_slos']:,}) "
                f"| {t['rebalance_seen_s']:.1f} s | {t['released_s']:.1f} s | {t['assigned_s']:.1f} s "
                f"| {t['recovered_records']:,}, {t['recovery_s']:.1f} s | **{t['takeover_s']:.1f} s** "
                f"| {t['victim_max_ms']:,.0f} ms "
                f"| {t['others_p99_ms']:,.0f} ms ({t['baseline_p99_ms']:,.0f} ms) "
                f"| {trouble}, {'yes' if t['stable_at_kill'] else '**no**'} | {t['load_avg']} |"
            )
    series = [t for t in cluster.get("takeover", []) if "killed_series" in t]
    if series:
        lines += ["", "Latency p50/p99 (ms) per 2 s of send time, from 2 s before the SIGKILL (0s):", ""]
        for t in series:
            lines.append(f"- {t['session']}, {t['slos']:,} SLOs, killed worker's SLOs: {t['killed_series']}")
            lines.append(f"- {t['session']}, {t['slos']:,} SLOs, survivor's SLOs: {t['survivor_series']}")
    stuck = [
        (t.get("session", t.get("workers")), name, st)
        for t in [*cluster.get("throughput", []), *cluster.get("takeover", [])]
        for name, st in t.get("stuck_stacks", {}).items()
    ]
    if stuck:
        lines += ["", "Stuck workers at the timeout (py-spy dump, innermost first):", ""]
        lines += [f"- {what} / {name}: " + " <- ".join(st[2:8]) for what, name, st in stuck]
    return lines
