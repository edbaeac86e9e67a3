"""A synthetic producer, so a newcomer sees statuses and burn rates move.

It backfills the last 30 days of steady per-minute traffic for every SLO of
the topology (so a 30-day budget has its full base), then reports live counts
every second. A scripted incident hits the first SLO 30 s after the start and
every 15 minutes after that: for 60 s its traffic quintuples with 40% errors.
About 27 s in, its 1h burn rate crosses 14.4 with the 5m one far above: the
page-1h-5m rule fires (CRITICAL). It spends ~5% of the 30-day budget, and the
page resolves on its own about five minutes after the incident ends, when the
5m window has cleared.
"""

from __future__ import annotations

import asyncio
import random
import time

from aiokafka import AIOKafkaProducer

from app.domain.events import encode_event
from app.domain.models import SLO

RATE_PER_S = 200  # events each SLO reports per second
BASE_ERROR = 0.0002
INCIDENT_ERROR = 0.40
INCIDENT_TRAFFIC_FACTOR = 5
INCIDENT_START_S, INCIDENT_LENGTH_S, CYCLE_S = 30, 60, 900


def _event(slo_id: str, ts: float, total: int, error_ratio: float, rng: random.Random) -> bytes:
    bad = (
        sum(1 for _ in range(total) if rng.random() < error_ratio)
        if error_ratio > 0.01
        else (int(total * error_ratio) + (rng.random() < (total * error_ratio) % 1))
    )
    return encode_event(slo_id, ts, total - bad, total)


async def produce_demo(bootstrap: str, topic: str, slos: list[SLO], duration_s: float | None = None) -> None:
    rng = random.Random(1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        await producer.start()
        start = time.time()
        for minute in range(30 * 24 * 60 - 1, 0, -1):  # backfill, inside the 30-day retention
            ts = float(int(start) - minute * 60)
            for slo in slos:
                await producer.send(
                    topic, _event(slo.slo_id, ts, RATE_PER_S * 60, BASE_ERROR, rng), key=slo.slo_id.encode()
                )
        await producer.flush()
        while duration_s is None or time.time() - start < duration_s:
            now = time.time()
            phase = (now - start - INCIDENT_START_S) % CYCLE_S
            in_incident = now - start >= INCIDENT_START_S and phase < INCIDENT_LENGTH_S
            for i, slo in enumerate(slos):
                hit = i == 0 and in_incident
                ratio = INCIDENT_ERROR if hit else BASE_ERROR
                total = rng.randint(RATE_PER_S * 8 // 10, RATE_PER_S * 12 // 10)
                total *= INCIDENT_TRAFFIC_FACTOR if hit else 1
                await producer.send(topic, _event(slo.slo_id, now, total, ratio, rng), key=slo.slo_id.encode())
            await asyncio.sleep(max(0.0, 1.0 - (time.time() - now)))
    finally:
        await producer.stop()
