"""The Redis read model: what any worker's API reads for SLOs it does not own.

The owning worker writes, per status event: the status report, the error
budget, and the history buckets the batch changed. Keys:
`<prefix><slo_id>:status`, `:budget` (JSON), and per history ring a hash named
by its bucket width, `:m`, `:m6`, `:m24`, `:h`, `:d` (bucket index ->
"good,total", one field per ring slot's current bucket) with `:<width>:head`,
the ring's newest bucket. History is answered by the core's own rule
(app/core/history) over those buckets, so it equals the owner's. For reports,
`:book` and `:now` (app/stream/read_model_reports) complete what a report row
needs, so any worker reports on every SLO.

Redis is a cache: the status topic stays the source of truth, and Redis is
never on the event path. `stage()` only records the latest value of each key
(app/stream/read_model_writes); a background writer sends them, every call
bounded by `REDIS_TIMEOUT_S`. While Redis is down or hung, the writes wait
(coalesced, so memory is bounded by the keys, not by the outage's length),
`slo_read_model_up` is 0 and `slo_read_model_failures_total` counts the
attempts; once Redis answers, the latest state is written (catch-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from app.core.evaluation import SloEvaluation
from app.core.history import Buckets, history
from app.core.live_report import ReportSource
from app.core.report_book import ReportBook
from app.core.state import WindowState
from app.core.windows import DAY_TIER, HISTORY_TIERS, HOUR_TIER, TIERS
from app.domain.models import SLO, ErrorBudget, SLIMetric, SLOStatusReport
from app.domain.views import error_budget, status_report
from app.errors import MissingExtra, Unavailable
from app.stream.read_model_reports import BookCopies, source_from
from app.stream.read_model_writes import PendingWrites

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)

# tier -> (key suffix, bucket width): the suffix names the width, "m" a minute ... "d" a day
_SUFFIX_OF_WIDTH = {60: "m", 360: "m6", 1440: "m24", 3600: "h", 86_400: "d"}
_TIERS = {t: (_SUFFIX_OF_WIDTH[TIERS[t].bucket_us // 1_000_000], TIERS[t].bucket_us) for t in HISTORY_TIERS}
REDIS_TIMEOUT_S = 2.0  # connect, and every reply: a hung Redis fails a call in this long
RETRY_INITIAL_S, RETRY_MAX_S = 0.2, 5.0  # the writer's backoff while Redis is down
CHUNK_KEYS = 500  # keys written per pipeline (a catch-up yields to the loop between chunks)
STOP_FLUSH_S = 2.0  # at shutdown, how long the last writes may take


def _redis() -> Any:
    """The redis package, imported on first use: it is the optional extra `redis`."""
    try:
        return importlib.import_module("redis.asyncio")
    except ImportError as exc:
        raise MissingExtra("REDIS_URL", "redis", "redis") from exc


def _status_json(slo: SLO, report: SloEvaluation) -> str:
    return status_report(slo, report).model_dump_json()


def _budget_json(slo: SLO, report: SloEvaluation) -> str:
    return error_budget(slo, report).model_dump_json()


class ReadModel:
    def __init__(
        self,
        url: str,
        prefix: str = "slo:",
        *,
        up: Gauge | None = None,
        failures: Counter | None = None,
        pending: Gauge | None = None,
    ) -> None:
        redis = _redis()
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        self.url = url
        self.prefix = prefix
        self.client = redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),  # the writer retries, with backoff; a read fails fast (503)
        )
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self.up, self.failures_metric = up, failures
        self.failures = 0
        self.pending = PendingWrites()
        self.books = BookCopies()  # the report books' copies
        self._writing: PendingWrites | None = None  # the batch being written, less its chunk in flight
        self._chunk_keys = 0
        if pending is not None:
            pending.set_function(self.unconfirmed_keys)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._down_since_failures: int | None = None  # failures count when it went down

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Ping once (bounded); a Redis that does not answer is reported in one warning line
        and the worker starts without it: the writer catches up when it answers."""
        try:
            await asyncio.wait_for(self.client.ping(), REDIS_TIMEOUT_S + 1)
        except self._errors as exc:
            self._went_down(exc, at_start=True)
        else:
            self._set_up(True)
            log.info("read model: Redis at %s", self.url)
        self._task = asyncio.create_task(self._run(), name="read-model-writer")

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def stop(self) -> None:
        """Write what is pending if Redis answers within STOP_FLUSH_S, then close."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=STOP_FLUSH_S)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.pending:
            log.warning("read model: %d keys not written to Redis at shutdown", len(self.pending))
        with contextlib.suppress(*self._errors):
            await asyncio.wait_for(self.client.aclose(), REDIS_TIMEOUT_S)

    # -- writes (the event path: no I/O) ---------------------------------------
    def _key(self, slo_id: str, suffix: str) -> str:
        return f"{self.prefix}{slo_id}:{suffix}"

    def stage(
        self,
        slo: SLO,
        report: SloEvaluation,
        state: WindowState,
        dirty_parts: list[str],
        book: ReportBook | None = None,
    ) -> None:
        """Record the writes of one status event (the JSON is rendered by the writer)."""
        pending = self.pending
        if book is not None:
            self.books.stage(pending, self._key, slo.slo_id, state, book)
        pending.set(self._key(slo.slo_id, "status"), functools.partial(_status_json, slo, report))
        pending.set(self._key(slo.slo_id, "budget"), functools.partial(_budget_json, slo, report))
        for part in dirty_parts:
            if not part.startswith("r"):
                continue
            tier, slot = (int(x) for x in part[1:].split("."))
            if tier not in _TIERS:
                continue
            ring = state.rings.view(tier)
            key = self._key(slo.slo_id, _TIERS[tier][0])
            good, total = ring.bucket(slot)
            pending.hash(key, ring.n).put(ring.bucket_at(slot), f"{good},{total}")
            pending.set(f"{key}:head", functools.partial(str, ring.head))  # the ring's newest bucket

    def stage_book(self, slo_id: str, state: WindowState, book: ReportBook) -> None:
        """Record the writes of an SLO's report book if it changed since its last copy (the
        timer closes minutes and days without a status event)."""
        if self.books.behind(slo_id, book):
            self.books.stage(self.pending, self._key, slo_id, state, book)

    def forget(self, slo_id: str) -> None:
        """Record the deletion of everything held for a deleted SLO."""
        self.books.forget(self.pending, self._key, slo_id)
        for suffix in ("status", "budget"):
            self.pending.set(self._key(slo_id, suffix), None)
        for suffix, _ in _TIERS.values():
            self.pending.reset_hash(self._key(slo_id, suffix))
            self.pending.set(self._key(slo_id, f"{suffix}:head"), None)

    def flush(self) -> None:
        """Hand what was staged to the writer (never waits)."""
        if self.pending:
            self._wake.set()

    # -- the writer ---------------------------------------------------------------
    async def _run(self) -> None:
        delay_s = RETRY_INITIAL_S
        while True:
            if not self._stopping.is_set():
                await self._wake.wait()
            self._wake.clear()
            if not self.pending:
                if self._stopping.is_set():
                    return
                continue
            batch, self.pending = self.pending, PendingWrites()
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                self.pending = batch.merged_with(self.pending)
                raise
            except self._errors as exc:
                self.pending = batch.merged_with(self.pending)  # the newer writes win
                self._went_down(exc)
                if self._stopping.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)
                self._wake.set()
                continue
            delay_s = RETRY_INITIAL_S
            self._came_back()

    def unconfirmed_keys(self) -> int:
        """Keys whose latest write Redis has not confirmed (staged, or being written)."""
        return len(self.pending) + (len(self._writing) if self._writing is not None else 0) + self._chunk_keys

    async def _write(self, batch: PendingWrites) -> None:
        """Send `batch` in chunks; what was written leaves it (so a failure keeps the rest)."""
        self._writing = batch
        try:
            while batch:
                chunk = batch.take(CHUNK_KEYS)
                self._chunk_keys = len(chunk)
                pipe = self.client.pipeline(transaction=False)
                for key, write in chunk:
                    write.apply(pipe, key)
                try:
                    await asyncio.wait_for(pipe.execute(), REDIS_TIMEOUT_S * 2)
                except BaseException:  # not written: back into the batch, and re-raised
                    batch.put_back(chunk)
                    raise
                finally:
                    self._chunk_keys = 0
        finally:
            self._writing = None

    def _set_up(self, up: bool) -> None:
        if self.up is not None:
            self.up.set(1 if up else 0)

    def _went_down(self, exc: BaseException, at_start: bool = False) -> None:
        self.failures += 1
        if self.failures_metric is not None:
            self.failures_metric.inc()
        self._set_up(False)
        if self._down_since_failures is None:
            self._down_since_failures = self.failures
            what = type(exc).__name__ + (f": {exc}" if str(exc) else "")
            if at_start:
                log.warning(
                    "read model: Redis at %s did not answer within %.0fs (%s); starting without it, "
                    "its writes are kept (latest per key) and sent when it answers",
                    self.url,
                    REDIS_TIMEOUT_S,
                    what,
                )
            else:
                log.warning(
                    "read model: Redis at %s failed (%s); status events go on, its writes are kept "
                    "(latest per key) and retried",
                    self.url,
                    what,
                )

    def _came_back(self) -> None:
        self._set_up(True)
        if self._down_since_failures is not None:
            log.warning(
                "read model: Redis at %s answers again after %d failed attempts; caught up",
                self.url,
                self.failures - self._down_since_failures + 1,
            )
            self._down_since_failures = None

    # -- reads (the API) ------------------------------------------------------------
    async def _read(self, pending: Awaitable[Any]) -> Any:
        try:
            return await asyncio.wait_for(pending, REDIS_TIMEOUT_S * 2)
        except self._errors as exc:
            raise Unavailable("redis", str(exc) or type(exc).__name__) from exc

    async def status(self, slo_id: str) -> SLOStatusReport | None:
        raw = await self._read(self.client.get(self._key(slo_id, "status")))
        return None if raw is None else SLOStatusReport.model_validate_json(raw)

    async def error_budget(self, slo_id: str) -> ErrorBudget | None:
        raw = await self._read(self.client.get(self._key(slo_id, "budget")))
        return None if raw is None else ErrorBudget.model_validate_json(raw)

    async def history(self, slo_id: str, start_us: int, end_us: int, step_s: int) -> list[SLIMetric]:
        tiers = []
        for tier in HISTORY_TIERS:
            key = self._key(slo_id, _TIERS[tier][0])
            head = await self._read(self.client.get(f"{key}:head"))
            if head is None:
                continue
            raw = await self._read(self.client.hgetall(key))
            counts = {int(k): (int(g), int(t)) for k, v in raw.items() for g, t in (v.split(b","),)}
            tiers.append(Buckets(TIERS[tier].bucket_us, TIERS[tier].n_buckets, int(head), _lookup(counts)))
        if not tiers:
            return []
        now_us = max(t.head * t.bucket_us for t in tiers)
        return [
            SLIMetric.of(slo_id, p.end_us, step_s, p.good, p.total)
            for p in history(tiers, now_us, start_us, end_us, step_s * 1_000_000)
        ]

    async def report_source(self, slo_id: str) -> ReportSource | None:
        """What a report row of the SLO is computed from, as its owner last copied it (None:
        no copy, the SLO has no data)."""
        day, hour = self._key(slo_id, _TIERS[DAY_TIER][0]), self._key(slo_id, _TIERS[HOUR_TIER][0])
        pipe = self.client.pipeline(transaction=False)
        for key in (self._key(slo_id, "book"), self._key(slo_id, "now"), f"{day}:head", f"{hour}:head"):
            pipe.get(key)
        pipe.hgetall(day)
        pipe.hgetall(hour)
        book, now, day_head, hour_head, days, hours = await self._read(pipe.execute())
        return source_from(book, now, (day_head, days), (hour_head, hours))


def _lookup(counts: dict[int, tuple[int, int]]) -> Callable[[int], tuple[int, int]]:
    def get(k: int) -> tuple[int, int]:
        return counts.get(k, (0, 0))

    return get
