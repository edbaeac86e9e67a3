"""Micro-benchmark: building and encoding status events, the worker's per-SLO cost per batch.

1000 SLOs (every time period, a third of them in an incident so that rules fire and
recommendations are written), each evaluated once; then `--n` status events (default
100,000) are built with `status_event` and encoded with msgspec, round robin over the
SLOs. Prints the best of `--repeat` runs, in µs of CPU time (process time: other load on
a shared machine inflates it less than wall time) per event, for: build, encode, both.

Usage: .venv/bin/python benchmarks/status_event_bench.py [--n 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import msgspec

from app.core.evaluation import SloEvaluation
from app.core.state import WindowState
from app.definitions import parse_slo
from app.domain.models import SLO
from app.domain.views import status_event

PERIODS = ("ROLLING_1H", "ROLLING_24H", "ROLLING_7D", "ROLLING_30D", "CALENDAR_MONTH", "CALENDAR_QUARTER")
NOW_US = 1_780_000_000 * 1_000_000
_encode = msgspec.json.Encoder().encode


def scenario(n_slos: int) -> list[tuple[SLO, SloEvaluation]]:
    from app.core.evaluation import evaluate
    from app.domain.views import objective_of

    out = []
    for i in range(n_slos):
        slo = parse_slo(
            {
                "slo_id": f"svc-{i:04d}",
                "slo_name": f"Service {i}",
                "service_name": f"svc{i % 50}",
                "slo_type": "AVAILABILITY",
                "target_percentage": 99.9,
                "time_period": PERIODS[i % len(PERIODS)],
            }
        )
        state = WindowState(NOW_US - 7200 * 1_000_000)
        bad = 300 if i % 3 == 0 else 0  # a third burn fast: rules fire, advice is written
        for m in range(120):
            ts = NOW_US - (120 - m) * 60_000_000
            state.advance(ts)
            state.add(ts, 1000 - (bad if m > 100 else 0), 1000)
        state.advance(NOW_US)
        out.append((slo, evaluate(objective_of(slo), state)))
    return out


def best_us(fn: Callable[[], Any], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slos", type=int, default=1000)
    args = parser.parse_args()
    pairs = scenario(args.slos)
    n = args.n
    work = [pairs[i % len(pairs)] for i in range(n)]
    built = [status_event(slo, report, i + 1, NOW_US) for i, (slo, report) in enumerate(work)]

    def build() -> None:
        for i, (slo, report) in enumerate(work):
            status_event(slo, report, i + 1, NOW_US)

    def encode() -> None:
        for event in built:
            _encode(event)

    def both() -> None:
        for i, (slo, report) in enumerate(work):
            _encode(status_event(slo, report, i + 1, NOW_US))

    size = sum(len(_encode(e)) for e in built[: len(pairs)]) / len(pairs)
    print(f"{n} status events over {len(pairs)} SLOs (best of {args.repeat}), mean {size:.0f} bytes")
    print(f"  build            {best_us(build, n, args.repeat):6.2f} µs/event")
    print(f"  encode           {best_us(encode, n, args.repeat):6.2f} µs/event")
    print(f"  build + encode   {best_us(both, n, args.repeat):6.2f} µs/event")


if __name__ == "__main__":
    main()
