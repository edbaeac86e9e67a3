"""Which events an SLO accepts: the one place where every acceptance rule lives.

An event counts for an SLO when the SLO is known and enabled and its timestamp
satisfies `now - retention < ts <= now + max_skew`, where retention is the
history's (400 days, see app/core/windows): it covers every window, the
current calendar month, quarter and year, and beyond those the daily history,
so an event older than every window still counts there (and in reports). A verdict is the RejectReason of a
refusal, or None for an accepted event; callers decide what a refusal costs
(a dead letter, a line in a replay's error list).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.core.enums import RejectReason, TimePeriod
from app.core.windows import HISTORY_RETENTION_US, MINUTE_US

DEFAULT_MAX_SKEW_US = 5 * MINUTE_US

Verdict = RejectReason | None

DETAILS: dict[RejectReason, str] = {
    RejectReason.UNKNOWN_SLO: "no SLO {slo_id!r}",
    RejectReason.DISABLED_SLO: "SLO {slo_id!r} is disabled",
    RejectReason.TIMESTAMP_TOO_OLD: "timestamp is older than the history's retention (400 days)",
    RejectReason.TIMESTAMP_IN_FUTURE: "timestamp is beyond now + max skew",
    RejectReason.DUPLICATE_EVENT: "event_id {event_id!r} was already accepted for SLO {slo_id!r}",
}
FIELDS: dict[RejectReason, str] = {
    RejectReason.UNKNOWN_SLO: "slo_id",
    RejectReason.DISABLED_SLO: "slo_id",
    RejectReason.TIMESTAMP_TOO_OLD: "timestamp",
    RejectReason.TIMESTAMP_IN_FUTURE: "timestamp",
    RejectReason.DUPLICATE_EVENT: "event_id",
}


def describe(reason: RejectReason, slo_id: str, event_id: str | None = None) -> str:
    """The human detail of an acceptance verdict."""
    return DETAILS[reason].format(slo_id=slo_id, event_id=event_id)


def definition_verdict(known: bool, enabled: bool) -> Verdict:
    """An event for an SLO nobody defined, or one switched off, counts nowhere."""
    if not known:
        return RejectReason.UNKNOWN_SLO
    if not enabled:
        return RejectReason.DISABLED_SLO
    return None


@dataclass(frozen=True, slots=True)
class AcceptanceRange:
    """Accepted timestamps: `oldest_us <= ts <= newest_us`."""

    oldest_us: int
    newest_us: int

    def verdict(self, ts_us: int) -> Verdict:
        if ts_us < self.oldest_us:
            return RejectReason.TIMESTAMP_TOO_OLD
        if ts_us > self.newest_us:
            return RejectReason.TIMESTAMP_IN_FUTURE
        return None

    def too_old(self, ts_us: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """The batch form of the TIMESTAMP_TOO_OLD verdict (replay)."""
        return ts_us < self.oldest_us

    def too_new(self, ts_us: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """The batch form of the TIMESTAMP_IN_FUTURE verdict (replay)."""
        return ts_us > self.newest_us


def acceptance_range(now_us: int, period: TimePeriod, max_skew_us: int = DEFAULT_MAX_SKEW_US) -> AcceptanceRange:
    """The same for every period: the history retention covers each one's needs
    (`period` stays a parameter: a retention per period is the policy's to change)."""
    del period
    return AcceptanceRange(now_us - HISTORY_RETENTION_US + 1, now_us + max_skew_us)
