"""The window catalogue: which rolling windows exist and how they are bucketed.

Every rolling window of the contract (5m ... 30d) sits on one *tier*: a ring of
equal-width time buckets. A tier serves several windows at once (the 1-minute
tier serves 1h, 2h, 6h and 24h), so an event touches four rings, not nine.

Bucket widths are no coarser than W/60 for every window W (the contract's
resolution rule) and all divide one day, so at a day-aligned instant every
window sum is exact, and calendar periods (which start at UTC midnight) align.
"""

from __future__ import annotations

from dataclasses import dataclass, field

US_PER_S = 1_000_000
MINUTE_US = 60 * US_PER_S
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US


@dataclass(frozen=True, slots=True)
class Window:
    """A rolling window `now - length < ts <= now`."""

    name: str
    length_us: int


W5M = Window("5m", 5 * MINUTE_US)
W30M = Window("30m", 30 * MINUTE_US)
W1H = Window("1h", HOUR_US)
W2H = Window("2h", 2 * HOUR_US)
W6H = Window("6h", 6 * HOUR_US)
W24H = Window("24h", DAY_US)
W3D = Window("3d", 3 * DAY_US)
W7D = Window("7d", 7 * DAY_US)
W30D = Window("30d", 30 * DAY_US)
W90D = Window("90d", 90 * DAY_US)

ROLLING_WINDOWS: tuple[Window, ...] = (W5M, W30M, W1H, W2H, W6H, W24H, W3D, W7D, W30D, W90D)
WINDOW_BY_NAME: dict[str, Window] = {w.name: w for w in ROLLING_WINDOWS}
WINDOW_NAMES: tuple[str, ...] = tuple(w.name for w in ROLLING_WINDOWS)
LONGEST_ROLLING_US = W90D.length_us


@dataclass(frozen=True, slots=True)
class TierSpec:
    """A ring of `n_buckets` buckets of `bucket_us` each, serving `windows`.

    Bucket k holds the events with `(k-1)*bucket_us < ts <= k*bucket_us`, the
    same half-open shape as the contract's windows.
    """

    bucket_us: int
    n_buckets: int
    windows: tuple[Window, ...]
    window_buckets: tuple[int, ...] = field(init=False)  # buckets in each window (one tuple, shared)

    def __post_init__(self) -> None:
        object.__setattr__(self, "window_buckets", tuple(w.length_us // self.bucket_us for w in self.windows))
        for w in self.windows:
            if w.length_us % self.bucket_us:
                raise ValueError(f"window {w.name} is not a whole number of buckets")
            if w.length_us > self.bucket_us * self.n_buckets:
                raise ValueError(f"window {w.name} is longer than its ring")
            if self.bucket_us * 60 > w.length_us:
                raise ValueError(f"window {w.name}: buckets coarser than W/60")

    def buckets_in(self, window: Window) -> int:
        return window.length_us // self.bucket_us


# 1,600 buckets in all: with 32-bit counters a fully loaded state is about 15 KiB.
# The 1-hour ring keeps 35 days and the 1-day ring 400 days for history and reports.
HISTORY_HOURS = 35 * 24
HISTORY_DAYS = 400
HISTORY_RETENTION_US = HISTORY_DAYS * DAY_US  # an event this old still counts in the daily history
TIERS: tuple[TierSpec, ...] = (
    TierSpec(5 * US_PER_S, 60, (W5M,)),
    TierSpec(30 * US_PER_S, 60, (W30M,)),
    TierSpec(MINUTE_US, 120, (W1H, W2H)),
    TierSpec(6 * MINUTE_US, 60, (W6H,)),
    TierSpec(24 * MINUTE_US, 60, (W24H,)),
    TierSpec(HOUR_US, HISTORY_HOURS, (W3D, W7D, W30D)),
    TierSpec(DAY_US, HISTORY_DAYS, (W90D,)),
)
MINUTE_TIER, HOUR_TIER, DAY_TIER = 2, 5, 6
HISTORY_TIERS = (MINUTE_TIER, 3, 4, HOUR_TIER, DAY_TIER)  # every ring of 1 min or more, finest first

# Each window's place among every tier's windows, in TIERS order (app/core/ring keeps their sums).
WINDOW_INDEX: dict[str, int] = {w.name: i for i, w in enumerate(w for tier in TIERS for w in tier.windows)}
