"""The live event hub (app/api/hub.py): filters, ids that are Kafka positions, resume from
Last-Event-ID (exactly the events missed, or a reset when some are no longer held), and a
subscriber that falls behind cut off without blocking the publisher."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine

import pytest

from app.api.hub import (
    ALERT_EVENT,
    RESET_EVENT,
    STATUS_EVENT,
    SUBSCRIBER_QUEUE,
    BadEventId,
    EventHub,
    Filter,
    make_filter,
    parse_position,
)


def in_loop(fn: Callable[[], Coroutine[object, object, None]]) -> Callable[[], None]:
    """A test run in its own event loop (the hub's queues need one)."""

    def test() -> None:
        asyncio.run(fn())

    test.__name__ = fn.__name__
    return test


def status(hub: EventHub, partition: int, offset: int, slo_id: str, service: str = "shop") -> None:
    data = json.dumps({"event_type": STATUS_EVENT, "slo_id": slo_id, "n": offset}).encode()
    hub.publish("s", partition, offset, STATUS_EVENT, slo_id, service, data)


def alert(hub: EventHub, partition: int, offset: int, slo_id: str, service: str = "shop") -> None:
    data = json.dumps({"event_type": ALERT_EVENT, "slo_id": slo_id, "n": offset}).encode()
    hub.publish("a", partition, offset, ALERT_EVENT, slo_id, service, data)


def started(buffer_size: int = 100) -> EventHub:
    hub = EventHub(buffer_size)
    hub.start_at({("s", 0): 10, ("s", 1): 20, ("a", 0): 0, ("a", 1): 0})
    return hub


def drain(queue: asyncio.Queue[object]) -> list[object]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def test_an_id_is_the_position_after_the_event() -> None:
    hub = started()
    status(hub, 1, 20, "a")
    alert(hub, 0, 0, "a")
    ids = [e.event_id for e in hub.buffer]
    assert ids == ["a0=0,a1=0,s0=10,s1=21", "a0=1,a1=0,s0=10,s1=21"]
    assert parse_position(ids[1]) == {("a", 0): 1, ("a", 1): 0, ("s", 0): 10, ("s", 1): 21}
    for bad in ("x0=1", "s0=", "s=1", "s0=-1", "garbage"):
        with pytest.raises(BadEventId):
            parse_position(bad)


@in_loop
async def test_filters_by_slo_service_and_type() -> None:
    hub = started()
    async with (
        hub.subscribe(make_filter(["a"], [], [])) as by_slo,
        hub.subscribe(make_filter([], ["pay"], [])) as by_service,
        hub.subscribe(make_filter([], [], [ALERT_EVENT])) as alerts_only,
        hub.subscribe(Filter()) as everything,
    ):
        status(hub, 0, 10, "a")
        status(hub, 1, 20, "b", "pay")
        alert(hub, 0, 0, "a")
        assert [(e.slo_id, e.event_type) for e in drain(by_slo.queue)] == [("a", STATUS_EVENT), ("a", ALERT_EVENT)]  # type: ignore[attr-defined]
        assert [e.slo_id for e in drain(by_service.queue)] == ["b"]  # type: ignore[attr-defined]
        assert [e.event_type for e in drain(alerts_only.queue)] == [ALERT_EVENT]  # type: ignore[attr-defined]
        assert len(drain(everything.queue)) == 3
    assert not hub.subscribers


@in_loop
async def test_resume_gets_exactly_what_was_missed() -> None:
    hub = started()
    status(hub, 0, 10, "a")
    status(hub, 1, 20, "b")
    seen = hub.buffer[-1].event_id
    status(hub, 0, 11, "a")
    alert(hub, 1, 0, "b")
    status(hub, 1, 21, "c")
    async with hub.subscribe(Filter(), seen) as sub:
        assert [(e.slot, e.offset) for e in drain(sub.queue)] == [(("s", 0), 11), (("a", 1), 0), (("s", 1), 21)]  # type: ignore[attr-defined]
    async with hub.subscribe(make_filter(["b"], [], []), seen) as sub:
        assert [e.offset for e in drain(sub.queue)] == [0]  # type: ignore[attr-defined]
    assert hub.since(hub.buffer[-1].event_id, Filter()) == []


@in_loop
async def test_resume_past_the_buffer_is_a_reset() -> None:
    hub = started(buffer_size=3)
    status(hub, 0, 10, "a")
    seen = hub.buffer[-1].event_id
    for offset in range(11, 15):  # 4 more: the buffer (3) no longer holds offset 11
        status(hub, 0, offset, "a")
    missed = hub.since(seen, Filter())
    assert [e.event_type for e in missed] == [RESET_EVENT]
    # a position the hub never held (another worker's tail started later) is a reset too
    fresh = started()
    assert [e.event_type for e in fresh.since("a0=0,a1=0,s0=5,s1=20", Filter())] == [RESET_EVENT]
    # and one it holds everything after is not
    assert fresh.since("a0=0,a1=0,s0=10,s1=20", Filter()) == []


@in_loop
async def test_a_slow_subscriber_is_cut_off_and_the_publisher_never_waits() -> None:
    hub = started(buffer_size=10)
    async with hub.subscribe(Filter()) as slow, hub.subscribe(make_filter(["quiet"], [], [])) as other:
        for offset in range(SUBSCRIBER_QUEUE + 5):
            status(hub, 0, 10 + offset, "a")
        assert slow.cut_off and hub.cut_offs == 1
        assert [e.event_type for e in drain(slow.queue)] == [RESET_EVENT]  # type: ignore[attr-defined]
        assert not other.cut_off and other.queue.empty()
    assert hub.published == SUBSCRIBER_QUEUE + 5


def test_timeline_and_latest_status_per_slo() -> None:
    hub = started()
    hub.remember_alert("a", b'{"n": 1}')
    alert(hub, 0, 0, "a")
    status(hub, 0, 10, "a")
    assert hub.timeline("a") == [b'{"event_type": "slo_alert", "slo_id": "a", "n": 0}', b'{"n": 1}']
    assert json.loads(hub.latest_status["a"])["n"] == 10
    hub.forget("a")
    assert hub.timeline("a") == [] and "a" not in hub.latest_status
