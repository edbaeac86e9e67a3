"""Bucket counters widen 16 -> 32 -> 64 bits exactly, whichever path counts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.ring import WIDTHS, Rings
from app.core.windows import US_PER_S

NOW_US = 1_795_000_000 * US_PER_S


def _sums(rings: Rings) -> list[int]:
    return [int(x) for x in rings.view_counts()]


def test_counts_widen_through_every_width_and_stay_exact() -> None:
    rings = Rings(NOW_US)
    assert rings.counts.typecode == WIDTHS[0] and rings.nbytes() < 7_000
    rings.add(NOW_US, 60_000, 65_535)  # fits 16 bits
    assert rings.counts.typecode == "H"
    rings.add(NOW_US, 1, 1)  # 65,536: the newest bucket of every tier needs 32 bits
    assert rings.counts.typecode == "I"
    assert rings.window(0) == (60_001, 65_536)
    rings.add(NOW_US - 3_600 * US_PER_S, 2**32, 2**32)  # an older hour: past 32 bits at once
    assert rings.counts.typecode == "q"
    assert rings.window(0) == (60_001, 65_536)  # 5m does not hold the older event
    good, total = rings.window(len(rings.win) // 2 - 1)  # the longest window holds both
    assert (good, total) == (60_001 + 2**32, 65_536 + 2**32)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40 * 86_400 * US_PER_S), st.integers(0, 2**34), st.integers(0, 2**34)),
        min_size=1,
        max_size=40,
    )
)
def test_incremental_and_batch_counting_agree_across_widths(events: list[tuple[int, int, int]]) -> None:
    one_by_one, batch = Rings(NOW_US), Rings(NOW_US)
    ts, good, total = [], [], []
    for age_us, a, b in events:
        g, t = min(a, b), max(a, b)
        one_by_one.add(NOW_US - age_us, g, t)
        ts.append(NOW_US - age_us)
        good.append(g)
        total.append(t)
    batch.add_batch(np.array(ts, dtype=np.int64), np.array(good, dtype=np.int64), np.array(total, dtype=np.int64))
    assert _sums(one_by_one) == _sums(batch)
    assert one_by_one.win == batch.win
    assert WIDTHS.index(one_by_one.counts.typecode) == WIDTHS.index(batch.counts.typecode)
