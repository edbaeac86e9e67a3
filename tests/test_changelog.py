"""Exactly-once state across crashes, without a broker: the changelog codec and the
units' replay guard (app/core/changelog.py, app/core/units.py), duplicate ids included.

Model of a worker's life: input events (offsets 0..n-1 of one partition) are
processed in batches; after each batch its changelog records are sent and then
the input offset is committed. A crash may strike after ANY subset of one
batch's records reached the changelog and before the commit. The recovering
worker rebuilds the store from the changelog and replays the input from the
last commit. Its state must equal that of a worker that never crashed.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.dedup import SEGMENT_US
from app.core.units import SloUnits
from app.core.windows import DAY_US, HOUR_US, MINUTE_US, WINDOW_NAMES
from app.domain.enums import RejectReason, SLOType, TimePeriod
from app.domain.events import SliEvent
from app.domain.models import SLO
from app.domain.views import objective_of

NOW_US = 1_795_435_200 * 1_000_000 + 17 * MINUTE_US + 3_000_000  # not aligned to anything
SKEW_US = 5 * MINUTE_US
SLOS = [
    SLO(
        slo_id=f"slo-{i}",
        slo_name=f"SLO {i}",
        service_name="svc",
        slo_type=SLOType.AVAILABILITY,
        target_percentage=99.0,
        time_period=period,
    )
    for i, period in enumerate([TimePeriod.ROLLING_30D, TimePeriod.CALENDAR_MONTH, TimePeriod.CALENDAR_QUARTER])
]
BY_ID = {s.slo_id: s for s in SLOS}
OBJECTIVES = {s.slo_id: objective_of(s) for s in SLOS}

events_st = st.lists(
    st.tuples(
        st.integers(0, len(SLOS) - 1),
        st.one_of(
            st.integers(-10 * MINUTE_US, 0),  # recent
            st.integers(-2 * DAY_US, 0),  # late
            st.integers(-29 * DAY_US, -25 * DAY_US),  # very late, still in the 30d retention
        ),
        st.integers(0, 50),
        st.integers(0, 50),
        st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])),  # ids repeat: duplicates
    ),
    min_size=1,
    max_size=120,
)


def _events(raw: list[tuple[int, int, int, int, str | None]]) -> list[tuple[SLO, SliEvent]]:
    out = []
    for slo_i, dt, a, b, event_id in raw:
        slo = SLOS[slo_i]
        out.append((slo, SliEvent(slo.slo_id, NOW_US + dt, min(a, b), max(a, b), event_id)))
    return out


def _process(
    store: SloUnits, batch: list[tuple[int, SLO, SliEvent]], now_us: int, verdicts: dict | None = None
) -> list:
    for offset, slo, event in batch:
        verdict = store.offer(OBJECTIVES[slo.slo_id], event, now_us, offset)
        if verdicts is not None:
            verdicts[offset] = verdict
    return store.drain_records()


def _snapshot(store: SloUnits, now_us: int) -> dict:
    out = {}
    for slo_id, rt in store.units.items():
        rt.state.advance(now_us)
        out[slo_id] = (
            {w: rt.state.window(w) for w in WINDOW_NAMES},
            rt.state.month_sums(),
            rt.state.quarter_sums(),
        )
    return out


@settings(max_examples=150, deadline=None)
@given(events_st, st.integers(1, 40), st.data())
def test_crash_anywhere_then_replay_counts_each_event_once(raw, batch_size, data) -> None:
    events = [(offset, slo, ev) for offset, (slo, ev) in enumerate(_events(raw))]
    batches = [events[i : i + batch_size] for i in range(0, len(events), batch_size)]
    # Each batch is processed at a slightly later wall clock.
    clock = [NOW_US + i * 7_000_000 for i in range(len(batches))]

    reference = SloUnits(SKEW_US, track=True)
    expected_verdicts: dict = {}
    for batch, now in zip(batches, clock, strict=True):
        _process(reference, batch, now, expected_verdicts)

    crash_at = data.draw(st.integers(0, len(batches) - 1), label="crashed batch")
    worker = SloUnits(SKEW_US, track=True)
    log: list[tuple[bytes, bytes]] = []
    for batch, now in zip(batches[:crash_at], clock[:crash_at], strict=True):
        log.extend(_process(worker, batch, now))  # records acknowledged, then committed
    committed = batches[crash_at][0][0]
    in_flight = _process(worker, batches[crash_at], clock[crash_at])
    landed = data.draw(st.lists(st.booleans(), min_size=len(in_flight), max_size=len(in_flight)), label="landed")
    log.extend(r for r, ok in zip(in_flight, landed, strict=True) if ok)

    # Recovery, then replay from the committed offset, in possibly different batches.
    recovered = SloUnits.recover(OBJECTIVES, log, clock[crash_at], SKEW_US)
    rest = [e for e in events if e[0] >= committed]
    replay_batch = data.draw(st.integers(1, 40), label="replay batch size")
    verdicts: dict = {}
    for i in range(0, len(rest), replay_batch):
        _process(recovered, rest[i : i + replay_batch], clock[-1], verdicts)

    end = clock[-1] + HOUR_US // 2
    assert _snapshot(recovered, end) == _snapshot(reference, end)
    # A duplicate id is refused after the crash exactly as without one; the same
    # record read again (same offset) is not a duplicate.
    assert verdicts == {o: v for o, v in expected_verdicts.items() if o >= committed}


def test_recovery_restores_sequence_and_counts() -> None:
    store = SloUnits(SKEW_US, track=True)
    slo = SLOS[0]
    rng = random.Random(5)
    for offset in range(50):
        event = SliEvent(slo.slo_id, NOW_US - rng.randint(0, HOUR_US), 90, 100)
        assert store.offer(OBJECTIVES[slo.slo_id], event, NOW_US, offset) is None
    store.mark_published(slo.slo_id, 7, ("HEALTHY", frozenset()))
    records = store.drain_records()
    recovered = SloUnits.recover(OBJECTIVES, records, NOW_US, SKEW_US)
    assert recovered.units[slo.slo_id].seq == 7
    assert recovered.units[slo.slo_id].state.window("24h") == (4500, 5000)
    assert recovered.units[slo.slo_id].state.window("1h") == store.units[slo.slo_id].state.window("1h")


def test_stale_ring_records_are_ignored_on_recovery() -> None:
    """A slot's record from an earlier lap of the ring must not resurrect old counts."""
    store = SloUnits(SKEW_US, track=True)
    slo = SLOS[0]
    assert store.offer(OBJECTIVES[slo.slo_id], SliEvent(slo.slo_id, NOW_US, 1, 2), NOW_US, 0) is None
    records = store.drain_records()
    later = NOW_US + 2 * HOUR_US  # the 5 s, 30 s rings have lapped; the event left 5m, 30m and 1h
    recovered = SloUnits.recover(OBJECTIVES, records, later, SKEW_US)
    state = recovered.units[slo.slo_id].state
    assert state.window("5m") == (0, 0)
    assert state.window("1h") == (0, 0)
    assert state.window("24h") == (1, 2)


def test_duplicate_ids_expire_after_the_horizon_and_their_records_are_deleted() -> None:
    horizon = HOUR_US
    store = SloUnits(SKEW_US, dedup_horizon_us=horizon, track=True)
    objective = OBJECTIVES[SLOS[0].slo_id]
    first = SliEvent(SLOS[0].slo_id, NOW_US, 1, 1, "x")
    assert store.offer(objective, first, NOW_US, 0) is None
    records = store.drain_records()
    segment = NOW_US // SEGMENT_US  # ids are grouped per minute of processing time, one chunk per drain
    chunk_key = f"slo-0|d{segment}.0".encode()
    dedup_keys = [k for k, v in records if b"|d" in k]
    assert dedup_keys == [chunk_key]
    # within the horizon, another record with that id is a duplicate; so it is after recovery
    assert store.offer(objective, first, NOW_US + horizon - 1, 1) is RejectReason.DUPLICATE_EVENT
    recovered = SloUnits.recover(OBJECTIVES, records, NOW_US + 1, SKEW_US, horizon)
    assert recovered.offer(objective, first, NOW_US + 2, 1) is RejectReason.DUPLICATE_EVENT
    assert recovered.offer(objective, first, NOW_US + 2, 0) is None  # the same record, replayed
    # once the horizon has passed, the id is accepted again and its segment is deleted
    store.expire(NOW_US + horizon)
    assert (chunk_key, None) in store.drain_records()
    assert store.offer(objective, first, NOW_US + horizon, 2) is None


def test_dedup_chunks_of_one_segment_are_recovered_and_deleted_together() -> None:
    """Ids of many drains within a minute are chunks of one segment: each written once,
    all recovered, all deleted when the segment leaves the horizon (and only then)."""
    horizon = HOUR_US
    store = SloUnits(SKEW_US, dedup_horizon_us=horizon, track=True)
    objective = OBJECTIVES[SLOS[0].slo_id]
    start = (NOW_US // SEGMENT_US) * SEGMENT_US
    written: list[tuple[bytes, bytes | None]] = []
    for i in range(3):  # three batches, one id each, same minute
        assert store.offer(objective, SliEvent(SLOS[0].slo_id, start + i, 1, 1, f"id-{i}"), start + i, i) is None
        written.extend(store.drain_records())
    segment = start // SEGMENT_US
    chunk_keys = [f"slo-0|d{segment}.{c}".encode() for c in range(3)]
    assert [k for k, _ in written if b"|d" in k] == chunk_keys
    recovered = SloUnits.recover(OBJECTIVES, written, start + 10, SKEW_US, horizon)
    for i in range(3):
        event = SliEvent(SLOS[0].slo_id, start + 10, 1, 1, f"id-{i}")
        assert recovered.offer(objective, event, start + 10, 10 + i) is RejectReason.DUPLICATE_EVENT
    # one microsecond before the newest id leaves the horizon nothing is deleted; then all chunks are
    recovered.expire(start + 2 + horizon - 1)
    assert not [k for k, v in recovered.drain_records() if v is None]
    recovered.expire(start + 2 + horizon)
    assert sorted(k for k, v in recovered.drain_records() if v is None) == chunk_keys
