"""Duplicate events: an `event_id` accepted for an SLO is not applied again within a horizon.

The horizon runs on processing time (the `now` the caller passes), as the
contract says. Each id remembers the input offset it was accepted at, so the
same record read again after a crash (same offset) is not a duplicate: the
changelog guard decides whether it still needs counting.

Ids are grouped in segments of SEGMENT_US of processing time. The changelog
writes each id once: the ids accepted since the last drain are one *chunk*
record of their segment (`d<segment>.<chunk>`), and a segment's chunks are
deleted together once its newest id has left the horizon. Segments are kept in
time order, so expiring looks at the oldest ones only, however many there are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from app.core.windows import HOUR_US, MINUTE_US

DEFAULT_DEDUP_HORIZON_US = HOUR_US
SEGMENT_US = MINUTE_US

Seen = tuple[int, int]  # (accepted at, input offset; -1 when there is none)


@dataclass(slots=True)
class Segment:
    """Ids accepted within one SEGMENT_US of processing time."""

    newest_us: int
    ids: list[str] = field(default_factory=list)  # their times and offsets are in DedupWindow.seen
    chunks: int = 0  # chunk records written (or recovered): keys d<number>.0 .. d<number>.<chunks-1>


@dataclass(frozen=True, slots=True)
class Chunk:
    """Ids accepted since the last drain, in one segment: one changelog record."""

    number: int
    index: int
    newest_us: int
    ids: dict[str, Seen]


@dataclass(slots=True)
class DedupWindow:
    seen: dict[str, Seen] = field(default_factory=dict)
    segments: dict[int, Segment] = field(default_factory=dict)  # segment number -> ids, oldest first
    fresh: dict[int, list[str]] = field(default_factory=dict)  # ids not yet drained, per segment

    def is_duplicate(self, event_id: str, offset: int, now_us: int, horizon_us: int) -> bool:
        hit = self.seen.get(event_id)
        if hit is None or now_us - hit[0] >= horizon_us:
            return False
        return not (offset >= 0 and hit[1] == offset)  # the same record read again is not a duplicate

    def remember(self, event_id: str, offset: int, now_us: int, persist: bool = True) -> None:
        """Remember an accepted id; `persist` also queues it for the changelog."""
        seen = (now_us, offset)
        self.seen[event_id] = seen
        number = now_us // SEGMENT_US
        segment = self.segments.get(number)
        if segment is None:
            segment = self._segment(number, now_us)
        segment.ids.append(event_id)
        segment.newest_us = max(segment.newest_us, now_us)
        if persist:
            fresh = self.fresh.get(number)
            if fresh is None:
                fresh = self.fresh[number] = []
            fresh.append(event_id)

    def take_fresh(self) -> list[Chunk]:
        """The ids remembered since the last call, as the next chunk of their segment."""
        chunks = []
        seen = self.seen
        for number, fresh in self.fresh.items():
            segment = self.segments[number]
            ids = {i: seen[i] for i in fresh}
            chunks.append(Chunk(number, segment.chunks, max(at for at, _ in ids.values()), ids))
            segment.chunks += 1
        self.fresh = {}
        return chunks

    def expire(self, now_us: int, horizon_us: int) -> Iterator[tuple[int, int]]:
        """Forget the segments whose every id left the horizon, oldest first; yields
        (segment number, chunks written) of each."""
        while self.segments:
            number, segment = next(iter(self.segments.items()))
            if now_us - segment.newest_us < horizon_us:
                return
            del self.segments[number]
            self.fresh.pop(number, None)
            for event_id in segment.ids:
                seen = self.seen.get(event_id)
                if seen is not None and now_us - seen[0] >= horizon_us:  # not accepted again since
                    del self.seen[event_id]
            yield number, segment.chunks

    def restore(self, number: int, index: int, newest_us: int, ids: dict[str, Seen]) -> None:
        """A chunk read back from the changelog."""
        segment = self.segments.get(number)
        if segment is None:
            segment = self._segment(number, newest_us)
        segment.ids.extend(ids)
        segment.newest_us = max(segment.newest_us, newest_us)
        segment.chunks = max(segment.chunks, index + 1)
        for event_id, seen in ids.items():
            if seen[0] >= self.seen.get(event_id, (-1, -1))[0]:
                self.seen[event_id] = seen

    def _segment(self, number: int, newest_us: int) -> Segment:
        segment = self.segments[number] = Segment(newest_us)
        if len(self.segments) > 1 and number < max(self.segments):  # keep time order (rare: recovery)
            self.segments = dict(sorted(self.segments.items()))
        return segment
