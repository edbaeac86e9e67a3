"""One tier: a ring of time buckets with incremental sums for its windows.

Adding an event touches one bucket and the running sum of each window that
still covers it: O(windows). Advancing time by one bucket subtracts, from each
window's running sum, the single bucket that leaves it, then clears the slot
for reuse: O(windows) per bucket crossed, and never more than one pass over
the ring however far time jumps. Nothing ever rescans a window.

Counts live in `array('q')` (8 bytes a slot) so that a tier's buckets are
compact and can be viewed as numpy arrays for batch ingestion.
"""

from __future__ import annotations

from array import array

import numpy as np
import numpy.typing as npt

from app.core.windows import TierSpec

Int64Array = npt.NDArray[np.int64]

# float64 adds integers exactly while every partial sum stays below 2**53.
_FLOAT_EXACT_LIMIT = 2**53


def bucket_of(ts_us: int, bucket_us: int) -> int:
    """Index k of the bucket `((k-1)*bucket_us, k*bucket_us]` holding ts_us."""
    return -(-ts_us // bucket_us)


class Ring:
    __slots__ = ("bucket_us", "good", "head", "n", "spec", "total", "win_good", "win_n", "win_total")

    def __init__(self, spec: TierSpec, head: int) -> None:
        self.spec = spec
        self.bucket_us = spec.bucket_us
        self.n = spec.n_buckets
        self.good = array("q", bytes(8 * self.n))
        self.total = array("q", bytes(8 * self.n))
        self.head = head  # index of the bucket that holds `now`
        self.win_n: tuple[int, ...] = tuple(spec.buckets_in(w) for w in spec.windows)
        self.win_good = [0] * len(self.win_n)
        self.win_total = [0] * len(self.win_n)

    # -- incremental path -------------------------------------------------
    def add(self, ts_us: int, good: int, total: int) -> None:
        """Count an event with `ts_us <= now` (the caller guarantees it)."""
        k = -(-ts_us // self.bucket_us)
        age = self.head - k
        n = self.n
        if age >= n:
            return  # older than the longest window of this tier
        slot = k % n
        self.good[slot] += good
        self.total[slot] += total
        win_n = self.win_n
        for i in range(len(win_n)):
            if age < win_n[i]:
                self.win_good[i] += good
                self.win_total[i] += total

    def advance(self, new_head: int) -> None:
        """Move `now` into bucket `new_head`; buckets that leave windows are subtracted."""
        head = self.head
        if new_head <= head:
            return
        n = self.n
        if new_head - head >= n:
            self.clear(new_head)
            return
        good, total, win_n = self.good, self.total, self.win_n
        win_good, win_total = self.win_good, self.win_total
        for k in range(head + 1, new_head + 1):
            for i in range(len(win_n)):
                old = (k - win_n[i]) % n
                win_good[i] -= good[old]
                win_total[i] -= total[old]
            s = k % n
            good[s] = 0
            total[s] = 0
        self.head = new_head

    def clear(self, head: int) -> None:
        zero = bytes(8 * self.n)
        self.good = array("q", zero)
        self.total = array("q", zero)
        self.win_good = [0] * len(self.win_n)
        self.win_total = [0] * len(self.win_n)
        self.head = head

    # -- reads -------------------------------------------------------------
    def buckets(self) -> list[tuple[int, int, int]]:
        """Non-empty buckets as (bucket index, good, total), oldest first."""
        out = []
        for age in range(self.n - 1, -1, -1):
            k = self.head - age
            s = k % self.n
            if self.total[s] or self.good[s]:
                out.append((k, self.good[s], self.total[s]))
        return out

    # -- batch path ----------------------------------------------------------
    def add_batch(self, ts_us: Int64Array, good: Int64Array, total: Int64Array) -> None:
        """Count many events with `ts <= now` at once, then rebuild the window sums."""
        k = -(-ts_us // self.bucket_us)
        keep = (self.head - k) < self.n
        if not keep.all():
            k, good, total = k[keep], good[keep], total[keep]
        if k.size == 0:
            return
        slots = k % self.n
        _accumulate(np.frombuffer(self.good, dtype=np.int64), slots, good)
        _accumulate(np.frombuffer(self.total, dtype=np.int64), slots, total)
        self.rebuild_sums()

    def rebuild_sums(self) -> None:
        """Recompute every window's running sum from the buckets (after bulk loads)."""
        good = np.frombuffer(self.good, dtype=np.int64)
        total = np.frombuffer(self.total, dtype=np.int64)
        ages = (self.head - np.arange(self.n, dtype=np.int64)) % self.n
        for i, wn in enumerate(self.win_n):
            inside = ages < wn
            self.win_good[i] = int(good[inside].sum())
            self.win_total[i] = int(total[inside].sum())

    def set_bucket(self, k: int, good: int, total: int) -> None:
        """Restore one bucket's counts (recovery); call rebuild_sums() afterwards."""
        if 0 <= self.head - k < self.n:
            s = k % self.n
            self.good[s] = good
            self.total[s] = total

    def bucket_at(self, slot: int) -> int:
        """The bucket index that `slot` holds now (the newest lap that maps to it)."""
        return self.head - (self.head - slot) % self.n

    def nbytes(self) -> int:
        return self.good.itemsize * (len(self.good) + len(self.total))


def _accumulate(into: Int64Array, slots: Int64Array, values: Int64Array) -> None:
    """into[slots] += values, exactly, fast when float64 is provably exact."""
    if int(values.sum()) < _FLOAT_EXACT_LIMIT:
        into += np.bincount(slots, weights=values, minlength=into.size).astype(np.int64)
    else:
        np.add.at(into, slots, values)
