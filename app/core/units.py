"""A collection of SLO units: what replay, a worker's partition and the API hold.

`offer` is the whole acceptance path of one event (definition, time range,
duplicate id) followed by counting it; a refusal comes back as a verdict, never
as an exception, so a caller decides what a refusal costs. With `track=True`
(the worker) every change is remembered as changelog parts, drained with
`drain_records()` and rebuilt by `recover()`: see app/core/changelog for why
replaying input after a crash neither loses nor double-counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import msgspec

from app.core.acceptance import DEFAULT_MAX_SKEW_US, AcceptanceRange, Verdict, acceptance_range, definition_verdict
from app.core.alerts import Condition, Transition, book_of, book_value
from app.core.changelog import CALENDAR_PARTS, RING_PARTS, Part, part_value, restore
from app.core.dedup import DEFAULT_DEDUP_HORIZON_US
from app.core.enums import RejectReason, TimePeriod
from app.core.evaluation import Objective, SloEvaluation
from app.core.state import WindowState
from app.core.unit import META, SloUnit, StatusKey

KEY_SEP = "|"  # slo_id cannot contain it (see the SLO model's pattern)
DEDUP_PREFIX = "d"  # dedup chunk parts: d<segment>.<chunk>


def dedup_part(number: int, index: int) -> Part:
    return f"{DEDUP_PREFIX}{number}.{index}"


def dedup_chunk_of(part: Part) -> tuple[int, int]:
    """(segment, chunk) of a dedup part; a part written before chunks (`d<n>`) is chunk 0."""
    number, _, index = part[len(DEDUP_PREFIX) :].partition(".")
    return int(number), int(index or 0)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

Record = tuple[bytes, bytes | None]  # changelog (key, value); None deletes the key


class EventLike(Protocol):
    @property
    def ts_us(self) -> int: ...
    @property
    def good(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def event_id(self) -> str | None: ...


def record_key(slo_id: str, part: Part) -> bytes:
    return f"{slo_id}{KEY_SEP}{part}".encode()


def split_key(key: bytes) -> tuple[str, Part]:
    slo_id, _, part = key.decode().rpartition(KEY_SEP)
    return slo_id, part


class SloUnits:
    def __init__(
        self,
        max_skew_us: int = DEFAULT_MAX_SKEW_US,
        dedup_horizon_us: int = DEFAULT_DEDUP_HORIZON_US,
        track: bool = False,
    ) -> None:
        self.max_skew_us = max_skew_us
        self.dedup_horizon_us = dedup_horizon_us
        self.track = track
        self.units: dict[str, SloUnit] = {}
        self._dirty: set[str] = set()
        self._ranges: dict[TimePeriod, AcceptanceRange] = {}
        self._ranges_now = -1

    def __contains__(self, slo_id: object) -> bool:
        return slo_id in self.units

    def get(self, slo_id: str) -> SloUnit | None:
        return self.units.get(slo_id)

    def unit(self, objective: Objective, now_us: int) -> SloUnit:
        """The SLO's unit (created empty at `now_us`), holding this objective."""
        unit = self.units.get(objective.slo_id)
        if unit is None:
            unit = self.units[objective.slo_id] = SloUnit(objective, WindowState(now_us))
        elif unit.objective is not objective:
            unit.objective = objective
        return unit

    def acceptance(self, period: TimePeriod, now_us: int) -> AcceptanceRange:
        """One acceptance range per period per instant (a batch shares one)."""
        if now_us != self._ranges_now:
            self._ranges, self._ranges_now = {}, now_us
        window = self._ranges.get(period)
        if window is None:
            window = self._ranges[period] = acceptance_range(now_us, period, self.max_skew_us)
        return window

    # -- events ------------------------------------------------------------------
    def offer(self, objective: Objective | None, event: EventLike, now_us: int, offset: int = -1) -> Verdict:
        """Accept and count one event at processing time `now_us` (input `offset`, -1
        without one), or say why not. `objective` None: no such SLO."""
        verdict = definition_verdict(objective is not None, objective is not None and objective.enabled)
        if verdict is not None or objective is None:
            return verdict
        verdict = self.acceptance(objective.time_period, now_us).verdict(event.ts_us)
        if verdict is not None:
            return verdict
        unit = self.unit(objective, now_us)
        event_id = event.event_id
        if event_id is not None and self.dedup_horizon_us > 0:  # a horizon of 0 turns dedup off
            dedup = unit.ids()
            if dedup.is_duplicate(event_id, offset, now_us, self.dedup_horizon_us):
                return RejectReason.DUPLICATE_EVENT
            dedup.remember(event_id, offset, now_us, self.track)
        unit.count(event.ts_us, event.good, event.total, offset, now_us, self.track)
        if self.track:
            self._dirty.add(objective.slo_id)
        return None

    def evaluate(self, objective: Objective, now_us: int) -> SloEvaluation:
        """The SLO's figures at `now_us`; an SLO with no unit yet (no data) is evaluated
        empty, without creating one (a read changes nothing)."""
        unit = self.units.get(objective.slo_id)
        if unit is None:
            return SloUnit(objective, WindowState(now_us)).evaluate(now_us)
        if unit.objective is not objective:
            unit.objective = objective
        return unit.evaluate(now_us)

    # -- alerts and publication -----------------------------------------------------
    def step_alerts(
        self, slo_id: str, now: Sequence[Condition], now_us: int, period_start_us: int | None = None
    ) -> list[Transition]:
        """Advance the SLO's alert state machines; a transition is persisted (META)
        with the records of the batch that publishes it."""
        transitions = self.units[slo_id].step_alerts(now, now_us, period_start_us)
        if transitions:
            self._touch(slo_id)
        return transitions

    def step_report(self, slo_id: str, report: SloEvaluation) -> list[Transition]:
        """Advance the SLO's alert state machines to what `report` found."""
        return self.step_alerts(slo_id, report.conditions, report.now_us, report.calendar_start_us)

    def retire_alerts(self, slo_id: str, now_us: int) -> list[Transition]:
        """The SLO was deleted or disabled: every open episode ends now. Its last
        published status is forgotten, so re-enabling it publishes (and fires) afresh."""
        transitions = self.step_alerts(slo_id, [], now_us)
        self.units[slo_id].last_status = None
        self._touch(slo_id)
        return transitions

    def mark_published(self, slo_id: str, seq: int, status: StatusKey) -> None:
        unit = self.units[slo_id]
        unit.seq = seq
        unit.last_status = status
        self._touch(slo_id)

    def remember_firing(self, slo_id: str, rule: str, event: Any) -> None:
        self.units[slo_id].firing_events[rule] = event

    def pop_firing(self, slo_id: str, rule: str) -> Any | None:
        return self.units[slo_id].firing_events.pop(rule, None)

    def _touch(self, slo_id: str) -> None:
        if self.track:
            self.units[slo_id].touch()
            self._dirty.add(slo_id)

    # -- the changelog -------------------------------------------------------------
    def expire(self, now_us: int) -> None:
        """Let dedup ids older than the horizon go (their segments are deleted at the next drain)."""
        for slo_id, unit in self.units.items():
            if unit.dedup is None or not unit.dedup.segments:
                continue
            gone = list(unit.dedup.expire(now_us, self.dedup_horizon_us))
            if gone and self.track:
                unit.expired.extend(dedup_part(n, c) for n, chunks in gone for c in range(chunks))
                self._dirty.add(slo_id)

    def drain_meta(self) -> list[Record]:
        """The META records (sequence, published status, alert book) changed since the
        last drain, without the count parts: the worker writes these with every batch,
        so a replacement never publishes a sequence number below one already published,
        and the count parts (most of the bytes) once per commit (`drain_records`)."""
        out: list[Record] = []
        for slo_id in self._dirty:
            unit = self.units.get(slo_id)
            if unit is not None and META in unit.dirty:
                out.append((record_key(slo_id, META), _encode(_meta_value(unit, unit.dirty.pop(META)))))
        return out

    def drain_records(self) -> list[Record]:
        """Changelog records for every part changed since the last drain."""
        out: list[Record] = []
        dirty_slos, self._dirty = self._dirty, set()
        for slo_id in dirty_slos:
            unit = self.units.get(slo_id)
            if unit is None:
                continue
            for chunk in unit.dedup.take_fresh() if unit.dedup is not None else ():
                value = [chunk.newest_us, [[i, at, off] for i, (at, off) in chunk.ids.items()]]
                out.append((record_key(slo_id, dedup_part(chunk.number, chunk.index)), _encode(value)))
            out.extend((record_key(slo_id, part), None) for part in unit.expired)
            unit.expired = []
            for part, offset in unit.changed_parts().items():
                if part == META:
                    out.append((record_key(slo_id, part), _encode(_meta_value(unit, offset))))
                else:
                    out.append((record_key(slo_id, part), _encode(part_value(unit.state, part, offset))))
            unit.dirty = {}
        return out

    def purge(self, slo_id: str) -> list[bytes]:
        """Forget a deleted SLO; returns every changelog key it may have written, to
        delete, so that re-creating the id starts from empty windows."""
        unit = self.units.pop(slo_id, None)
        self._dirty.discard(slo_id)
        parts = [*(name for names in RING_PARTS for name in names), *CALENDAR_PARTS, META]
        if unit is not None and unit.dedup is not None:
            parts.extend(dedup_part(n, c) for n, seg in unit.dedup.segments.items() for c in range(seg.chunks))
        return [record_key(slo_id, part) for part in parts]

    @classmethod
    def recover(
        cls,
        objectives: dict[str, Objective],
        records: Iterable[Record],
        now_us: int,
        max_skew_us: int = DEFAULT_MAX_SKEW_US,
        dedup_horizon_us: int = DEFAULT_DEDUP_HORIZON_US,
    ) -> SloUnits:
        """Rebuild from changelog records (the last value per key wins; None = deleted).
        An SLO whose definition is unknown keeps its state under a placeholder objective
        until its definition (or its deletion) arrives."""
        latest: dict[bytes, bytes | None] = {}
        for key, value in records:
            latest[key] = value
        per_slo: dict[str, dict[Part, Any]] = {}
        for key, value in latest.items():
            if value is not None:
                slo_id, part = split_key(key)
                per_slo.setdefault(slo_id, {})[part] = _decode(value)
        units = cls(max_skew_us, dedup_horizon_us, track=True)
        for slo_id, parts in per_slo.items():
            meta = parts.pop(META, {"seq": 0, "now_us": now_us, "offset": -1})
            segments = {p: parts.pop(p) for p in [p for p in parts if p.startswith(DEDUP_PREFIX)]}
            state, guard = restore(max(now_us, meta["now_us"]), parts.items())
            state.last_event_us = meta.get("last_event_us")
            objective = objectives.get(slo_id) or Objective(slo_id, 99.0, TimePeriod.ROLLING_30D, enabled=False)
            unit = units.units[slo_id] = SloUnit(
                objective,
                state,
                book=book_of(meta.get("alerts")),
                seq=meta["seq"],
                # A record from before alerting has no book: forget its status too, so
                # the first evaluation publishes and opens the episodes that hold.
                last_status=_status_of(meta.get("status")) if "alerts" in meta else None,
                firing_events=dict(meta.get("firing_events") or {}),
                guard=guard or None,
                guard_until=max((m.offset for m in guard.values()), default=-1),
            )
            for part, (newest_us, ids) in segments.items():
                number, index = dedup_chunk_of(part)
                unit.ids().restore(number, index, newest_us, {i: (at, off) for i, at, off in ids})
        return units


def _meta_value(unit: SloUnit, offset: int) -> dict[str, Any]:
    status = unit.last_status
    return {
        "seq": unit.seq,
        "now_us": unit.state.now_us,
        "offset": offset,
        "status": None if status is None else [status[0], sorted(status[1])],
        "alerts": book_value(unit.book),
        "firing_events": unit.firing_events,
        "last_event_us": unit.state.last_event_us,
    }


def _status_of(value: list[Any] | None) -> StatusKey | None:
    return None if value is None else (value[0], frozenset(value[1]))
