"""Which timestamps an SLO accepts: `now - retention < ts <= now + max_skew`.

Retention covers the longest window the SLO needs: the 30-day rolling window,
and for calendar SLOs the whole current month or quarter as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.calendar import month_of, quarter_of
from app.core.windows import LONGEST_ROLLING_US, MINUTE_US
from app.domain.enums import TimePeriod
from app.domain.events import RejectReason, reject

DEFAULT_MAX_SKEW_US = 5 * MINUTE_US


@dataclass(frozen=True, slots=True)
class AcceptanceRange:
    """Accepted timestamps: `oldest_us <= ts <= newest_us`."""

    oldest_us: int
    newest_us: int

    def too_old(self, ts_us: int) -> bool:
        return ts_us < self.oldest_us

    def too_new(self, ts_us: int) -> bool:
        return ts_us > self.newest_us

    def check(self, ts_us: int) -> None:
        """RejectedEvent unless ts_us is in range."""
        if ts_us < self.oldest_us:
            detail = "timestamp is older than the SLO's retention"
            raise reject(RejectReason.TIMESTAMP_TOO_OLD, detail, "timestamp")
        if ts_us > self.newest_us:
            detail = "timestamp is beyond now + max skew"
            raise reject(RejectReason.TIMESTAMP_IN_FUTURE, detail, "timestamp")


def acceptance_range(now_us: int, period: TimePeriod, max_skew_us: int = DEFAULT_MAX_SKEW_US) -> AcceptanceRange:
    oldest = now_us - LONGEST_ROLLING_US + 1
    if period is TimePeriod.CALENDAR_MONTH:
        oldest = min(oldest, month_of(now_us).start_us)
    elif period is TimePeriod.CALENDAR_QUARTER:
        oldest = min(oldest, quarter_of(now_us).start_us)
    return AcceptanceRange(oldest, now_us + max_skew_us)
