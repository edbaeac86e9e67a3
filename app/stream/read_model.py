"""The Redis read model: what any worker's API reads for SLOs it does not own.

The owning worker writes, per status event: the status report, the error
budget, and the 1-minute and 1-hour buckets the batch changed (history). Keys:
`<prefix><slo_id>:status`, `:budget` (JSON), `:m` and `:h` (hashes: bucket
index -> "good,total", one field per ring slot's current bucket). Redis is a
cache: the status topic stays the source of truth, so a Redis outage is
logged and counted but never stalls the pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.core.report import SloReport
from app.core.state import WindowState
from app.core.windows import HOUR_US, MINUTE_US
from app.domain.models import SLO, ErrorBudget, SLIMetric, SLOStatusReport
from app.domain.views import error_budget, status_report
from app.errors import Unavailable

log = logging.getLogger(__name__)

_TIERS = {2: ("m", MINUTE_US), 3: ("h", HOUR_US)}  # ring tier -> (key suffix, bucket width)


class ReadModel:
    def __init__(self, url: str, prefix: str = "slo:") -> None:
        self.url = url
        self.prefix = prefix
        self.client: aioredis.Redis = aioredis.from_url(url)
        self.failures = 0
        self._pipe: Any = None

    async def start(self) -> None:
        await self.client.ping()

    async def stop(self) -> None:
        await self.client.aclose()

    def _key(self, slo_id: str, suffix: str) -> str:
        return f"{self.prefix}{slo_id}:{suffix}"

    def stage(self, slo: SLO, report: SloReport, state: WindowState, dirty_parts: list[str]) -> None:
        """Queue the writes for one status event; `flush()` sends them."""
        if self._pipe is None:
            self._pipe = self.client.pipeline(transaction=False)
        pipe = self._pipe
        pipe.set(self._key(slo.slo_id, "status"), status_report(slo, report).model_dump_json())
        pipe.set(self._key(slo.slo_id, "budget"), error_budget(slo, report).model_dump_json())
        for part in dirty_parts:
            if not part.startswith("r"):
                continue
            tier, slot = (int(x) for x in part[1:].split("."))
            if tier not in _TIERS:
                continue
            ring = state.rings[tier]
            k = ring.head - (ring.head - slot) % ring.n
            suffix = _TIERS[tier][0]
            pipe.hset(self._key(slo.slo_id, suffix), str(k), f"{ring.good[slot]},{ring.total[slot]}")
            pipe.hdel(self._key(slo.slo_id, suffix), str(k - ring.n))  # that slot's previous lap

    def forget(self, slo_id: str) -> None:
        """Queue the deletion of everything held for a deleted SLO."""
        if self._pipe is None:
            self._pipe = self.client.pipeline(transaction=False)
        suffixes = ["status", "budget", *(suffix for suffix, *_ in _TIERS.values())]
        self._pipe.delete(*(self._key(slo_id, suffix) for suffix in suffixes))

    async def flush(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is None:
            return
        try:
            await pipe.execute()
        except RedisError as exc:
            self.failures += 1
            log.warning("read model write failed (%s); the status topic still has every event", exc)

    async def _read(self, pending: Awaitable[Any]) -> Any:
        try:
            return await pending
        except RedisError as exc:
            raise Unavailable("redis", str(exc)) from exc

    async def status(self, slo_id: str) -> SLOStatusReport | None:
        raw = await self._read(self.client.get(self._key(slo_id, "status")))
        return None if raw is None else SLOStatusReport.model_validate_json(raw)

    async def error_budget(self, slo_id: str) -> ErrorBudget | None:
        raw = await self._read(self.client.get(self._key(slo_id, "budget")))
        return None if raw is None else ErrorBudget.model_validate_json(raw)

    async def history(self, slo_id: str, start_us: int, end_us: int, step_s: int) -> list[SLIMetric]:
        step_us = step_s * 1_000_000
        suffix, bucket_us = ("m", MINUTE_US) if step_us % HOUR_US else ("h", HOUR_US)
        raw = await self._read(self.client.hgetall(self._key(slo_id, suffix)))
        buckets = {int(k): tuple(int(x) for x in v.split(b",")) for k, v in raw.items()}
        if not buckets:
            return []
        oldest = min(buckets)
        points = []
        first_end = (start_us // step_us + 1) * step_us
        for point_end in range(first_end, end_us + 1, step_us):
            last_k = point_end // bucket_us
            first_k = last_k - step_us // bucket_us + 1
            if first_k < oldest or first_k > max(buckets):
                continue
            good = sum(buckets.get(k, (0, 0))[0] for k in range(first_k, last_k + 1))
            total = sum(buckets.get(k, (0, 0))[1] for k in range(first_k, last_k + 1))
            points.append(SLIMetric.of(slo_id, point_end, step_s, good, total))
        return points
