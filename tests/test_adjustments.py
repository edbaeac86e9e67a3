"""app/core/adjustments against a brute-force reference: occurrences computed by plain
arithmetic (start + i * step) and exclusion by scanning every range."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.adjustments import Adjustment, BadAdjustment, Exclusions, for_slo, merge, parse_duration_us

S = 1_000_000
MIN = 60 * S
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_790_000_000 * S  # 2026-09-21T...Z, whole seconds
STEPS = {"HOURLY": HOUR, "DAILY": DAY, "WEEKLY": 7 * DAY}


@st.composite
def adjustments(draw: st.DrawFn, i: int) -> tuple[Adjustment, list[int], int]:
    """An adjustment and, independently, its occurrence starts and duration."""
    start = T0 + draw(st.integers(-3 * DAY, 3 * DAY))
    duration = draw(st.integers(1, 6 * HOUR))
    slo_ids = frozenset(draw(st.sets(st.sampled_from(["a", "b", "c"]), max_size=2)))
    service = draw(st.sampled_from([None, "svc", "other"])) if slo_ids else draw(st.sampled_from(["svc", "other"]))
    kind = draw(st.sampled_from(["once", "count", "until"]))
    if kind == "once":
        return Adjustment(f"a{i}", start, duration, None, slo_ids, service), [start], duration
    freq = draw(st.sampled_from(sorted(STEPS)))
    interval = draw(st.integers(1, 3))
    step = STEPS[freq] * interval
    base = start - start % S  # RRULE occurrences are whole seconds; start's sub-second part is added back
    if kind == "count":
        n = draw(st.integers(1, 12))
        rule = f"FREQ={freq};INTERVAL={interval};COUNT={n}"
        starts = [start + k * step for k in range(n)]
    else:
        until = base + draw(st.integers(0, 12 * step))
        text = _rfc5545(until)
        rule = f"RRULE:FREQ={freq};INTERVAL={interval};UNTIL={text}"
        until_s = until - until % S
        starts = [start + k * step for k in range(1000) if base + k * step <= until_s]
    return Adjustment(f"a{i}", start, duration, rule, slo_ids, service), starts, duration


def _rfc5545(ts_us: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_us // S, UTC).strftime("%Y%m%dT%H%M%SZ")


def _applies(adj: Adjustment, slo_id: str, service: str) -> bool:
    return slo_id in adj.slo_ids or adj.service_name == service


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 4).flatmap(lambda n: st.tuples(*[adjustments(i) for i in range(n)])),
    st.sampled_from([("a", "svc"), ("b", "other"), ("c", "none")]),
    st.lists(st.integers(-4 * DAY, 40 * DAY), max_size=60),
)
def test_exclusion_matches_brute_force(
    drawn: tuple[tuple[Adjustment, list[int], int], ...],
    slo: tuple[str, str],
    offsets: list[int],
) -> None:
    slo_id, service = slo
    horizon = (T0 - 5 * DAY, T0 + 60 * DAY)
    mine = for_slo([a for a, _, _ in drawn], slo_id, service)
    reference = [(s, s + d) for a, starts, d in drawn if _applies(a, slo_id, service) for s in starts]
    # the edges of every range are the interesting instants
    edges = [t + dt for s, e in reference for t in (s, e) for dt in (-1, 0, 1)]
    ts = [t for t in [T0 + o for o in offsets] + edges if horizon[0] <= t < horizon[1]]
    ex = Exclusions.of(mine, *horizon)
    expected = [any(s <= t < e for s, e in reference) for t in ts]
    assert [ex.excluded(t) for t in ts] == expected
    assert ex.mask(np.asarray(ts, dtype=np.int64)).tolist() == expected
    # the merged ranges cover exactly the reference's instants inside the horizon
    clipped = [(max(s, horizon[0]), min(e, horizon[1])) for s, e in reference]
    assert ex.ranges() == merge(clipped)


def test_merge_joins_overlapping_and_touching_ranges() -> None:
    assert merge([(5, 7), (0, 2), (2, 3), (6, 9), (10, 10), (11, 12)]) == [(0, 3), (5, 9), (11, 12)]


def test_one_off_range_is_half_open() -> None:
    adj = Adjustment("m", T0, 2 * HOUR, slo_ids=frozenset({"a"}))
    ex = Exclusions.of([adj], T0 - DAY, T0 + DAY)
    assert [ex.excluded(t) for t in (T0 - 1, T0, T0 + 2 * HOUR - 1, T0 + 2 * HOUR)] == [False, True, True, False]


def test_sub_second_start_is_kept_on_every_occurrence() -> None:
    adj = Adjustment("m", T0 + 250_000, MIN, "FREQ=DAILY;COUNT=3", frozenset({"a"}))
    assert adj.ranges(T0 - DAY, T0 + 10 * DAY) == [
        (T0 + 250_000 + k * DAY, T0 + 250_000 + k * DAY + MIN) for k in range(3)
    ]


@pytest.mark.parametrize(
    ("text", "us"),
    [("2h", 2 * HOUR), ("90m", 90 * MIN), ("1h30m", 90 * MIN), ("45s", 45 * S), ("1d", DAY), ("1w", 7 * DAY)],
)
def test_durations(text: str, us: int) -> None:
    assert parse_duration_us(text) == us


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2x", "unknown duration unit 'x'"),
        ("", "not a duration"),
        ("h2", "not a duration"),
        ("0m", "longer than zero"),
        ("2 h", "not a duration"),
    ],
)
def test_bad_durations_name_the_field(text: str, words: str) -> None:
    with pytest.raises(BadAdjustment) as info:
        parse_duration_us(text)
    assert info.value.field == "duration"
    assert words in info.value.reason


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=MINUTELY;COUNT=5", "at least hourly"),
        ("FREQ=SECONDLY;COUNT=5", "at least hourly"),
        ("FREQ=HOURLY;BYMINUTE=0,30;COUNT=5", "more often than hourly"),
        ("FREQ=DAILY", "unbounded"),
        ("FREQ=WEEKLY;INTERVAL=2", "unbounded"),
        ("COUNT=3", "at least hourly"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20260101T000000", "UTC"),
        ("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY;COUNT=2", "no DTSTART"),
        ("FREQ=DAILY;COUNT=x", "COUNT=x"),
        ("FREQ=DAILY;COUNT", "not NAME=VALUE"),
        ("FREQ=HOURLY;COUNT=10001", "more than 10000 occurrences"),
        ("FREQ=HOURLY;UNTIL=99991231T000000Z", "more than 10000 occurrences"),
    ],
)
def test_bad_rrules_are_refused(rule: str, words: str) -> None:
    with pytest.raises(BadAdjustment) as info:
        Adjustment("m", T0, HOUR, rule, frozenset({"a"}))
    assert info.value.field == "rrule"
    assert words in str(info.value)


def test_needs_a_positive_duration_and_a_target() -> None:
    with pytest.raises(BadAdjustment) as info:
        Adjustment("m", T0, 0, slo_ids=frozenset({"a"}))
    assert info.value.field == "end"
    with pytest.raises(BadAdjustment) as info:
        Adjustment("m", T0, HOUR)
    assert info.value.field == "slo_ids"


def test_service_adjustment_applies_to_every_slo_of_the_service() -> None:
    adj = Adjustment("m", T0, HOUR, service_name="svc")
    assert adj.applies_to("x", "svc") and not adj.applies_to("x", "other")
    adj = Adjustment("m", T0, HOUR, slo_ids=frozenset({"x"}))
    assert adj.applies_to("x", "other") and not adj.applies_to("y", "other")
