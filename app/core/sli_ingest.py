"""Samples of Prometheus series in, good/total intervals per SLO out (the bridge's pure part).

`SliIngest` routes each series to the SLOs whose selectors match it (cached per series),
turns its samples into counter deltas once, adds them to every SLO that counts it, and
keeps per-outcome counts. A latency SLI whose threshold is not a bucket boundary of the
series seen is held (no intervals) and named by `threshold_problems`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.core.counters import CounterDeltas, Interval, Outcome, SeriesKey, SloSums
from app.core.promql import CounterSli, Role, Selector, le_value

Route = tuple[str, Role]
MAX_CACHED_SERIES = 1_000_000


@dataclass(frozen=True, slots=True)
class _Entry:
    slo_id: str
    role: Role
    selector: Selector


class SliIngest:
    def __init__(
        self,
        slis: Mapping[str, CounterSli],
        last: dict[SeriesKey, tuple[float, int]] | None = None,
        carry: dict[str, int] | None = None,
    ) -> None:
        self.deltas = CounterDeltas(last)
        self.sums = SloSums({}, carry)
        self.outcomes: Counter[Outcome] = Counter()
        self.boundaries: dict[str, set[float]] = {}
        self.update(slis)

    def update(self, slis: Mapping[str, CounterSli]) -> None:
        """Another set of SLOs (definitions changed): routes are rebuilt; series keep their last
        values; counts not yet drained and carries of SLOs that are gone or changed are dropped."""
        old = getattr(self, "slis", {})
        changed = {slo_id for slo_id in old.keys() | slis.keys() if old.get(slo_id) != slis.get(slo_id)}
        self.slis = dict(slis)
        self.sums.numerator = {slo_id: sli.numerator for slo_id, sli in slis.items()}
        self.sums.forget(changed)
        self._by_metric: dict[str | None, list[_Entry]] = {}
        self._families: list[tuple[str, Selector]] = []  # histogram SLOs: buckets of any `le`
        boundaries = self.boundaries
        self.boundaries = {}
        for slo_id, sli in slis.items():
            for role, selector in sli.selectors():
                self._by_metric.setdefault(selector.metric, []).append(_Entry(slo_id, role, selector))
            if sli.numerator_selector.le is not None:
                self._families.append((slo_id, Selector(sli.numerator_selector.matchers)))
                self.boundaries[slo_id] = set() if slo_id in changed else boundaries.get(slo_id, set())
        self._routes: dict[SeriesKey, tuple[Route, ...]] = {}
        if changed and old:
            for key in [k for k in self.deltas.last if not self.routes(k)]:
                del self.deltas.last[key]  # a series no SLO counts any more

    def routes(self, key: SeriesKey) -> tuple[Route, ...]:
        """The (slo_id, role) pairs a series counts for (empty: a series no SLO uses)."""
        found = self._routes.get(key)
        if found is not None:
            return found
        labels = dict(key)
        metric = labels.get("__name__")
        candidates = self._by_metric.get(metric, []) + (self._by_metric.get(None, []) if metric is not None else [])
        found = tuple((e.slo_id, e.role) for e in candidates if e.selector.matches(labels))
        for slo_id, family in self._families:
            if family.matches(labels):
                le = le_value(labels.get("le", ""))
                if le is not None:
                    self.boundaries[slo_id].add(le)
        if len(self._routes) >= MAX_CACHED_SERIES:
            self._routes.clear()
        self._routes[key] = found
        return found

    def add(self, key: SeriesKey, samples: Iterable[tuple[float, int]]) -> None:
        """Samples (value, time ms) of one series, in any order."""
        routes = self.routes(key)
        if not routes:
            return
        observe, add, outcomes = self.deltas.observe, self.sums.add, self.outcomes
        for value, ts_ms in sorted(samples, key=lambda s: s[1]):
            outcome, delta = observe(key, ts_ms, value)
            outcomes[outcome] += 1
            if outcome in (Outcome.BASELINE, Outcome.DELTA, Outcome.RESET):
                for slo_id, role in routes:
                    add(slo_id, role, ts_ms, delta)

    def threshold_problems(self) -> dict[str, str]:
        """Latency SLOs whose threshold is not among the bucket boundaries seen (held back)."""
        problems = {}
        for slo_id, seen in self.boundaries.items():
            threshold = self.slis[slo_id].numerator_selector.le
            if not seen:
                problems[slo_id] = "no bucket series of the histogram seen yet"
            elif threshold not in seen:
                shown = ", ".join(f"{b:g}" for b in sorted(seen))
                problems[slo_id] = f"threshold_s {threshold:g} is not a bucket boundary; boundaries seen: {shown}"
        return problems

    def drain(self) -> list[Interval]:
        """Intervals since the last drain; those of SLOs with a threshold problem are dropped."""
        held = self.threshold_problems()
        return [i for i in self.sums.drain() if i.slo_id not in held]
