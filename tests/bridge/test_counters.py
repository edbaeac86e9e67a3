"""Counter deltas and SLO sums: exact increases, resets, out-of-order samples, good <= total."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from app.core.counters import CounterDeltas, Interval, Outcome, SloSums, series_key
from app.core.promql import histogram_sli, parse_sli_query
from app.core.sli_ingest import SliIngest

KEY = series_key([("__name__", "requests_total"), ("code", "200")])


def test_baseline_delta_reset_and_out_of_order() -> None:
    d = CounterDeltas()
    assert d.observe(KEY, 1000, 5.0) == (Outcome.BASELINE, 0)
    assert d.observe(KEY, 2000, 8.0) == (Outcome.DELTA, 3)
    assert d.observe(KEY, 2000, 9.0) == (Outcome.OUT_OF_ORDER, 0)  # duplicate time
    assert d.observe(KEY, 1500, 7.0) == (Outcome.OUT_OF_ORDER, 0)
    assert d.observe(KEY, 3000, 2.0) == (Outcome.RESET, 2)  # counts from zero
    assert d.observe(KEY, 4000, float("nan")) == (Outcome.NOT_A_NUMBER, 0)
    assert d.observe(KEY, 4000, 2.5) == (Outcome.NOT_A_COUNT, 0)
    assert d.observe(KEY, 4000, -1.0) == (Outcome.NOT_A_COUNT, 0)
    assert d.observe(KEY, 4000, float("inf")) == (Outcome.NOT_A_COUNT, 0)
    assert d.observe(KEY, 4000, 4.0) == (Outcome.DELTA, 2)
    assert d.last[KEY] == (4.0, 4000)


@given(st.lists(st.tuples(st.integers(0, 50), st.booleans()), min_size=1, max_size=60))
def test_deltas_sum_to_the_raw_increase_across_resets(steps: list[tuple[int, bool]]) -> None:
    """A counter that grows by `inc` per step and is reset (to `inc`) on some: the deltas
    sum to the increase a brute force reads from the raw values."""
    d = CounterDeltas()
    value, values = 0, []
    for inc, reset in steps:
        value = inc if reset else value + inc
        values.append(value)
    got = sum(d.observe(KEY, 1000 * (i + 1), float(v))[1] for i, v in enumerate(values))
    expected = sum(b if b < a else b - a for a, b in itertools.pairwise(values))
    assert got == expected


def test_sums_never_publish_good_above_total() -> None:
    sums = SloSums({"a": "good", "b": "bad"})
    sums.add("a", "good", 1_500, 7)  # good arrived before its total
    sums.add("b", "total", 1_500, 10)
    assert sums.drain() == [Interval("a", 1_500, 0, 0), Interval("b", 1_500, 10, 10)]
    assert sums.carry == {"a": 7}
    sums.add("a", "total", 1_600, 9)
    sums.add("a", "good", 2_100, 2)
    sums.add("a", "total", 2_200, 1)
    sums.add("b", "bad", 3_000, 3)
    sums.add("b", "total", 3_000, 2)
    assert sums.drain() == [Interval("a", 1_600, 7, 9), Interval("a", 2_200, 1, 1), Interval("b", 3_000, 0, 2)]
    assert sums.carry == {"a": 1, "b": 1}


def test_ingest_routes_series_and_sums_exact_increases() -> None:
    ingest = SliIngest(
        {
            "avail": parse_sli_query('sum(rate(req_total{code!~"5.."}[5m])) / sum(rate(req_total[5m]))'),
            "errors": parse_sli_query("1 - sum(rate(err_total[5m])) / sum(rate(req_total[5m]))"),
        }
    )
    ok = series_key([("__name__", "req_total"), ("code", "200")])
    bad = series_key([("__name__", "req_total"), ("code", "500")])
    err = series_key([("__name__", "err_total")])
    other = series_key([("__name__", "unrelated_total")])
    assert ingest.routes(ok) == (("avail", "good"), ("avail", "total"), ("errors", "total"))
    assert ingest.routes(other) == ()
    for key, values in ((ok, [10, 15, 20]), (bad, [1, 1, 4]), (err, [1, 1, 4]), (other, [0, 9, 99])):
        ingest.add(key, [(float(v), 1000 * (i + 1)) for i, v in enumerate(values)])
    by = {(i.slo_id, i.ts_ms): (i.good, i.total) for i in ingest.drain()}
    assert by == {
        ("avail", 1000): (0, 0),
        ("avail", 2000): (5, 5),
        ("avail", 3000): (5, 8),
        ("errors", 1000): (0, 0),
        ("errors", 2000): (5, 5),
        ("errors", 3000): (5, 8),
    }
    assert ingest.outcomes[Outcome.BASELINE] == 3 and ingest.outcomes[Outcome.DELTA] == 6


def test_latency_sli_held_until_the_threshold_is_a_boundary_seen() -> None:
    ingest = SliIngest({"lat": histogram_sli("dur_seconds", 0.3, {"svc": "a"})})
    count = series_key([("__name__", "dur_seconds_count"), ("svc", "a")])
    ingest.add(count, [(1.0, 1000), (5.0, 2000)])
    assert ingest.threshold_problems() == {"lat": "no bucket series of the histogram seen yet"}
    assert ingest.drain() == []
    for le in ("0.1", "0.25", "+Inf"):
        ingest.add(series_key([("__name__", "dur_seconds_bucket"), ("svc", "a"), ("le", le)]), [(0.0, 3000)])
    assert ingest.threshold_problems() == {
        "lat": "threshold_s 0.3 is not a bucket boundary; boundaries seen: 0.1, 0.25, inf"
    }
    good = SliIngest({"lat": histogram_sli("dur_seconds", 0.25, {"svc": "a"})})
    good.add(series_key([("__name__", "dur_seconds_bucket"), ("svc", "a"), ("le", "0.25")]), [(1.0, 1000), (3.0, 2000)])
    good.add(count, [(1.0, 1000), (5.0, 2000)])
    assert good.threshold_problems() == {}
    assert good.drain() == [Interval("lat", 1000, 0, 0), Interval("lat", 2000, 2, 4)]
