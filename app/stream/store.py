"""The SLO states owned by one input partition, and the changelog records they need.

Pure: the worker feeds it decoded events with their input offsets and the wall
clock, then ships `drain_records()` to the changelog topic. `recover` rebuilds
it from the changelog after a crash or a rebalance; the replay guard then
skips, part by part, what the changelog already holds (see app/core/changelog).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.core.acceptance import AcceptanceRange, acceptance_range
from app.core.alerts import AlertBook, Condition, Transition, book_of, book_value, step
from app.core.changelog import (
    MONTH,
    QUARTER,
    RING_PARTS,
    Guard,
    Part,
    add_guarded,
    part_value,
    parts_of_event,
    restore,
)
from app.core.report import Objective, SloReport, evaluate
from app.core.state import WindowState
from app.domain.enums import TimePeriod
from app.domain.events import SliEvent
from app.domain.models import SLO
from app.domain.views import objective_of

META = "meta"
KEY_SEP = "|"  # slo_id cannot contain it (see the SLO model's pattern)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def record_key(slo_id: str, part: Part) -> bytes:
    return f"{slo_id}{KEY_SEP}{part}".encode()


def split_key(key: bytes) -> tuple[str, Part]:
    slo_id, _, part = key.decode().rpartition(KEY_SEP)
    return slo_id, part


@dataclass(slots=True)
class SloRuntime:
    state: WindowState
    seq: int = 0  # sequence of the last status event published
    guard: Guard | None = None  # parts recovered from the changelog, until replay passes them
    guard_until: int = -1  # highest offset in the guard
    dirty: dict[Part, int] = field(default_factory=dict)  # part -> offset of its last event
    # (status, firing rule names) last published; kept in the META record so that a
    # new owner's timer does not republish an unchanged status after a restart or rebalance
    last_status: tuple[str, frozenset[str]] | None = None
    book: AlertBook = field(default_factory=AlertBook)  # open alert episodes (in META: never re-fired)
    firing_events: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule -> its open episode's event


class PartitionStore:
    def __init__(self, partition: int, max_skew_us: int) -> None:
        self.partition = partition
        self.max_skew_us = max_skew_us
        self.slos: dict[str, SloRuntime] = {}
        self._dirty_slos: set[str] = set()
        self._ranges: dict[TimePeriod, AcceptanceRange] = {}
        self._ranges_now = -1
        self._objectives: dict[str, tuple[SLO, Objective]] = {}

    def _objective(self, slo: SLO) -> Objective:
        """The engine's view of a definition, rebuilt only when the definition object
        changes (building one costs ~6 us: exact fractions, rule conversion)."""
        hit = self._objectives.get(slo.slo_id)
        if hit is None or hit[0] is not slo:
            hit = self._objectives[slo.slo_id] = (slo, objective_of(slo))
        return hit[1]

    def _acceptance(self, period: TimePeriod, now_us: int) -> AcceptanceRange:
        """One acceptance range per period per wall-clock instant (a batch shares one)."""
        if now_us != self._ranges_now:
            self._ranges, self._ranges_now = {}, now_us
        window = self._ranges.get(period)
        if window is None:
            window = self._ranges[period] = acceptance_range(now_us, period, self.max_skew_us)
        return window

    def runtime(self, slo_id: str, now_us: int) -> SloRuntime:
        rt = self.slos.get(slo_id)
        if rt is None:
            rt = self.slos[slo_id] = SloRuntime(WindowState(now_us))
        return rt

    def apply(self, slo: SLO, event: SliEvent, offset: int, now_us: int) -> SloRuntime:
        """Count an accepted event at input `offset`; RejectedEvent if it is out of range.

        `now_us` is the wall clock. A timestamp ahead of it (within max skew) moves
        this SLO's evaluation time forward with it, so nothing waits in a buffer."""
        self._acceptance(slo.time_period, now_us).check(event.ts_us)
        rt = self.runtime(slo.slo_id, now_us)
        state = rt.state
        state.advance(max(now_us, event.ts_us))
        if rt.guard is not None and offset <= rt.guard_until:
            add_guarded(state, event.ts_us, event.good, event.total, offset, rt.guard)
        else:
            rt.guard = None
            state.add(event.ts_us, event.good, event.total)
        dirty = rt.dirty
        for part, _k in parts_of_event(state, event.ts_us):
            dirty[part] = offset
        dirty[META] = offset
        self._dirty_slos.add(slo.slo_id)
        return rt

    def evaluate(self, slo: SLO, now_us: int) -> SloReport:
        rt = self.runtime(slo.slo_id, now_us)
        rt.state.advance(now_us)
        return evaluate(self._objective(slo), rt.state)

    def drain_records(self) -> list[tuple[bytes, bytes]]:
        """Changelog records (key, value) for every part changed since the last drain."""
        out = []
        dirty_slos, self._dirty_slos = self._dirty_slos, set()
        for slo_id in dirty_slos:
            rt = self.slos.get(slo_id)
            if rt is None or not rt.dirty:
                continue
            for part, offset in rt.dirty.items():
                if part == META:
                    value: Any = {
                        "seq": rt.seq,
                        "now_us": rt.state.now_us,
                        "offset": offset,
                        "status": _status_value(rt.last_status),
                        "alerts": book_value(rt.book),
                        "firing_events": rt.firing_events,
                        "last_event_us": rt.state.last_event_us,
                    }
                else:
                    value = part_value(rt.state, part, offset)
                out.append((record_key(slo_id, part), _encode(value)))
            rt.dirty = {}
        return out

    def step_alerts(self, slo_id: str, now: Sequence[Condition], now_us: int) -> list[Transition]:
        """Advance the SLO's alert state machines to an evaluation at `now_us` that
        found the `now` conditions; a transition is persisted (META) with the batch
        that publishes it."""
        rt = self.slos[slo_id]
        transitions = step(rt.book, now, now_us)
        if transitions:
            self._touch(slo_id)
        return transitions

    def retire_alerts(self, slo_id: str, now_us: int) -> list[Transition]:
        """The SLO was deleted or disabled: every open episode ends now. Its last
        published status is forgotten, so that re-enabling it publishes (and fires)
        afresh."""
        transitions = self.step_alerts(slo_id, [], now_us)
        self.slos[slo_id].last_status = None
        self._touch(slo_id)
        return transitions

    def remember_firing(self, slo_id: str, rule: str, event: dict[str, Any]) -> None:
        self.slos[slo_id].firing_events[rule] = event

    def pop_firing(self, slo_id: str, rule: str) -> dict[str, Any] | None:
        return self.slos[slo_id].firing_events.pop(rule, None)

    def _touch(self, slo_id: str) -> None:
        rt = self.slos[slo_id]
        rt.dirty[META] = rt.dirty.get(META, -1)
        self._dirty_slos.add(slo_id)

    def purge(self, slo_id: str) -> list[bytes]:
        """Forget a deleted SLO; returns every changelog key it may have written, to
        tombstone, so that re-creating the id starts from empty windows."""
        self.slos.pop(slo_id, None)
        self._dirty_slos.discard(slo_id)
        self._objectives.pop(slo_id, None)
        parts = [*(name for names in RING_PARTS for name in names), MONTH, QUARTER, META]
        return [record_key(slo_id, part) for part in parts]

    def mark_published(self, slo_id: str, seq: int, status: tuple[str, frozenset[str]]) -> None:
        rt = self.slos[slo_id]
        rt.seq = seq
        rt.last_status = status
        rt.dirty[META] = rt.dirty.get(META, -1)  # persist the sequence
        self._dirty_slos.add(slo_id)

    @classmethod
    def recover(
        cls, partition: int, max_skew_us: int, records: Iterable[tuple[bytes, bytes | None]], now_us: int
    ) -> PartitionStore:
        """Rebuild from changelog records (the last value per key wins; None = deleted)."""
        latest: dict[bytes, bytes | None] = {}
        for key, value in records:
            latest[key] = value
        per_slo: dict[str, dict[Part, Any]] = {}
        for key, value in latest.items():
            if value is None:
                continue
            slo_id, part = split_key(key)
            per_slo.setdefault(slo_id, {})[part] = _decode(value)
        store = cls(partition, max_skew_us)
        for slo_id, parts in per_slo.items():
            meta = parts.pop(META, {"seq": 0, "now_us": now_us, "offset": -1})
            state, guard = restore(max(now_us, meta["now_us"]), parts.items())
            state.last_event_us = meta.get("last_event_us")
            guard_until = max((m.offset for m in guard.values()), default=-1)
            store.slos[slo_id] = SloRuntime(
                state,
                seq=meta["seq"],
                guard=guard or None,
                guard_until=guard_until,
                # A record from before alerting has no book: forget its status too, so
                # the first evaluation publishes and opens the episodes that hold.
                last_status=_status_of(meta.get("status")) if "alerts" in meta else None,
                book=book_of(meta.get("alerts")),
                firing_events=dict(meta.get("firing_events") or {}),
            )
        return store


def _status_value(status: tuple[str, frozenset[str]] | None) -> list[Any] | None:
    """The last published (status, firing rule names), as the META record stores it."""
    return None if status is None else [status[0], sorted(status[1])]


def _status_of(value: list[Any] | None) -> tuple[str, frozenset[str]] | None:
    return None if value is None else (value[0], frozenset(value[1]))
