"""The live event hub: status and alert events fanned out to SSE, WebSocket and GraphQL clients.

A tail (app/stream/events_tail.py) reads the status and alerts topics of every partition,
so any worker streams every SLO's events, and hands each record here with its place in
the topic. The hub never blocks that tail: each subscriber has a bounded queue, and one
that falls behind is cut off with a `reset` (it reconnects and resumes).

Resume: an event's id is the hub's position after it, one next-offset per partition of
both topics (`s0=12,s1=40,a0=3`): Kafka offsets, so an id from one worker means the same
on another. The hub keeps the last `buffer_size` events; a client that comes back with
`Last-Event-ID` gets every buffered event past that position, or a `reset` when some of
them are no longer held (it then reloads what it shows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

Kind = Literal["s", "a"]  # the status topic, the alerts topic
STATUS_EVENT = "slo_status_updated"
ALERT_EVENT = "slo_alert"
RESET_EVENT = "reset"
EVENT_TYPES = (STATUS_EVENT, ALERT_EVENT)
SUBSCRIBER_QUEUE = 1000
TIMELINE_PER_SLO = 50
Slot = tuple[str, int]  # (kind, partition)


class BadEventId(ValueError):
    """A Last-Event-ID that is not one of ours."""


@dataclass(frozen=True, slots=True)
class HubEvent:
    """One published event: its type, whom it concerns, its JSON as published, and its id."""

    event_type: str
    slo_id: str
    service_name: str
    data: bytes
    event_id: str
    slot: Slot
    offset: int


@dataclass(frozen=True, slots=True)
class Filter:
    slo_ids: frozenset[str] = frozenset()
    service_names: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()

    def admits(self, event: HubEvent) -> bool:
        if event.event_type == RESET_EVENT:
            return True
        return (
            (not self.slo_ids or event.slo_id in self.slo_ids)
            and (not self.service_names or event.service_name in self.service_names)
            and (not self.event_types or event.event_type in self.event_types)
        )


def format_position(position: dict[Slot, int]) -> str:
    return ",".join(f"{kind}{partition}={offset}" for (kind, partition), offset in sorted(position.items()))


def parse_position(text: str) -> dict[Slot, int]:
    out: dict[Slot, int] = {}
    for part in filter(None, text.split(",")):
        slot, _, offset = part.partition("=")
        if len(slot) < 2 or slot[0] not in "sa" or not slot[1:].isdigit() or not offset.isdigit():
            raise BadEventId(f"not an event id of this stream: {text[:100]!r}")
        out[(slot[0], int(slot[1:]))] = int(offset)
    return out


@dataclass(eq=False)  # hashed by identity: kept in a set
class Subscription:
    filter: Filter
    queue: asyncio.Queue[HubEvent] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    cut_off: bool = False


class EventHub:
    def __init__(self, buffer_size: int = 10_000) -> None:
        self.buffer: deque[HubEvent] = deque(maxlen=max(1, buffer_size))
        self.position: dict[Slot, int] = {}  # next offset per slot
        self.floor: dict[Slot, int] = {}  # from this offset on, every event of the slot is held
        self.subscribers: set[Subscription] = set()
        self.timelines: dict[str, deque[bytes]] = {}  # slo_id -> its latest alert events (JSON)
        self.latest_status: dict[str, bytes] = {}  # slo_id -> its latest status event seen (JSON)
        self.published = 0
        self.cut_offs = 0
        self.started = asyncio.Event()

    def start_at(self, position: dict[Slot, int]) -> None:
        """Where the tail starts streaming: every slot's next offset."""
        self.position.update(position)
        for slot, offset in position.items():
            self.floor.setdefault(slot, offset)
        self.started.set()

    def remember_alert(self, slo_id: str, data: bytes) -> None:
        """An alert event for the SLO's timeline only (read before the tail's start)."""
        timeline = self.timelines.get(slo_id)
        if timeline is None:
            timeline = self.timelines[slo_id] = deque(maxlen=TIMELINE_PER_SLO)
        timeline.append(data)

    def remember_status(self, slo_id: str, data: bytes) -> None:
        """A status event for the SLO's latest figures only (read before the tail's start)."""
        self.latest_status[slo_id] = data

    def forget(self, slo_id: str) -> None:
        self.timelines.pop(slo_id, None)
        self.latest_status.pop(slo_id, None)

    def timeline(self, slo_id: str) -> list[bytes]:
        """The SLO's latest alert events, newest first."""
        return list(reversed(self.timelines.get(slo_id, ())))

    def publish(
        self, kind: Kind, partition: int, offset: int, event_type: str, slo_id: str, service_name: str, data: bytes
    ) -> None:
        slot = (kind, partition)
        self.floor.setdefault(slot, offset)
        self.position[slot] = offset + 1
        event = HubEvent(event_type, slo_id, service_name, data, format_position(self.position), slot, offset)
        if len(self.buffer) == self.buffer.maxlen:
            oldest = self.buffer[0]
            self.floor[oldest.slot] = max(self.floor.get(oldest.slot, 0), oldest.offset + 1)
        self.buffer.append(event)
        if event_type == ALERT_EVENT:
            self.remember_alert(slo_id, data)
        else:
            self.remember_status(slo_id, data)
        self.published += 1
        for sub in list(self.subscribers):
            if sub.cut_off or not sub.filter.admits(event):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._cut_off(sub)

    def _cut_off(self, sub: Subscription) -> None:
        """A subscriber that fell behind: its queue is replaced by a lone reset."""
        sub.cut_off = True
        self.cut_offs += 1
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(self._reset("the client fell behind the stream"))
        log.warning("event stream: a subscriber fell %d events behind and was cut off", SUBSCRIBER_QUEUE)

    def _reset(self, why: str) -> HubEvent:
        data = b'{"event_type":"reset","reason":"' + why.encode() + b'"}'
        return HubEvent(RESET_EVENT, "", "", data, format_position(self.position), ("s", -1), -1)

    def since(self, last_event_id: str | None, flt: Filter) -> list[HubEvent]:
        """What a client that saw up to `last_event_id` missed (a lone reset when some of
        it is no longer held); nothing without an id."""
        if not last_event_id:
            return []
        seen = parse_position(last_event_id)
        for slot, floor in self.floor.items():
            if seen.get(slot, 0) < floor:
                return [self._reset("events since Last-Event-ID are no longer held")]
        return [e for e in self.buffer if e.offset >= seen.get(e.slot, 0) and flt.admits(e)]

    @contextlib.asynccontextmanager
    async def subscribe(self, flt: Filter, last_event_id: str | None = None) -> AsyncIterator[Subscription]:
        """A subscription with what the client missed already queued; removed on exit."""
        sub = Subscription(flt)
        missed = self.since(last_event_id, flt)
        sub.queue = asyncio.Queue(max(SUBSCRIBER_QUEUE, len(missed) + SUBSCRIBER_QUEUE))
        for event in missed:
            sub.queue.put_nowait(event)
        self.subscribers.add(sub)
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)


def make_filter(slo_ids: Iterable[str], service_names: Iterable[str], event_types: Iterable[str]) -> Filter:
    return Filter(frozenset(slo_ids), frozenset(service_names), frozenset(event_types))
