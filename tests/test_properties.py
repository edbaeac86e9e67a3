"""Property tests: the engine against the brute-force reference (tests/reference.py).

Random event sets over ~45 days around `now`, in random order, with late and
future (pending) events, duplicates, long gaps, and `now`s just after calendar
month/quarter starts.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.core.acceptance import acceptance_range
from app.core.evaluation import evaluate
from app.core.state import WindowState
from app.core.units import SloUnits
from app.core.windows import TIERS
from app.domain.enums import SLOStatus, TimePeriod
from app.domain.events import RejectReason, SliEvent
from app.domain.models import SLO
from app.domain.views import error_budget, objective_of, status_report
from tests import reference as ref
from tests.reference import DAY, HOUR, MINUTE, WINDOWS, Event

PROPS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Bucket width of each rolling window, from the engine's tier table.
BUCKET_OF: dict[str, int] = {w.name: tier.bucket_us for tier in TIERS for w in tier.windows}


def test_tiers_cover_every_window_within_the_contracts_resolution() -> None:
    assert set(BUCKET_OF) == set(WINDOWS)
    for name, length in WINDOWS.items():
        b = BUCKET_OF[name]
        assert b * 60 <= length, f"{name}: bucket {b} coarser than W/60"
        assert DAY % b == 0, f"{name}: bucket {b} does not divide a day"


# -- strategies --------------------------------------------------------------------


def _month_start_us(year: int, month: int) -> int:
    return ref.us_of(datetime(year, month, 1, tzinfo=UTC))


@st.composite
def nows(draw: st.DrawFn, aligned: bool) -> int:
    """An evaluation instant, often just after a month or quarter start."""
    year = draw(st.integers(2023, 2027))
    month = draw(st.sampled_from([1, 2, 3, 4, 7, 10, 12, 5, 6, 8, 9, 11]))
    base = _month_start_us(year, month)
    days = draw(st.one_of(st.just(0), st.integers(0, 2), st.integers(0, 27)))
    if aligned:
        return base + days * DAY
    sub = draw(
        st.one_of(
            st.integers(0, 10 * MINUTE),
            st.integers(0, DAY - 1),
            st.sampled_from([1, 4_999_999, 5_000_001, 29_999_999, 59_999_999, HOUR - 1, HOUR + 1]),
        )
    )
    return base + days * DAY + sub


def _edges(now: int) -> list[int]:
    m0, _ = ref.month_bounds(now)
    q0, _ = ref.quarter_bounds(now)
    pm0, _ = ref.month_bounds(m0 - 1)
    y0, _ = ref.year_bounds(now)
    return [now, now - 30 * DAY, m0, q0, pm0, y0, now - ref.HISTORY_RETENTION] + [now - w for w in WINDOWS.values()]


@st.composite
def timestamps(draw: st.DrawFn, now: int) -> int:
    kind = draw(st.sampled_from(["uniform", "uniform", "edge", "edge", "recent", "future", "history"]))
    if kind == "uniform":
        return draw(st.integers(now - 45 * DAY, now + 6 * MINUTE))
    if kind == "history":  # older than most windows, up to beyond the history's retention
        return draw(st.integers(now - 410 * DAY, now - 30 * DAY))
    if kind == "edge":
        edge = draw(st.sampled_from(_edges(now)))
        delta = draw(
            st.one_of(
                st.sampled_from([-1, 0, 1]),
                st.integers(-5 * MINUTE, 5 * MINUTE),
                st.integers(-2 * HOUR, 2 * HOUR),
            )
        )
        return max(edge + delta, 0)
    if kind == "recent":
        return draw(st.integers(now - 2 * HOUR, now))
    return draw(st.integers(now + 1, now + 10 * MINUTE))  # ahead of now: pending


@st.composite
def counts(draw: st.DrawFn, big: bool = True, budget: float | None = None) -> tuple[int, int]:
    """(good, total). `budget` (1 - target) makes the share of bad events a
    multiple of the budget, so that statuses and rules vary."""
    if big:
        total = draw(st.one_of(st.integers(0, 1000), st.integers(0, 2**40)))
        good = draw(st.integers(0, total))
        return good, total
    total = draw(st.one_of(st.integers(0, 20), st.integers(0, 5000)))
    if budget is None:
        bad = draw(st.one_of(st.just(0), st.integers(0, total // 50), st.integers(0, total)))
    else:
        k = draw(st.sampled_from([0, 0, 0.2, 0.5, 0.8, 0.9, 1, 1.1, 1.5, 3, 7, 20]))
        bad = draw(st.one_of(st.just(min(total, int(total * budget * k))), st.integers(0, total)))
    return total - bad, total


@st.composite
def event_sets(
    draw: st.DrawFn,
    now: int,
    slo_ids: tuple[str, ...] = ("x",),
    big: bool = True,
    max_size: int = 60,
    budgets: dict[str, float] | None = None,
) -> list[Event]:
    budgets = budgets or {}
    sid_ts = draw(st.lists(st.tuples(st.sampled_from(slo_ids), timestamps(now)), max_size=max_size))
    base = [Event(sid, ts, *draw(counts(big, budgets.get(sid)))) for sid, ts in sid_ts]
    if base:
        # duplicates: the same event (same instant, same counts) delivered again
        dup_idx = draw(st.lists(st.integers(0, len(base) - 1), max_size=5))
        base += [base[i] for i in dup_idx]
    return draw(st.permutations(base))


def engine_sums(state: WindowState) -> dict[str, tuple[int, int]]:
    out = {name: state.window(name) for name in WINDOWS}
    out["month"] = state.month_sums()
    out["quarter"] = state.quarter_sums()
    out["year"] = state.year_sums()
    return out


def arrays(events: list[Event]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.asarray([e.ts_us for e in events], dtype=np.int64),
        np.asarray([e.good for e in events], dtype=np.int64),
        np.asarray([e.total for e in events], dtype=np.int64),
    )


# -- window sums ---------------------------------------------------------------------


@PROPS
@given(data=st.data())
def test_window_sums_exact_at_day_aligned_now(data: st.DataObject) -> None:
    now = data.draw(nows(aligned=True), label="now")
    events = data.draw(event_sets(now), label="events")
    expected = ref.all_window_sums(events, now)

    one_by_one = WindowState(now)
    for e in events:
        one_by_one.add(e.ts_us, e.good, e.total)
    assert engine_sums(one_by_one) == expected

    batch = WindowState(now)
    batch.add_batch(*arrays(events))
    assert engine_sums(batch) == expected

    # several batches mixed with single adds
    mixed = WindowState(now)
    cut = data.draw(st.integers(0, len(events)), label="cut")
    mixed.add_batch(*arrays(events[:cut]))
    for e in events[cut : cut + 3]:
        mixed.add(e.ts_us, e.good, e.total)
    mixed.add_batch(*arrays(events[cut + 3 :]))
    assert engine_sums(mixed) == expected


@PROPS
@given(data=st.data())
def test_window_sums_at_any_now_differ_only_by_the_far_edge_bucket(data: st.DataObject) -> None:
    now = data.draw(nows(aligned=False), label="now")
    events = data.draw(event_sets(now), label="events")
    for how in ("add", "batch"):
        state = WindowState(now)
        if how == "add":
            for e in events:
                state.add(e.ts_us, e.good, e.total)
        else:
            state.add_batch(*arrays(events))
        for name, w in WINDOWS.items():
            b = BUCKET_OF[name]
            lo_good, lo_total = ref.sums_between(events, now - w + b, now)
            hi_good, hi_total = ref.rolling_sums(events, now, w)
            good, total = state.window(name)
            assert lo_good <= good <= hi_good, (how, name)
            assert lo_total <= total <= hi_total, (how, name)
            if now % b == 0:
                assert (good, total) == (hi_good, hi_total), (how, name)
        # calendar periods are exact at any instant
        assert state.month_sums() == ref.calendar_sums(events, now, TimePeriod.CALENDAR_MONTH), how
        assert state.quarter_sums() == ref.calendar_sums(events, now, TimePeriod.CALENDAR_QUARTER), how


@PROPS
@given(data=st.data())
def test_incremental_with_advances_equals_batch(data: st.DataObject) -> None:
    now = data.draw(nows(aligned=False), label="now")
    events = data.draw(event_sets(now), label="events")
    start = now - data.draw(
        st.one_of(st.integers(0, 10 * MINUTE), st.integers(0, 2 * DAY), st.integers(0, 40 * DAY)),
        label="start offset",
    )
    # increasing intermediate instants, one chance before each event
    steps = sorted(data.draw(st.lists(st.integers(start, now), max_size=len(events)), label="steps"))
    where = sorted(data.draw(st.lists(st.integers(0, len(events)), min_size=len(steps), max_size=len(steps))))

    inc = WindowState(start)
    si = 0
    for i, e in enumerate(events):
        while si < len(steps) and where[si] <= i:
            inc.advance(steps[si])
            si += 1
        inc.add(e.ts_us, e.good, e.total)
    while si < len(steps):
        inc.advance(steps[si])
        si += 1
    inc.advance(now)
    assert inc.now_us == now

    batch = WindowState(now)
    batch.add_batch(*arrays(events))
    fresh = WindowState(now)
    for e in events:
        fresh.add(e.ts_us, e.good, e.total)
    assert engine_sums(inc) == engine_sums(batch) == engine_sums(fresh)

    # pending (future) events are counted once now reaches them, and not before
    later = now + data.draw(st.integers(0, 12 * MINUTE), label="later")
    for s in (inc, batch, fresh):
        s.advance(later)
    again = WindowState(later)
    again.add_batch(*arrays(events))
    assert engine_sums(inc) == engine_sums(batch) == engine_sums(fresh) == engine_sums(again)
    if later % DAY == 0:
        assert engine_sums(again) == ref.all_window_sums(events, later)


@pytest.mark.parametrize("n", [100, 9_000])
def test_huge_counts_sum_exactly_in_batch_and_one_by_one(n: int) -> None:
    """Per-event counts at the decoder's ceiling (2**40); with 9 000 of them the
    batch sums pass 2**53, where float64 accumulation would no longer be exact."""
    rng = random.Random(n)
    now = _month_start_us(2026, 5) + 3 * DAY
    events = [
        Event("x", now - rng.randrange(0, 30 * DAY), 2**40 - rng.randrange(0, 3), 2**40 - rng.randrange(0, 2))
        for _ in range(n)
    ]
    events = [Event(e.slo_id, e.ts_us, min(e.good, e.total), e.total) for e in events]
    expected = ref.all_window_sums(events, now)
    assert expected["30d"][1] > (2**53 if n > 8192 else 0)
    batch = WindowState(now)
    batch.add_batch(*arrays(events))
    assert engine_sums(batch) == expected
    one_by_one = WindowState(now)
    for e in events:
        one_by_one.add(e.ts_us, e.good, e.total)
    assert engine_sums(one_by_one) == expected


def test_pending_event_is_not_counted_before_now_reaches_it() -> None:
    now = _month_start_us(2026, 3) + 10 * DAY
    s = WindowState(now)
    s.add(now + 1, 3, 4)
    s.add_batch(*arrays([Event("x", now + 2 * MINUTE, 5, 6)]))
    assert s.window("5m") == (0, 0)
    assert s.month_sums() == (0, 0)
    s.advance(now + 1)
    assert s.window("5m") == (3, 4)
    assert s.month_sums() == (3, 4)
    s.advance(now + 2 * MINUTE)
    assert s.window("5m") == (8, 10)
    assert s.window("30d") == (8, 10)
    assert s.quarter_sums() == (8, 10)


def test_month_and_quarter_rollover_reset_calendar_sums_and_keep_rolling_windows() -> None:
    apr1 = _month_start_us(2026, 4)
    s = WindowState(apr1 - HOUR)
    s.add(apr1 - HOUR, 1, 2)  # Mar 31st, 23:00 (Q1)
    s.add(apr1, 10, 20)  # Apr 1st, 00:00:00 exactly: pending, then the first instant of Q2
    assert (s.month_sums(), s.quarter_sums()) == ((1, 2), (1, 2))
    s.advance(apr1)
    assert s.month_sums() == (10, 20)
    assert s.quarter_sums() == (10, 20)
    assert s.window("24h") == (11, 22)
    s.advance(apr1 + DAY - 24 * MINUTE)  # bucket-aligned (24 min): (Mar 31st 23:36, Apr 1st 23:36]
    assert s.window("30d") == (11, 22)
    assert s.window("24h") == (10, 20)
    s.advance(apr1 + DAY)
    assert s.window("24h") == (0, 0)  # (Apr 1st, Apr 2nd]
    may1 = _month_start_us(2026, 5)
    s.advance(may1)
    assert s.month_sums() == (0, 0)
    assert s.quarter_sums() == (10, 20)  # still Q2
    assert s.window("30d") == (0, 0)  # (Apr 1st, May 1st]: 00:00:00 of Apr 1st is out


# -- full evaluation -------------------------------------------------------------------

TARGETS = [50.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 0.5, 12.345]
RATIOS = [0.0, 0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0]
FRACTIONS = [0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0]


def _period_len(period: TimePeriod, now: int) -> int:
    return ref.period_of(period, now)[1]


@st.composite
def rule_specs(draw: st.DrawFn, period: TimePeriod, now: int) -> list[dict[str, object]] | None:
    if draw(st.booleans()):
        return None  # the default policy
    names = list(WINDOWS)
    rules = []
    for _ in range(draw(st.integers(1, 3))):
        li = draw(st.integers(1, len(names) - 1))
        si = draw(st.integers(0, li - 1))
        long_, short = names[li], names[si]
        rule: dict[str, object] = {
            "severity": draw(st.sampled_from(["page", "ticket"])),
            "long_window": long_,
            "short_window": short,
        }
        # Explicit thresholds only where the contract's applicability rule is
        # uncontroversial (long window shorter than the period).
        if WINDOWS[long_] < _period_len(period, now) and draw(st.booleans()):
            rule["burn_rate_threshold"] = draw(st.sampled_from([0.5, 1.0, 2.0, 6.0, 14.4, 100.0]))
        else:
            rule["budget_fraction"] = draw(st.sampled_from(FRACTIONS))
        if all(  # a rule's name is its severity and windows: names are unique in a policy
            (r["severity"], r["long_window"], r["short_window"]) != (rule["severity"], long_, short) for r in rules
        ):
            rules.append(rule)
    return rules


BUDGET_THRESHOLDS = [0.1, 0.25, 0.333, 0.5, 0.8, 0.9, 1.0, 1.1, 1.5, 2.0, 3.0, 10.0]


@st.composite
def budget_policies(draw: st.DrawFn) -> list[dict[str, object]] | None:
    """None (the default policy), or an override: unique thresholds in any order, maybe none."""
    if draw(st.booleans()):
        return None
    thresholds = draw(st.lists(st.sampled_from(BUDGET_THRESHOLDS), unique=True, max_size=4))
    return [
        {"threshold": t, "severity": draw(st.sampled_from(["page", "ticket"])), "action": f"act at {t}"}
        for t in thresholds
    ]


@st.composite
def slo_sets(draw: st.DrawFn, now: int) -> list[SLO]:
    periods = draw(st.lists(st.sampled_from(list(TimePeriod)), min_size=1, max_size=4))
    slos = []
    for i, period in enumerate(periods):
        crit, warn = sorted(draw(st.lists(st.sampled_from(RATIOS), min_size=2, max_size=2)))
        custom = draw(st.integers(0, 3)) == 0
        slos.append(
            SLO(
                slo_id=f"slo-{i}",
                slo_name=f"SLO {i}",
                service_name="svc",
                slo_type="AVAILABILITY",
                target_percentage=draw(st.sampled_from(TARGETS)),
                time_period=period,
                enabled=draw(st.integers(0, 5)) > 0,
                critical_budget_ratio=crit if custom else 0.10,
                warning_budget_ratio=warn if custom else 0.25,
                burn_rate_rules=draw(rule_specs(period, now)),
                budget_policy=draw(budget_policies()),
            )
        )
    return slos


def close(actual: float, expected: object) -> bool:
    return math.isclose(actual, float(expected), rel_tol=1e-9, abs_tol=1e-12)  # type: ignore[arg-type]


def _all_finite(obj: object) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_all_finite(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return all(_all_finite(v) for v in obj)
    return True


def check_report(rep, slo: SLO, expected: ref.RefReport) -> None:  # type: ignore[no-untyped-def]
    """Every figure of the engine's report against the reference's."""
    b = rep.budget
    assert rep.now_us == expected.now_us
    assert rep.period_start_us == expected.period_start_us
    assert rep.period_us == expected.period_len_us
    assert (b.good_events, b.total_events, b.bad_events) == (expected.good, expected.total, expected.bad)
    if expected.current_sli is None:
        assert b.current_sli is None
    else:
        assert b.current_sli is not None and close(b.current_sli, expected.current_sli)
    assert close(b.allowed_bad_events, expected.allowed)
    assert close(b.consumed_ratio, expected.consumed), (b.consumed_ratio, float(expected.consumed))
    assert close(b.remaining_ratio, expected.remaining), (b.remaining_ratio, float(expected.remaining))
    assert close(b.remaining_bad_events, expected.remaining_budget)
    assert set(rep.burn_rates) == set(WINDOWS)
    for name, value in expected.burn_rates.items():
        assert close(rep.burn_rates[name], value), (name, rep.burn_rates[name], float(value))
    assert close(rep.burn_rate, expected.burn_rate)
    if expected.time_to_exhaustion_s is None:
        assert rep.time_to_exhaustion_s is None
        assert rep.projected_exhaustion_us is None
    else:
        assert rep.time_to_exhaustion_s is not None
        assert close(rep.time_to_exhaustion_s, expected.time_to_exhaustion_s)
        assert expected.projected_exhaustion_us is not None
        assert abs(rep.projected_exhaustion_us - expected.projected_exhaustion_us) <= max(
            1, float(expected.time_to_exhaustion_s) * 1e-3
        )
    got_firing = {f.rule.name: f for f in rep.firing}
    want_firing = {f.name: f for f in expected.firing}
    assert set(got_firing) == set(want_firing), (sorted(got_firing), sorted(want_firing))
    for name, f in want_firing.items():
        g = got_firing[name]
        assert g.severity == f.severity
        assert close(g.threshold, f.factor)
        assert close(g.burn_rate_long, f.burn_long)
        assert close(g.burn_rate_short, f.burn_short)
    assert rep.status == expected.status, (rep.status, expected.status, float(expected.remaining))
    # The error-budget policy: the thresholds reached, exactly (also at equality).
    assert [t.name for t in rep.budget_crossed] == expected.budget_alerts, (float(expected.consumed), slo.budget_policy)
    assert [c.rule for c in rep.conditions if c.rule.startswith("budget-")] == expected.budget_alerts
    event(f"budget alerts {len(expected.budget_alerts)}")
    event(f"status {expected.status.value}")
    event(f"firing {len(expected.firing)}")
    event(f"tte {'none' if expected.time_to_exhaustion_s is None else 'set'}")

    # The published views carry no NaN or infinity.
    view = status_report(slo, rep).model_dump(mode="json")
    assert _all_finite(view)
    json.dumps(view, allow_nan=False)
    json.dumps(error_budget(slo, rep).model_dump(mode="json"), allow_nan=False)
    assert view["status"] == expected.status.value
    assert view["consumed_budget"] == expected.bad


def _expected_rejection(slo: SLO | None, e: Event, now: int) -> RejectReason | None:
    if slo is None:
        return RejectReason.UNKNOWN_SLO
    if not slo.enabled:
        return RejectReason.DISABLED_SLO
    if e.ts_us > now + ref.MAX_SKEW:
        return RejectReason.TIMESTAMP_IN_FUTURE
    if not ref.accepted(e.ts_us, now, TimePeriod(slo.time_period)):
        return RejectReason.TIMESTAMP_TOO_OLD
    return None


@settings(PROPS, max_examples=800)
@given(data=st.data())
def test_evaluation_matches_reference_at_day_aligned_now(data: st.DataObject) -> None:
    now = data.draw(nows(aligned=True), label="now")
    slos = data.draw(slo_sets(now), label="slos")
    ids = (*[s.slo_id for s in slos], "unknown-slo")
    budgets = {s.slo_id: 1 - s.target_percentage / 100 for s in slos}
    events = data.draw(event_sets(now, ids, big=False, max_size=80, budgets=budgets), label="events")
    by_id = {s.slo_id: s for s in slos}

    # The units a worker's partition holds (changes tracked for its changelog).
    units = SloUnits(track=True)
    objectives = {s.slo_id: objective_of(s) for s in slos}
    accepted: list[Event] = []
    for offset, e in enumerate(events):
        want = _expected_rejection(by_id.get(e.slo_id), e, now)
        ev = SliEvent(e.slo_id, e.ts_us, e.good, e.total)
        assert units.offer(objectives.get(e.slo_id), ev, now, offset) == want, (e, now)
        if want is None:
            accepted.append(e)

    for slo in slos:
        if not slo.enabled:
            continue
        # An event stamped ahead of the processing time (within the skew) moves its
        # SLO's time forward with it, as in the worker. Then the SLO is evaluated a day
        # later, an instant aligned with every bucket, where the sums are exact again.
        mine = [e for e in accepted if e.slo_id == slo.slo_id]
        at = now if all(e.ts_us <= now for e in mine) else now + DAY
        expected = ref.evaluate(accepted, slo, at)
        rep = units.evaluate(objectives[slo.slo_id], at)
        check_report(rep, slo, expected)

        # Same figures from a state loaded in one numpy batch.
        state = WindowState(at)
        state.add_batch(*arrays(mine))
        unit = units.get(slo.slo_id)  # none when no event was accepted
        state.last_event_us = None if unit is None else unit.state.last_event_us  # received when offered
        assert evaluate(objective_of(slo), state) == rep


@settings(PROPS, max_examples=600)
@given(data=st.data())
def test_evaluation_with_incidents_fires_rules_like_the_reference(data: st.DataObject) -> None:
    """An incident burning at about k times the budget over a recent span, on top
    of good background traffic, so that rules fire (or just do not)."""
    now = data.draw(nows(aligned=True), label="now")
    slo = data.draw(slo_sets(now), label="slos")[0].model_copy(update={"enabled": True})
    budget = 1 - slo.target_percentage / 100
    background = data.draw(
        st.lists(
            st.builds(
                lambda ts, n: Event(slo.slo_id, ts, n, n),
                st.integers(now - 29 * DAY, now),
                st.integers(0, 10**6),
            ),
            max_size=4,
        ),
        label="background",
    )
    k = data.draw(st.sampled_from([0.5, 1, 1.2, 2, 3.5, 5, 7, 10, 15, 30]), label="k")
    span = data.draw(st.sampled_from([5 * MINUTE, 30 * MINUTE, HOUR, 6 * HOUR, DAY, 3 * DAY]), label="span")
    incident = []
    for _ in range(data.draw(st.integers(1, 15), label="n")):
        ts = data.draw(st.integers(now - span + 1, now))
        total = data.draw(st.integers(1, 10_000))
        spread = data.draw(st.sampled_from([0.5, 0.9, 1.0, 1.1, 1.5]))
        bad = min(total, round(total * budget * k * spread))
        incident.append(Event(slo.slo_id, ts, total - bad, total))
    events = data.draw(st.permutations(background + incident), label="order")
    state = WindowState(now)
    for e in events:
        state.add(e.ts_us, e.good, e.total)
    rep = evaluate(objective_of(slo), state)
    check_report(rep, slo, ref.evaluate(events, slo, now))


# -- acceptance ---------------------------------------------------------------------------


@PROPS
@given(data=st.data())
def test_acceptance_range_matches_contract(data: st.DataObject) -> None:
    now = data.draw(nows(aligned=False), label="now")
    period = data.draw(st.sampled_from(list(TimePeriod)), label="period")
    ts_list = data.draw(st.lists(timestamps(now), min_size=1, max_size=30), label="ts")
    ts_list += [now - 30 * DAY, now - 30 * DAY + 1, now + 5 * MINUTE, now + 5 * MINUTE + 1]
    ts_list += [ref.month_bounds(now)[0], ref.month_bounds(now)[0] - 1]
    ts_list += [ref.quarter_bounds(now)[0], ref.quarter_bounds(now)[0] - 1]
    rng = acceptance_range(now, period)
    objective = objective_of(latency_slo(period))
    units = SloUnits()
    for ts in ts_list:
        ok = ref.accepted(ts, now, period)
        want = None if ok else RejectReason.TIMESTAMP_IN_FUTURE if ts > now else RejectReason.TIMESTAMP_TOO_OLD
        assert rng.verdict(ts) == want, (ts - now, period)
        assert units.offer(objective, SliEvent("s", ts, 1, 1), now) == want


def latency_slo(period: TimePeriod) -> SLO:
    """A 99% SLO "s" of the given period (acceptance depends on the period only)."""
    return SLO(
        slo_id="s", slo_name="s", service_name="s", slo_type="LATENCY", target_percentage=99.0, time_period=period
    )


@pytest.mark.parametrize(
    ("period", "now", "oldest_accepted"),
    [
        # every period accepts the history's 400 days: exactly 400 days back is out,
        # one microsecond later is in (the daily history holds it, no window does)
        (TimePeriod.ROLLING_1H, "2026-03-31T12:00:00", "2025-02-24T12:00:00.000001"),
        (TimePeriod.ROLLING_30D, "2026-03-31T12:00:00", "2025-02-24T12:00:00.000001"),
        (TimePeriod.ROLLING_90D, "2026-03-31T12:00:00", "2025-02-24T12:00:00.000001"),
        (TimePeriod.CALENDAR_MONTH, "2026-03-02T00:00:00", "2025-01-26T00:00:00.000001"),
        (TimePeriod.CALENDAR_QUARTER, "2026-04-01T00:00:00", "2025-02-25T00:00:00.000001"),
        # the whole current year is always inside them (even on Dec 31st)
        (TimePeriod.CALENDAR_YEAR, "2026-12-31T23:59:59", "2025-11-26T23:59:59.000001"),
    ],
)
def test_acceptance_boundaries(period: TimePeriod, now: str, oldest_accepted: str) -> None:
    def us(text: str) -> int:
        return ref.us_of(datetime.fromisoformat(text).replace(tzinfo=UTC))

    now_us, oldest = us(now), us(oldest_accepted)
    rng = acceptance_range(now_us, period)
    assert (rng.oldest_us, rng.newest_us) == (oldest, now_us + 5 * MINUTE)
    objective = objective_of(latency_slo(period))
    units = SloUnits()
    assert units.offer(objective, SliEvent("s", oldest, 1, 1), now_us) is None
    assert units.offer(objective, SliEvent("s", now_us + 5 * MINUTE, 1, 1), now_us) is None
    assert units.offer(objective, SliEvent("s", oldest - 1, 1, 1), now_us) is RejectReason.TIMESTAMP_TOO_OLD
    assert (
        units.offer(objective, SliEvent("s", now_us + 5 * MINUTE + 1, 1, 1), now_us) is RejectReason.TIMESTAMP_IN_FUTURE
    )
    # a custom max skew
    strict = SloUnits(max_skew_us=0)
    assert strict.offer(objective, SliEvent("s", now_us, 1, 1), now_us) is None
    assert strict.offer(objective, SliEvent("s", now_us + 1, 1, 1), now_us) is RejectReason.TIMESTAMP_IN_FUTURE


def test_engine_rejects_unknown_and_disabled_slos() -> None:
    now = _month_start_us(2026, 3)
    on = SLO(
        slo_id="on",
        slo_name="n",
        service_name="s",
        slo_type="CUSTOM",
        target_percentage=99.0,
        time_period="ROLLING_7D",
    )
    off = on.model_copy(update={"slo_id": "off", "enabled": False})
    units = SloUnits()
    assert units.offer(None, SliEvent("nope", now, 1, 1), now) is RejectReason.UNKNOWN_SLO
    assert units.offer(objective_of(off), SliEvent("off", now, 1, 1), now) is RejectReason.DISABLED_SLO
    assert units.offer(objective_of(on), SliEvent("on", now, 1, 2), now) is None
    rep = units.evaluate(objective_of(on), now)
    assert (rep.budget.good_events, rep.budget.total_events) == (1, 2)
    assert rep.status is SLOStatus.EXHAUSTED
