"""Counter deltas per series, and their sums per SLO: what the Prometheus bridge computes.

Pure: samples in (series, time in ms, value), good/total intervals out; no clock, no I/O.

- The first sample of a series is its baseline (no delta).
- A value below the previous one is a reset: the new value counts from zero.
- A sample not later than the series' last one (out of order, duplicate) is ignored.
- No extrapolation: over any run of samples the deltas sum to the raw increase.

Good and total (or bad and total) series may arrive in different requests, so an
interval may hold numerator counts whose total has not arrived yet: the excess is
carried to the next interval, never published as good > total.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

SeriesKey = tuple[tuple[str, str], ...]  # sorted (name, value) label pairs


class Outcome(StrEnum):
    BASELINE = "baseline"
    DELTA = "delta"
    RESET = "reset"
    OUT_OF_ORDER = "out_of_order"  # also duplicates: not later than the series' last sample
    NOT_A_NUMBER = "nan"
    NOT_A_COUNT = "not_a_count"  # infinite, negative or fractional: not a count of events


def series_key(labels: Iterable[tuple[str, str]]) -> SeriesKey:
    return tuple(sorted(labels))


class CounterDeltas:
    """The last (value, time ms) of every series; `observe` gives a sample's delta."""

    __slots__ = ("last",)

    def __init__(self, last: dict[SeriesKey, tuple[float, int]] | None = None) -> None:
        self.last: dict[SeriesKey, tuple[float, int]] = {} if last is None else last

    def observe(self, key: SeriesKey, ts_ms: int, value: float) -> tuple[Outcome, int]:
        if math.isnan(value):
            return Outcome.NOT_A_NUMBER, 0
        if not (0 <= value < math.inf and value.is_integer()):
            return Outcome.NOT_A_COUNT, 0
        previous = self.last.get(key)
        if previous is None:
            self.last[key] = (value, ts_ms)
            return Outcome.BASELINE, 0
        last_value, last_ts_ms = previous
        if ts_ms <= last_ts_ms:
            return Outcome.OUT_OF_ORDER, 0
        self.last[key] = (value, ts_ms)
        if value < last_value:
            return Outcome.RESET, int(value)
        return Outcome.DELTA, int(value - last_value)


@dataclass(frozen=True, slots=True)
class Interval:
    """Counts for one SLO, ending at `ts_ms` (the latest sample time that contributed)."""

    slo_id: str
    ts_ms: int
    good: int
    total: int


class SloSums:
    """Deltas summed per SLO and per second of sample time, drained into intervals.

    `numerator[slo_id]` says whether the SLO counts good or bad events besides total;
    `carry` holds numerator counts not yet matched by total counts (kept across drains).
    """

    __slots__ = ("_pending", "carry", "numerator")

    def __init__(self, numerator: dict[str, Literal["good", "bad"]], carry: dict[str, int] | None = None) -> None:
        self.numerator = numerator
        self.carry: dict[str, int] = {} if carry is None else carry
        # slo_id -> second -> [numerator, total, latest ts_ms]
        self._pending: dict[str, dict[int, list[int]]] = {}

    def add(self, slo_id: str, role: Literal["good", "bad", "total"], ts_ms: int, delta: int) -> None:
        groups = self._pending.setdefault(slo_id, {})
        group = groups.get(ts_ms // 1000)
        if group is None:
            group = groups[ts_ms // 1000] = [0, 0, ts_ms]
        group[1 if role == "total" else 0] += delta
        if ts_ms > group[2]:
            group[2] = ts_ms

    def forget(self, slo_ids: Iterable[str]) -> None:
        """Drop the undrained counts and the carry of these SLOs (their definition changed)."""
        for slo_id in slo_ids:
            self._pending.pop(slo_id, None)
            self.carry.pop(slo_id, None)

    def drain(self) -> list[Interval]:
        """The intervals summed since the last drain, oldest first per SLO; numerator counts
        beyond the total go to the carry (and are added to the next interval's)."""
        out: list[Interval] = []
        for slo_id, groups in self._pending.items():
            carry = self.carry.get(slo_id, 0)
            for second in sorted(groups):
                num, total, ts_ms = groups[second]
                num += carry
                emitted = min(num, total)
                carry = num - emitted
                good = emitted if self.numerator[slo_id] == "good" else total - emitted
                out.append(Interval(slo_id, ts_ms, good, total))
            if carry:
                self.carry[slo_id] = carry
            else:
                self.carry.pop(slo_id, None)
        self._pending = {}
        return out
