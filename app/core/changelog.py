"""A window state as changelog parts, so one event rewrites a few bytes, not 40 KiB.

A state is cut into parts, each one record of a compacted changelog topic:
one per ring *slot* (`r<tier>.<slot>` -> [bucket k, good, total, offset]),
one for each calendar sum (`M`, `Q`, `Y` -> [period start, good, total, offset])
and one for metadata. Keying by slot rather than by bucket bounds the key
space (2,280 ring keys per SLO) so compaction keeps the topic small.

Every part records the input offset of the last event counted in it. After a
crash the input is replayed from the last committed offset; an event is
counted again in a part only if its offset is above the part's, so replay
neither loses nor double-counts, even when the crash fell between the
records of one batch. Offsets are of one input partition, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from app.core.ring import LAYOUT, bucket_of
from app.core.state import MONTH as MONTH_INDEX
from app.core.state import QUARTER as QUARTER_INDEX
from app.core.state import YEAR as YEAR_INDEX
from app.core.state import WindowState
from app.core.windows import TIERS

MONTH = "M"
QUARTER = "Q"
YEAR = "Y"
CALENDAR_PARTS = (MONTH, QUARTER, YEAR)  # in the order of WindowState.calendar
CALENDAR_INDEX = {part: i for i, part in enumerate(CALENDAR_PARTS)}
Part = str


def ring_part(tier: int, slot: int) -> Part:
    return f"r{tier}.{slot}"


# Part names are built once: naming is on the per-event path.
RING_PARTS: tuple[tuple[Part, ...], ...] = tuple(
    tuple(ring_part(t, s) for s in range(spec.n_buckets)) for t, spec in enumerate(TIERS)
)
PART_SLOT: dict[Part, tuple[int, int]] = {
    name: (t, s) for t, names in enumerate(RING_PARTS) for s, name in enumerate(names)
}


@dataclass(frozen=True, slots=True)
class PartMark:
    """What a recovered part says it holds: bucket (or period start) and offset."""

    k: int
    offset: int


Guard = dict[Part, PartMark]


FINEST_BUCKET_US = LAYOUT[0][0]  # every tier's buckets are unions of these


def ring_parts_of_bucket(state: WindowState, k0: int) -> Iterator[Part]:
    """The ring parts an event in finest bucket `k0` changes (those still in a ring).

    Bucket edges of every tier are multiples of the finest bucket, so all events of
    one finest bucket change the same ring parts: the per-event path records `k0`
    only, and the parts are listed once per bucket when the changes are drained."""
    heads = state.rings.heads
    ts_us = k0 * FINEST_BUCKET_US
    for t, (names, (bucket_us, n, *_)) in enumerate(zip(RING_PARTS, LAYOUT, strict=True)):
        k = -(-ts_us // bucket_us)
        if heads[t] - k < n:
            yield names[k % n]


def calendar_parts_of(state: WindowState, ts_us: int) -> Iterator[Part]:
    """The calendar parts an event at ts_us changes (periods start inclusive)."""
    for i in (YEAR_INDEX, QUARTER_INDEX, MONTH_INDEX):
        if ts_us < state.calendar[i].start_us:
            break
        yield CALENDAR_PARTS[i]


def add_guarded(state: WindowState, ts_us: int, good: int, total: int, offset: int, guard: Guard) -> None:
    """Count an event (ts <= now) in each part whose recovered record does not hold it yet."""
    state.last_event_us = state.now_us  # received now, whether or not replay counts it again
    for ti, (bucket_us, n, *_) in enumerate(LAYOUT):
        k = bucket_of(ts_us, bucket_us)
        mark = guard.get(ring_part(ti, k % n))
        if mark is None or mark.k != k or offset > mark.offset:
            state.rings.add(ts_us, good, total, (ti,))
    sums = state.calendar_sums
    for i, part in enumerate(CALENDAR_PARTS):
        start_us = state.calendar[i].start_us
        mark = guard.get(part)
        if ts_us >= start_us and (mark is None or mark.k != start_us or offset > mark.offset):
            sums[2 * i] += good
            sums[2 * i + 1] += total


def part_value(state: WindowState, part: Part, offset: int) -> list[int]:
    """The record value of a part as the state holds it now."""
    if part in CALENDAR_INDEX:
        i = CALENDAR_INDEX[part]
        return [state.calendar[i].start_us, *state.calendar_sums_of(i), offset]
    tier, slot = PART_SLOT[part]
    ring = state.rings.view(tier)
    return [ring.bucket_at(slot), *ring.bucket(slot), offset]


def restore(now_us: int, parts: Iterable[tuple[Part, list[int]]]) -> tuple[WindowState, Guard]:
    """Rebuild a state at now_us from its recovered parts; returns it and the replay guard."""
    state = WindowState(now_us)
    guard: Guard = {}
    for part, (k, good, total, offset) in parts:
        if part in CALENDAR_INDEX:
            i = CALENDAR_INDEX[part]
            if k == state.calendar[i].start_us:
                state.calendar_sums[2 * i], state.calendar_sums[2 * i + 1] = good, total
        else:
            tier, _slot = PART_SLOT[part]
            state.rings.set_bucket(tier, k, good, total)
        guard[part] = PartMark(k, offset)
    state.rings.rebuild_sums()
    return state, guard
