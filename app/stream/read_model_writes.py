"""The read model's pending writes: the latest write of each Redis key, not a log.

A key written again before the writer sent it keeps only its newest value, so
however long Redis is away the pending writes hold at most one entry per key:
two per SLO (status, budget) and, per history hash, at most one field per ring
slot plus the deletions of older laps (collapsed into one range deletion past
a ring's worth). Everything here is idempotent, so a chunk that failed half
way is simply sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, Protocol

# Delete every field of hash KEYS[1] whose bucket index is below ARGV[1].
_DELETE_BELOW = """
local n = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if tonumber(f) < tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], f); n = n + 1 end
end
return n
"""

Render = Callable[[], str]  # a value rendered when it is written (the latest one only)


class Write(Protocol):
    def apply(self, pipe: Any, key: str) -> None: ...


class ValueWrite:
    """SET the rendered value, or DEL the key (`render` None)."""

    __slots__ = ("render",)

    def __init__(self, render: Render | None) -> None:
        self.render = render

    def apply(self, pipe: Any, key: str) -> None:
        if self.render is None:
            pipe.delete(key)
        else:
            pipe.set(key, self.render())


class HashWrite:
    """The fields of a history hash to set, and older laps' fields to delete.

    `n` is the ring's slot count: writing bucket k supersedes bucket k - n (the
    same slot's previous lap). `reset` deletes the key first (a deleted SLO)."""

    __slots__ = ("below", "dels", "n", "reset", "sets")

    def __init__(self, n: int, reset: bool = False) -> None:
        self.n = n
        self.reset = reset
        self.sets: dict[int, str] = {}
        self.dels: set[int] = set()
        self.below: int | None = None  # delete every field below this bucket index

    def put(self, k: int, value: str) -> None:
        self.sets[k] = value
        self._drop(k - self.n)

    def _drop(self, k: int) -> None:
        self.sets.pop(k, None)
        if self.below is not None and k < self.below:
            return
        self.dels.add(k)
        self._bound()

    def _bound(self) -> None:
        """Past a ring's worth of deletions (a long outage), delete by range instead: every
        deleted field is older than the ring, and so is every field below the newest one."""
        if len(self.dels) <= self.n:
            return
        self.below = max(self.dels) + 1
        self.dels.clear()
        self.sets = {k: v for k, v in self.sets.items() if k >= self.below}

    def after(self, older: HashWrite) -> HashWrite:
        """`older` (not written) followed by this one."""
        if self.reset:
            return self
        merged = HashWrite(self.n, older.reset)
        merged.below = max((b for b in (older.below, self.below) if b is not None), default=None)
        dropped = self.dels
        merged.sets = {
            k: v for k, v in older.sets.items() if k not in dropped and (merged.below is None or k >= merged.below)
        }
        merged.sets.update(self.sets)
        below = merged.below
        merged.dels = {k for k in (older.dels - self.sets.keys()) | self.dels if below is None or k >= below}
        merged._bound()
        return merged

    def apply(self, pipe: Any, key: str) -> None:
        if self.reset:
            pipe.delete(key)
        if self.sets:
            pipe.hset(key, mapping={str(k): v for k, v in self.sets.items()})
        if self.dels:
            pipe.hdel(key, *(str(k) for k in self.dels))
        if self.below is not None:
            pipe.eval(_DELETE_BELOW, 1, key, str(self.below))

    def __len__(self) -> int:
        return len(self.sets) + len(self.dels)


class PendingWrites:
    """Key -> its latest write, in first-staged order."""

    def __init__(self) -> None:
        self.writes: dict[str, ValueWrite | HashWrite] = {}

    def __len__(self) -> int:
        return len(self.writes)

    def set(self, key: str, render: Render | None) -> None:
        self.writes[key] = ValueWrite(render)

    def hash(self, key: str, n: int) -> HashWrite:
        write = self.writes.get(key)
        if not isinstance(write, HashWrite):
            write = self.writes[key] = HashWrite(n)
        write.n = n  # a reset staged by forget() did not know it
        return write

    def reset_hash(self, key: str) -> None:
        write = self.writes.get(key)
        self.writes[key] = HashWrite(write.n if isinstance(write, HashWrite) else 1, reset=True)

    def take(self, n_keys: int) -> list[tuple[str, ValueWrite | HashWrite]]:
        """Remove and return up to `n_keys` writes."""
        chunk = list(islice(self.writes.items(), n_keys))
        for key, _ in chunk:
            del self.writes[key]
        return chunk

    def put_back(self, chunk: list[tuple[str, ValueWrite | HashWrite]]) -> None:
        """Return a taken chunk that was not written (its keys are not pending any more)."""
        self.writes.update(chunk)

    def merged_with(self, newer: PendingWrites) -> PendingWrites:
        """These writes (not written) followed by `newer`'s: the newer write of a key wins,
        a hash's fields merge."""
        for key, write in newer.writes.items():
            older = self.writes.get(key)
            if isinstance(write, HashWrite) and isinstance(older, HashWrite):
                self.writes[key] = write.after(older)
            else:
                self.writes[key] = write
        return self

    def __iter__(self) -> Iterator[str]:
        return iter(self.writes)
