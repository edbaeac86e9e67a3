"""Duplicate events: an `event_id` accepted for an SLO is not applied again within a horizon.

The horizon runs on processing time (the `now` the caller passes), as the
contract says. Each id remembers the input offset it was accepted at, so the
same record read again after a crash (same offset) is not a duplicate: the
changelog guard decides whether it still needs counting. Ids are kept in
segments, one per batch that accepted some, so the changelog writes each id
once and deletes a whole segment when its newest id leaves the horizon.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from app.core.windows import HOUR_US

DEFAULT_DEDUP_HORIZON_US = HOUR_US

Seen = tuple[int, int]  # (accepted at, input offset; -1 when there is none)


@dataclass(slots=True)
class Segment:
    """Ids accepted together (one batch): the unit the changelog writes and deletes."""

    newest_us: int
    ids: dict[str, Seen] = field(default_factory=dict)


@dataclass(slots=True)
class DedupWindow:
    seen: dict[str, Seen] = field(default_factory=dict)
    segments: dict[int, Segment] = field(default_factory=dict)  # segment number -> ids
    fresh: Segment | None = None  # ids accepted since the last drain
    next_segment: int = 0

    def is_duplicate(self, event_id: str, offset: int, now_us: int, horizon_us: int) -> bool:
        hit = self.seen.get(event_id)
        if hit is None or now_us - hit[0] >= horizon_us:
            return False
        return not (offset >= 0 and hit[1] == offset)  # the same record read again is not a duplicate

    def remember(self, event_id: str, offset: int, now_us: int, persist: bool = True) -> None:
        """Remember an accepted id; `persist` also queues it for the changelog."""
        self.seen[event_id] = (now_us, offset)
        if not persist:
            return
        if self.fresh is None:
            self.fresh = Segment(now_us)
        self.fresh.ids[event_id] = (now_us, offset)
        self.fresh.newest_us = max(self.fresh.newest_us, now_us)

    def take_fresh(self) -> tuple[int, Segment] | None:
        """The ids accepted since the last call, as a new numbered segment."""
        fresh, self.fresh = self.fresh, None
        if fresh is None:
            return None
        number = self.next_segment
        self.next_segment += 1
        self.segments[number] = fresh
        return number, fresh

    def expire(self, now_us: int, horizon_us: int) -> Iterator[int]:
        """Forget the segments whose every id left the horizon; yields their numbers."""
        for number in [n for n, s in self.segments.items() if now_us - s.newest_us >= horizon_us]:
            for event_id, seen in self.segments.pop(number).ids.items():
                if self.seen.get(event_id) == seen:
                    del self.seen[event_id]
            yield number

    def restore(self, number: int, segment: Segment) -> None:
        self.segments[number] = segment
        self.next_segment = max(self.next_segment, number + 1)
        for event_id, seen in segment.ids.items():
            if seen[0] >= self.seen.get(event_id, (-1, -1))[0]:
                self.seen[event_id] = seen
