"""Writes examples/events.jsonl: two days of 5-minute counts for the example SLOs,
with a checkout incident in the last hour and two malformed lines. Deterministic."""

from __future__ import annotations

import json
import random
from pathlib import Path

END_S = 1_795_435_200  # 2026-11-23T10:00:00Z
STEP_S = 300


def main() -> None:
    rng = random.Random(42)
    lines: list[str] = []
    for t in range(END_S - 2 * 86_400 + STEP_S, END_S + 1, STEP_S):
        for slo_id, rate, error_ratio in (
            ("checkout-availability", 6000, 0.0004),
            ("search-latency", 3000, 0.004),
            ("payments-errors", 1200, 0.0008),
        ):
            total = rng.randint(int(rate * 0.8), int(rate * 1.2))
            if slo_id == "checkout-availability" and t > END_S - 3600:
                error_ratio = 0.03  # the incident: 3% errors for the last hour
            bad = sum(rng.random() < error_ratio for _ in range(total))
            lines.append(json.dumps({"slo_id": slo_id, "timestamp": t, "good": total - bad, "total": total}))
    lines.insert(100, '{"slo_id": "checkout-availability", "timestamp": "yesterday", "good": 1, "total": 1}')
    lines.insert(200, '{"slo_id": "search-latency", "timestamp": 1795300000, "good": 12, "total": 10}')
    Path(__file__).with_name("events.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
