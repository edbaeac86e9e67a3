"""The bridge: samples in (remote write or queries), good/total SLI events out on the metrics topic.

Samples are applied as they arrive (app/core/sli_ingest.py); every flush interval the sums
become events (key = slo_id, stamped with the samples' time), the state file is written,
then the events are published (see app/bridge/state.py for why in this order). Kafka
being slow or down never stalls the receiving side: events wait in the state file's
`pending` list and are published at a later flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.bridge import state as state_file
from app.core.counters import Outcome, series_key
from app.core.promql import CounterSli
from app.core.sli_ingest import SliIngest
from app.domain.events import encode_event
from app.domain.models import SLO

log = logging.getLogger(__name__)
BAD_OUTCOMES = (Outcome.NOT_A_NUMBER, Outcome.NOT_A_COUNT)


class BridgeMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "slo_bridge_requests_total", "Remote-write requests, by outcome.", ["outcome"], registry=r
        )
        self.samples = Counter(
            "slo_bridge_samples_total",
            "Samples received, by outcome (baseline, delta, reset, out_of_order, nan, not_a_count, stale, unmatched).",
            ["outcome"],
            registry=r,
        )
        self.queries = Counter(
            "slo_bridge_queries_total", "Prometheus API queries, by outcome.", ["outcome"], registry=r
        )
        self.events = Counter("slo_bridge_events_published_total", "SLI events published.", registry=r)
        self.publish_errors = Counter("slo_bridge_publish_errors_total", "Flushes Kafka did not take.", registry=r)
        self.pending = Gauge("slo_bridge_pending_events", "Events waiting to be published.", registry=r)
        self.series = Gauge("slo_bridge_series", "Series the bridge keeps a last value for.", registry=r)
        self.held = Gauge(
            "slo_bridge_sli_held", "1 while an SLO's SLI cannot be computed (reason logged).", ["slo_id"], registry=r
        )
        self.flush_s = Histogram(
            "slo_bridge_flush_seconds", "Time to write the state file and publish one flush.", registry=r
        )


def counter_slis(slos: Iterable[SLO]) -> dict[str, CounterSli]:
    """The SLOs the bridge feeds: enabled, with an SLI in Prometheus counters."""
    out = {}
    for slo in slos:
        sli = slo.counter_sli()
        if sli is not None and slo.enabled:
            out[slo.slo_id] = sli
    return out


class Bridge:
    def __init__(
        self,
        slis: dict[str, CounterSli],
        bootstrap: str,
        topic: str,
        state_path: Path,
        flush_interval_s: float = 1.0,
        metrics: BridgeMetrics | None = None,
    ) -> None:
        self.topic = topic
        self.state_path = state_path
        self.flush_interval_s = flush_interval_s
        self.metrics = metrics or BridgeMetrics()
        self.state = state_file.load(state_path)
        self.ingest = SliIngest(slis, self.state.series, self.state.carry)
        self.bootstrap = bootstrap
        self.producer: AIOKafkaProducer | None = None  # made in start(): aiokafka needs the running loop
        self._held: dict[str, str] = {}
        self._dirty = False
        self._publish_failing = False
        self._flushing = asyncio.Lock()
        self.metrics.pending.set(len(self.state.pending))

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=1)
        try:
            await self.producer.start()
        except Exception:
            await self.producer.stop()
            raise
        if self.state.pending:
            log.info("publishing %d events a previous run left pending", len(self.state.pending))
            await self._publish()

    def add(self, labels: list[tuple[str, str]], samples: list[tuple[float, int]]) -> int:
        """One series' samples; returns how many were refused (NaN, not a count)."""
        outcomes = self.ingest.outcomes
        before = outcomes[Outcome.NOT_A_NUMBER] + outcomes[Outcome.NOT_A_COUNT]
        key = series_key(labels)
        if not self.ingest.routes(key):
            self.metrics.samples.labels("unmatched").inc(len(samples))
            return 0
        self.ingest.add(key, samples)
        self._dirty = True
        return outcomes[Outcome.NOT_A_NUMBER] + outcomes[Outcome.NOT_A_COUNT] - before

    def _count_outcomes(self) -> None:
        for outcome, n in self.ingest.outcomes.items():
            self.metrics.samples.labels(outcome.value).inc(n)
        self.ingest.outcomes.clear()

    def _report_held(self) -> None:
        held = self.ingest.threshold_problems()
        for slo_id, reason in held.items():
            if self._held.get(slo_id) != reason:
                log.error("SLO %s: latency SLI held, no events published: %s", slo_id, reason)
            self.metrics.held.labels(slo_id).set(1)
        for slo_id in self._held.keys() - held.keys():
            log.info("SLO %s: latency SLI threshold found among the bucket boundaries", slo_id)
            self.metrics.held.labels(slo_id).set(0)
        self._held = held

    async def flush(self) -> None:
        """Sums since the last flush -> events; state file; publish (pending ones too)."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        started = time.perf_counter()
        self._count_outcomes()
        intervals = self.ingest.drain()
        self._report_held()
        if intervals:
            st = self.state
            st.flush += 1
            for n, iv in enumerate(intervals):
                event_id = f"{st.run}:{st.flush}:{n}"
                st.pending.append((iv.slo_id, encode_event(iv.slo_id, iv.ts_ms / 1000, iv.good, iv.total, event_id)))
        if intervals or self._dirty:
            self.state.carry = self.ingest.sums.carry
            data = state_file.dump(self.state)  # a consistent snapshot: nothing else runs until the next await
            self._dirty = False
            await asyncio.to_thread(state_file.save, self.state_path, data)
        self.metrics.series.set(len(self.state.series))
        await self._publish()
        self.metrics.flush_s.observe(time.perf_counter() - started)

    async def _publish(self) -> None:
        batch = list(self.state.pending)
        if not batch or self.producer is None:
            return
        try:
            sent = [await self.producer.send(self.topic, raw, key=slo_id.encode()) for slo_id, raw in batch]
            await asyncio.gather(*sent)
        except KafkaError as exc:
            self.metrics.publish_errors.inc()
            if not self._publish_failing:
                log.warning("Kafka did not take %d events (kept, retried every flush): %r", len(batch), exc)
            self._publish_failing = True
        else:
            del self.state.pending[: len(batch)]
            self._dirty = True  # the next flush saves the state without them
            self.metrics.events.inc(len(batch))
            if self._publish_failing:
                log.info("publishing again: %d events delivered", len(batch))
            self._publish_failing = False
        self._flushing = asyncio.Lock()
        self.metrics.pending.set(len(self.state.pending))

    def follow(self, slos: dict[str, SLO]) -> Callable[[str, SLO | None], None]:
        """The definitions feed's callback: SLOs created, changed or deleted through the API
        are fed (or no longer) from the next sample on."""

        def on_change(slo_id: str, slo: SLO | None) -> None:
            before = slo_id in self.ingest.slis
            if slo is None:
                slos.pop(slo_id, None)
            else:
                slos[slo_id] = slo
            slis = counter_slis(slos.values())
            if slis.get(slo_id) != self.ingest.slis.get(slo_id):
                self.ingest.update(slis)
                self._dirty = True
                log.info("SLO %s: %s", slo_id, "fed by the bridge" if slo_id in slis else "no longer fed by the bridge")
            elif before and slo_id not in slis:
                self.ingest.update(slis)

        return on_change

    async def run_flusher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.flush_interval_s)
            await self.flush()

    async def close(self) -> None:
        """A last flush, then the producer stops; pending events stay in the state file."""
        try:
            await self.flush()
        finally:
            if self.producer is not None:
                await self.producer.stop()
