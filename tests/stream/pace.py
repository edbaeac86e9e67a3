"""The pace of status events while a dependency misbehaves: events are sent at a steady
rate and the status topic is read meanwhile; a stalled event path shows as gaps."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.stream.helpers import Ev, Producer, TopicReader, produce_steadily


@dataclass(frozen=True)
class Pace:
    status_events: int  # status events published from the first send on
    max_gap_s: float  # the longest time between two of them
    caught_up_s: float  # from the last send until a status event counted it

    def __str__(self) -> str:
        return (
            f"{self.status_events} status events, largest gap {self.max_gap_s:.2f}s, "
            f"last event counted {self.caught_up_s:.2f}s after it was sent"
        )


def final_counts(records: Sequence[Any]) -> dict[str, tuple[int, int]]:
    """slo_id -> (good, total) of its last status event."""
    out = {}
    for r in records:
        u = json.loads(r.value)["slo_status_update"]
        out[u["slo_id"]] = (u["good_events"], u["total_events"])
    return out


async def status_pace(
    producer: Producer,
    status: TopicReader,
    metrics_topic: str,
    events: Sequence[Ev],
    rate_per_s: float,
    want: dict[str, tuple[int, int]],
) -> Pace:
    """Send `events` at `rate_per_s`, reading `status` meanwhile, until the last status
    events count `want` (slo_id -> good, total: everything sent so far)."""
    started_ms = time.time() * 1000
    producing, _ = produce_steadily(producer, metrics_topic, events, rate_per_s=rate_per_s)
    while not producing.done():
        await status.poll(100)
    await producing
    sent_at = time.monotonic()
    await status.wait_until(lambda recs: final_counts(recs) == want, 15, f"status events counting {want}")
    caught_up_s = time.monotonic() - sent_at
    during = sorted(r.timestamp for r in status.records if r.timestamp >= started_ms)
    gaps_s = [(b - a) / 1000 for a, b in itertools.pairwise(during)]
    return Pace(len(during), max(gaps_s, default=float("inf")), caught_up_s)
