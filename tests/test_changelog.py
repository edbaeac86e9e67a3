"""Exactly-once state across crashes, without a broker: the changelog codec and the
partition store's replay guard (app/core/changelog.py, app/stream/store.py).

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

from app.core.windows import DAY_US, HOUR_US, MINUTE_US, WINDOW_NAMES
from app.domain.enums import SLOType, TimePeriod
from app.domain.events import SliEvent
from app.domain.models import SLO
from app.stream.store import PartitionStore

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
    ),
    min_size=1,
    max_size=120,
)


def _events(raw: list[tuple[int, int, int, int]]) -> list[tuple[SLO, SliEvent]]:
    out = []
    for slo_i, dt, a, b in raw:
        slo = SLOS[slo_i]
        out.append((slo, SliEvent(slo.slo_id, NOW_US + dt, min(a, b), max(a, b))))
    return out


def _process(store: PartitionStore, batch: list[tuple[int, SLO, SliEvent]], now_us: int) -> list:
    for offset, slo, event in batch:
        store.apply(slo, event, offset, now_us)
    return store.drain_records()


def _snapshot(store: PartitionStore, now_us: int) -> dict:
    out = {}
    for slo_id, rt in store.slos.items():
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

    reference = PartitionStore(0, SKEW_US)
    for batch, now in zip(batches, clock, strict=True):
        _process(reference, batch, now)

    crash_at = data.draw(st.integers(0, len(batches) - 1), label="crashed batch")
    worker = PartitionStore(0, SKEW_US)
    log: list[tuple[bytes, bytes]] = []
    for batch, now in zip(batches[:crash_at], clock[:crash_at], strict=True):
        log.extend(_process(worker, batch, now))  # records acknowledged, then committed
    committed = batches[crash_at][0][0]
    in_flight = _process(worker, batches[crash_at], clock[crash_at])
    landed = data.draw(st.lists(st.booleans(), min_size=len(in_flight), max_size=len(in_flight)), label="landed")
    log.extend(r for r, ok in zip(in_flight, landed, strict=True) if ok)

    # Recovery, then replay from the committed offset, in possibly different batches.
    recovered = PartitionStore.recover(0, SKEW_US, log, clock[crash_at])
    rest = [e for e in events if e[0] >= committed]
    replay_batch = data.draw(st.integers(1, 40), label="replay batch size")
    for i in range(0, len(rest), replay_batch):
        _process(recovered, rest[i : i + replay_batch], clock[-1])

    end = clock[-1] + HOUR_US // 2
    assert _snapshot(recovered, end) == _snapshot(reference, end)


def test_recovery_restores_sequence_and_counts() -> None:
    store = PartitionStore(3, SKEW_US)
    slo = SLOS[0]
    rng = random.Random(5)
    for offset in range(50):
        store.apply(slo, SliEvent(slo.slo_id, NOW_US - rng.randint(0, HOUR_US), 90, 100), offset, NOW_US)
    store.mark_published(slo.slo_id, 7, ("HEALTHY", frozenset()))
    records = store.drain_records()
    recovered = PartitionStore.recover(3, SKEW_US, records, NOW_US)
    assert recovered.slos[slo.slo_id].seq == 7
    assert recovered.slos[slo.slo_id].state.window("24h") == (4500, 5000)
    assert recovered.slos[slo.slo_id].state.window("1h") == store.slos[slo.slo_id].state.window("1h")


def test_stale_ring_records_are_ignored_on_recovery() -> None:
    """A slot's record from an earlier lap of the ring must not resurrect old counts."""
    store = PartitionStore(0, SKEW_US)
    slo = SLOS[0]
    store.apply(slo, SliEvent(slo.slo_id, NOW_US, 1, 2), 0, NOW_US)
    records = store.drain_records()
    later = NOW_US + 2 * HOUR_US  # the 5 s, 30 s rings have lapped; the event left 5m, 30m and 1h
    recovered = PartitionStore.recover(0, SKEW_US, records, later)
    state = recovered.slos[slo.slo_id].state
    assert state.window("5m") == (0, 0)
    assert state.window("1h") == (0, 0)
    assert state.window("24h") == (1, 2)
