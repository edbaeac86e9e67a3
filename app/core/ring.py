"""One tier: a ring of time buckets with incremental sums for its windows.

Adding an event touches one bucket and the running sum of each window that
still covers it: O(windows). Advancing time by one bucket subtracts, from each
window's running sum, the single bucket that leaves it, then clears the slot
for reuse: O(windows) per bucket crossed, and never more than one pass over
the ring however far time jumps. Nothing ever rescans a window.

Counts live in `array('I')` (4 bytes a slot) while every bucket fits 32 bits,
and are widened once, exactly, to `array('q')` (8 bytes) by the first count
that does not: most SLOs never need the wide form, so a fully loaded state
stays small. Either form can be viewed as a numpy array for batch ingestion.
"""

from __future__ import annotations

from array import array

import numpy as np
import numpy.typing as npt

from app.core.windows import TierSpec

Int64Array = npt.NDArray[np.int64]

# float64 adds integers exactly while every partial sum stays below 2**53.
_FLOAT_EXACT_LIMIT = 2**53
NARROW, WIDE = "I", "q"  # bucket counters: 32-bit unsigned until a count needs more
_NARROW_MAX = 2**32 - 1
_DTYPES = {NARROW: np.uint32, WIDE: np.int64}


def bucket_of(ts_us: int, bucket_us: int) -> int:
    """Index k of the bucket `((k-1)*bucket_us, k*bucket_us]` holding ts_us."""
    return -(-ts_us // bucket_us)


class Ring:
    __slots__ = ("bucket_us", "good", "head", "n", "spec", "total", "win_good", "win_n", "win_total")

    def __init__(self, spec: TierSpec, head: int) -> None:
        self.spec = spec
        self.bucket_us = spec.bucket_us
        self.n = spec.n_buckets
        self.good = array(NARROW, bytes(4 * self.n))
        self.total = array(NARROW, bytes(4 * self.n))
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
        try:  # total first: good <= total, so only the total can be the first to overflow
            self.total[slot] += total
        except OverflowError:  # the first count past 32 bits: widen, then count
            self.widen()
            self.total[slot] += total
        self.good[slot] += good
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

    def widen(self) -> None:
        """Counters from 32 to 64 bits, values unchanged (idempotent)."""
        if self.good.typecode == NARROW:
            self.good = array(WIDE, self.good.tolist())
            self.total = array(WIDE, self.total.tolist())

    def clear(self, head: int) -> None:
        zero = bytes(self.good.itemsize * self.n)
        self.good = array(self.good.typecode, zero)
        self.total = array(self.total.typecode, zero)
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
        new_good = _accumulate(self.view(self.good), slots, good)
        new_total = _accumulate(self.view(self.total), slots, total)
        if self.good.typecode == NARROW and int(new_total.max()) > _NARROW_MAX:
            self.widen()
        self.view(self.good)[:] = new_good
        self.view(self.total)[:] = new_total
        self.rebuild_sums()

    @staticmethod
    def view(counters: array[int]) -> npt.NDArray[np.integer]:
        """The counters as a numpy array sharing their memory."""
        return np.frombuffer(counters, dtype=_DTYPES[counters.typecode])

    def rebuild_sums(self) -> None:
        """Recompute every window's running sum from the buckets (after bulk loads)."""
        good = self.view(self.good).astype(np.int64)
        total = self.view(self.total).astype(np.int64)
        ages = (self.head - np.arange(self.n, dtype=np.int64)) % self.n
        for i, wn in enumerate(self.win_n):
            inside = ages < wn
            self.win_good[i] = int(good[inside].sum())
            self.win_total[i] = int(total[inside].sum())

    def set_bucket(self, k: int, good: int, total: int) -> None:
        """Restore one bucket's counts (recovery); call rebuild_sums() afterwards."""
        if 0 <= self.head - k < self.n:
            s = k % self.n
            if total > _NARROW_MAX:
                self.widen()
            self.good[s] = good
            self.total[s] = total

    def bucket_at(self, slot: int) -> int:
        """The bucket index that `slot` holds now (the newest lap that maps to it)."""
        return self.head - (self.head - slot) % self.n

    def nbytes(self) -> int:
        return self.good.itemsize * (len(self.good) + len(self.total))


def _accumulate(current: npt.NDArray[np.integer], slots: Int64Array, values: Int64Array) -> Int64Array:
    """current[slots] + values as a new int64 array, exactly; fast when float64 is provably exact."""
    out = current.astype(np.int64)
    if int(values.sum()) < _FLOAT_EXACT_LIMIT:
        out += np.bincount(slots, weights=values, minlength=out.size).astype(np.int64)
    else:
        np.add.at(out, slots, values)
    return out
