"""Replay benchmark (issue 2): 100 SLOs x 30 days of per-minute events.

Measures, on the same generated file:
  * replay throughput (decode + validate + accept + load + evaluate), events/s;
  * the time of merely `json.loads`-ing every line, and the ratio replay/json;
  * incremental update latency per event (WindowState.add after advance), p50/p99;
    and with the evaluation a live worker runs after each event;
  * state bytes per SLO (tracemalloc over 100 fully loaded states).

Usage: python benchmarks/replay_bench.py [--slos 100] [--days 30]
Results are written down in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

from app.core.evaluation import evaluate
from app.core.state import WindowState
from app.domain.enums import SLOType, TimePeriod
from app.domain.models import SLO
from app.domain.views import objective_of
from app.replay import prepare, replay_batch

DATA = Path(__file__).parent / "data"
NOW_S = 1_764_547_200  # 2025-12-01T00:00:00Z


def make_slos(n: int) -> list[SLO]:
    periods = list(TimePeriod)
    return [
        SLO(
            slo_id=f"svc-{i:03d}-availability",
            slo_name=f"Service {i} availability",
            service_name=f"svc-{i:03d}",
            slo_type=SLOType.AVAILABILITY,
            target_percentage=99.9,
            time_period=periods[i % len(periods)],
        )
        for i in range(n)
    ]


def make_events(path: Path, slos: list[SLO], days: int) -> int:
    rng = np.random.default_rng(7)
    minutes = days * 1440
    stamps = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW_S - (minutes - 1 - m) * 60)) for m in range(minutes)]
    n = 0
    with path.open("w") as f:
        for m in range(minutes):
            totals = rng.integers(500, 2000, size=len(slos))
            bad = rng.binomial(totals, 0.0008)
            ts = stamps[m]
            lines = [
                f'{{"slo_id": "{slo.slo_id}", "timestamp": "{ts}", "good": {t - b}, "total": {t}}}\n'
                for slo, t, b in zip(slos, totals.tolist(), bad.tolist(), strict=True)
            ]
            f.writelines(lines)
            n += len(lines)
    return n


def bench_replay(slos: list[SLO], path: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    data = path.read_bytes()
    prepared = prepare(slos, data, None, fallback_now_us=0)
    out = replay_batch(prepared)
    elapsed = time.perf_counter() - t0
    assert len(out) == len(slos) and not prepared.rejections
    return elapsed, int(prepared.ts_us.size)


def bench_json_loads(path: Path) -> float:
    t0 = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            json.loads(line)
    return time.perf_counter() - t0


def bench_update_latency(slos: list[SLO], samples: int) -> dict[str, float]:
    """Per-event latency of the incremental path, one SLO per event, in time order."""
    objective = objective_of(slos[0])
    start_us = (NOW_S - 86_400) * 1_000_000
    state = WindowState(start_us)
    add_ns, eval_ns = [], []
    clock = time.perf_counter_ns
    for i in range(samples):
        ts_us = start_us + i * 1_000_000  # one event a second
        t0 = clock()
        state.advance(ts_us)
        state.add(ts_us, 990, 1000)
        t1 = clock()
        evaluate(objective, state)
        t2 = clock()
        add_ns.append(t1 - t0)
        eval_ns.append(t2 - t0)

    def pct(xs: list[int], q: float) -> float:
        return float(np.percentile(np.asarray(xs), q)) / 1000.0

    return {
        "update_p50_us": pct(add_ns, 50),
        "update_p99_us": pct(add_ns, 99),
        "update_max_us": max(add_ns) / 1000.0,
        "update_eval_p50_us": pct(eval_ns, 50),
        "update_eval_p99_us": pct(eval_ns, 99),
    }


def bench_state_bytes(slos: list[SLO], path: Path) -> tuple[float, int]:
    """Heap bytes per fully loaded SLO state, measured by tracemalloc."""
    data = path.read_bytes()
    prepared = prepare(slos, data, None, fallback_now_us=0)
    per_slo = []
    for i in range(len(slos)):
        rows = prepared.slo_index == i
        per_slo.append((prepared.ts_us[rows], prepared.good[rows], prepared.total[rows]))
    del data, prepared, rows
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    states = []
    for ts_us, good, total in per_slo:
        st = WindowState(int(ts_us.max()))
        st.add_batch(ts_us, good, total)
        states.append(st)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(states), states[0].nbytes()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slos", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--samples", type=int, default=200_000)
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    slos = make_slos(args.slos)
    path = DATA / f"events-{args.slos}x{args.days}d.jsonl"
    if not path.exists():
        t0 = time.perf_counter()
        make_events(path, slos, args.days)
        print(f"generated {path} in {time.perf_counter() - t0:.1f}s")
    print(f"file: {path.stat().st_size / 1e6:.0f} MB; python {platform.python_version()}; {platform.machine()}")
    replay_runs = [bench_replay(slos, path) for _ in range(3)]
    json_runs = [bench_json_loads(path) for _ in range(3)]
    replay_s = statistics.median(r[0] for r in replay_runs)
    events = replay_runs[0][1]
    json_s = statistics.median(json_runs)
    print(f"events: {events}")
    print(
        f"replay: {replay_s:.2f} s  ->  {events / replay_s:,.0f} events/s (runs: "
        + ", ".join(f"{r[0]:.2f}" for r in replay_runs)
        + ")"
    )
    print(f"json.loads only: {json_s:.2f} s  ->  {events / json_s:,.0f} lines/s")
    print(f"ratio replay / json.loads: {replay_s / json_s:.3f}")
    for k, v in bench_update_latency(slos, args.samples).items():
        print(f"{k}: {v:.2f}")
    heap, counters = bench_state_bytes(slos, path)
    print(f"state bytes per SLO: {heap:,.0f} heap (tracemalloc), {counters:,} in counters")


if __name__ == "__main__":
    main()
