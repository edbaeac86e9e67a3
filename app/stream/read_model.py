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
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.core.history import Buckets, history
from app.core.report import SloReport
from app.core.state import WindowState
from app.core.windows import HISTORY_TIERS, TIERS
from app.domain.models import SLO, ErrorBudget, SLIMetric, SLOStatusReport
from app.domain.views import error_budget, status_report
from app.errors import Unavailable

log = logging.getLogger(__name__)

_TIERS = {tier: (f"r{tier}", TIERS[tier].bucket_us) for tier in HISTORY_TIERS}  # tier -> (key suffix, width)


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
            ring = state.rings.view(tier)
            k = ring.bucket_at(slot)
            key = self._key(slo.slo_id, _TIERS[tier][0])
            good, total = ring.bucket(slot)
            pipe.hset(key, mapping={str(k): f"{good},{total}", "head": str(ring.head)})
            pipe.hdel(key, str(k - ring.n))  # that slot's previous lap

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
        tiers = []
        for tier in HISTORY_TIERS:
            raw = await self._read(self.client.hgetall(self._key(slo_id, _TIERS[tier][0])))
            head = raw.pop(b"head", None)
            if head is None:
                continue
            counts = {int(k): (int(g), int(t)) for k, v in raw.items() for g, t in (v.split(b","),)}
            tiers.append(Buckets(TIERS[tier].bucket_us, TIERS[tier].n_buckets, int(head), _lookup(counts)))
        if not tiers:
            return []
        now_us = max(t.head * t.bucket_us for t in tiers)
        return [
            SLIMetric.of(slo_id, p.end_us, step_s, p.good, p.total)
            for p in history(tiers, now_us, start_us, end_us, step_s * 1_000_000)
        ]


def _lookup(counts: dict[int, tuple[int, int]]) -> Callable[[int], tuple[int, int]]:
    def get(k: int) -> tuple[int, int]:
        return counts.get(k, (0, 0))

    return get
