"""The bucket rings of one SLO: every tier's buckets and window sums in flat arrays.

A tier is a ring of equal-width time buckets (app/core/windows.TIERS). Adding
an event touches one bucket per tier and the running sum of each window that
still covers it: O(windows). Advancing time by one bucket subtracts, from each
window's running sum, the single bucket that leaves it, then clears the slot
for reuse: O(windows) per bucket crossed, and never more than one pass over a
ring however far time jumps. Nothing ever rescans a window.

Every tier's buckets live in ONE array, good and total side by side: `H`
(2 bytes a count) while every count fits 16 bits, widened, exactly, to `I`
(4 bytes) or `q` (8 bytes) by the first count that does not. An SLO's daily
bucket holds its busiest counts, so an SLO under 65,535 events a day (most of
100k SLOs on one worker) keeps 6.5 KB of counters, and a busy one 13 or 26 KB
(see benchmarks/RESULTS.md). Window
sums are plain ints (exact). Readers other than the state itself (changelog,
history) see one tier at a time through `RingView`.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.core.windows import TIERS

Int64Array = npt.NDArray[np.int64]

# float64 adds integers exactly while every partial sum stays below 2**53.
_FLOAT_EXACT_LIMIT = 2**53
# Bucket counters: 16-bit unsigned until a count needs more, then 32-bit, then 64-bit.
WIDTHS = ("H", "I", "q")
_MAX = {"H": 2**16 - 1, "I": 2**32 - 1, "q": 2**63 - 1}
_DTYPES = {"H": np.uint16, "I": np.uint32, "q": np.int64}


def bucket_of(ts_us: int, bucket_us: int) -> int:
    """Index k of the bucket `((k-1)*bucket_us, k*bucket_us]` holding ts_us."""
    return -(-ts_us // bucket_us)


def _layout() -> tuple[tuple[int, int, int, int, tuple[int, ...]], ...]:
    """Per tier: (bucket width, buckets, first bucket in the array, first window, buckets per window)."""
    out = []
    base = wbase = 0
    for spec in TIERS:
        out.append((spec.bucket_us, spec.n_buckets, base, wbase, spec.window_buckets))
        base += spec.n_buckets
        wbase += len(spec.windows)
    return tuple(out)


LAYOUT = _layout()
# The per-event path's view of LAYOUT: (bucket width, buckets, first counter, ((window buckets, first sum), ...))
HOT_LAYOUT = tuple(
    (bucket_us, n, 2 * base, tuple((wn, 2 * (wbase + i)) for i, wn in enumerate(win_n)))
    for bucket_us, n, base, wbase, win_n in LAYOUT
)
ALL_TIERS = tuple(range(len(LAYOUT)))
_FINEST_US = LAYOUT[0][0]
N_BUCKETS = sum(spec.n_buckets for spec in TIERS)
N_WINDOWS = sum(len(spec.windows) for spec in TIERS)


@dataclass(frozen=True, slots=True)
class RingView:
    """One tier as a reader sees it: its width, length, newest bucket and counts."""

    rings: Rings
    tier: int

    @property
    def bucket_us(self) -> int:
        return LAYOUT[self.tier][0]

    @property
    def n(self) -> int:
        return LAYOUT[self.tier][1]

    @property
    def head(self) -> int:
        return self.rings.heads[self.tier]

    def bucket(self, slot: int) -> tuple[int, int]:
        """(good, total) held in a slot."""
        at = 2 * (LAYOUT[self.tier][2] + slot)
        counts = self.rings.counts
        return counts[at], counts[at + 1]

    def bucket_at(self, slot: int) -> int:
        """The bucket index that `slot` holds now (the newest lap that maps to it)."""
        return self.head - (self.head - slot) % self.n

    def buckets(self) -> list[tuple[int, int, int]]:
        """Non-empty buckets as (bucket index, good, total), oldest first."""
        out = []
        for age in range(self.n - 1, -1, -1):
            k = self.head - age
            good, total = self.bucket(k % self.n)
            if total or good:
                out.append((k, good, total))
        return out


class Rings:
    __slots__ = ("counts", "heads", "heads_at", "win")

    def __init__(self, now_us: int) -> None:
        self.counts = array(WIDTHS[0], bytes(4 * N_BUCKETS))
        self.heads = [bucket_of(now_us, bucket_us) for bucket_us, *_ in LAYOUT]  # bucket holding `now`
        self.win = [0] * (2 * N_WINDOWS)  # window i: win[2i] good, win[2i+1] total
        self.heads_at: tuple[int, ...] | None = None  # counter index of each tier's head bucket (cache)

    def view(self, tier: int) -> RingView:
        return RingView(self, tier)

    def window(self, index: int) -> tuple[int, int]:
        """(good, total) of window `index` (in TIERS order)."""
        return self.win[2 * index], self.win[2 * index + 1]

    # -- incremental path -------------------------------------------------
    def add(self, ts_us: int, good: int, total: int, tiers: tuple[int, ...] = ALL_TIERS) -> None:
        """Count an event with `ts_us <= now` (the caller guarantees it) in `tiers` (all)."""
        heads, win = self.heads, self.win
        if tiers is ALL_TIERS and -(-ts_us // _FINEST_US) == heads[0]:
            # The common case: an event in the newest finest bucket is in every tier's
            # newest bucket (bucket edges of every tier are multiples of the finest) and
            # so in every window.
            counts = self.counts
            heads_at = self.heads_at
            if heads_at is None:
                heads_at = tuple(at0 + 2 * (heads[t] % n) for t, (_, n, at0, _) in enumerate(HOT_LAYOUT))
                self.heads_at = heads_at
            done = 0
            try:  # totals first: good <= total, so only a total can be the first to overflow
                for at in heads_at:
                    counts[at + 1] += total
                    done += 1
            except OverflowError:  # the first count past the counters' width: widen, then count the rest
                self.widen(counts[at + 1] + total)
                counts = self.counts
                for at in heads_at[done:]:
                    counts[at + 1] += total
            for at in heads_at:
                counts[at] += good
            for w in range(0, len(win), 2):
                win[w] += good
                win[w + 1] += total
            return
        for t in tiers:
            bucket_us, n, at0, windows = HOT_LAYOUT[t]
            k = -(-ts_us // bucket_us)
            age = heads[t] - k
            if age >= n:
                continue  # older than the longest window of this tier
            at = at0 + 2 * (k % n)
            counts = self.counts
            try:  # total first: good <= total, so only the total can be the first to overflow
                counts[at + 1] += total
            except OverflowError:  # the first count past the counters' width: widen, then count
                self.widen(counts[at + 1] + total)
                counts = self.counts
                counts[at + 1] += total
            counts[at] += good
            for window_n, w in windows:
                if age < window_n:
                    win[w] += good
                    win[w + 1] += total

    def advance(self, now_us: int) -> None:
        """Move every tier's head to the bucket holding `now_us`; buckets that leave
        windows are subtracted from their sums."""
        counts, heads, win = self.counts, self.heads, self.win
        for t, (bucket_us, n, base, wbase, win_n) in enumerate(LAYOUT):
            head = heads[t]
            new_head = -(-now_us // bucket_us)
            if new_head <= head:
                continue
            self.heads_at = None
            if new_head - head >= n:
                self._clear(t)
            else:
                for k in range(head + 1, new_head + 1):
                    for i in range(len(win_n)):
                        old = 2 * (base + (k - win_n[i]) % n)
                        w = 2 * (wbase + i)
                        win[w] -= counts[old]
                        win[w + 1] -= counts[old + 1]
                    s = 2 * (base + k % n)
                    counts[s] = 0
                    counts[s + 1] = 0
            heads[t] = new_head

    def _clear(self, tier: int) -> None:
        _, n, base, wbase, win_n = LAYOUT[tier]
        self.counts[2 * base : 2 * (base + n)] = array(self.counts.typecode, bytes(self.counts.itemsize * 2 * n))
        self.win[2 * wbase : 2 * (wbase + len(win_n))] = [0] * (2 * len(win_n))

    def widen(self, count: int) -> None:
        """Counters wide enough to hold `count`, values unchanged (exact; never narrows)."""
        current = WIDTHS.index(self.counts.typecode)
        for code in WIDTHS[current + 1 :]:
            if count <= _MAX[code]:
                self.counts = array(code, self.counts.tolist())
                return
        raise OverflowError(f"a bucket count of {count} does not fit 64 bits")

    # -- batch path ----------------------------------------------------------
    def view_counts(self) -> npt.NDArray[np.integer]:
        """Every counter as a numpy array sharing its memory (good, total interleaved)."""
        return np.frombuffer(self.counts, dtype=_DTYPES[self.counts.typecode])

    def add_batch(self, ts_us: Int64Array, good: Int64Array, total: Int64Array) -> None:
        """Count many events with `ts <= now` at once, then rebuild the window sums."""
        new = self.view_counts().astype(np.int64)
        for t, (bucket_us, n, base, _wbase, _win_n) in enumerate(LAYOUT):
            k = -(-ts_us // bucket_us)
            keep = (self.heads[t] - k) < n
            at = 2 * (base + k[keep] % n)
            _accumulate(new, at, good[keep])
            _accumulate(new, at + 1, total[keep])
        largest = int(new[1::2].max(initial=0))
        if largest > _MAX[self.counts.typecode]:
            self.widen(largest)
        self.view_counts()[:] = new
        self.rebuild_sums()

    def rebuild_sums(self) -> None:
        """Recompute every window's running sum from the buckets (after bulk loads)."""
        counts = self.view_counts().astype(np.int64)
        for t, (_bucket_us, n, base, wbase, win_n) in enumerate(LAYOUT):
            good = counts[2 * base : 2 * (base + n) : 2]
            total = counts[2 * base + 1 : 2 * (base + n) : 2]
            ages = (self.heads[t] - np.arange(n, dtype=np.int64)) % n
            for i, wn in enumerate(win_n):
                inside = ages < wn
                self.win[2 * (wbase + i)] = int(good[inside].sum())
                self.win[2 * (wbase + i) + 1] = int(total[inside].sum())

    def set_bucket(self, tier: int, k: int, good: int, total: int) -> None:
        """Restore one bucket's counts (recovery); call rebuild_sums() afterwards."""
        _, n, base, _, _ = LAYOUT[tier]
        if 0 <= self.heads[tier] - k < n:
            if total > _MAX[self.counts.typecode]:
                self.widen(total)
            at = 2 * (base + k % n)
            self.counts[at] = good
            self.counts[at + 1] = total

    def nbytes(self) -> int:
        return self.counts.itemsize * len(self.counts) + 8 * len(self.win)


def _accumulate(into: Int64Array, positions: Int64Array, values: Int64Array) -> None:
    """into[positions] += values, exactly; fast when float64 is provably exact."""
    if values.size == 0:
        return
    if int(values.sum()) < _FLOAT_EXACT_LIMIT:
        into += np.bincount(positions, weights=values, minlength=into.size).astype(np.int64)
    else:
        np.add.at(into, positions, values)
