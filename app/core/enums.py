"""The core's vocabulary: periods, statuses, severities, alert states, reject reasons.

The domain layer re-exports these; the core defines them so that it depends on
nothing above it.
"""

from __future__ import annotations

from enum import StrEnum


class SLOStatus(StrEnum):
    """Status of an SLO, in order of precedence (the first that holds wins)."""

    EXHAUSTED = "EXHAUSTED"
    CRITICAL = "CRITICAL"
    WARNING = "WARNING"
    HEALTHY = "HEALTHY"


class TimePeriod(StrEnum):
    ROLLING_1H = "ROLLING_1H"
    ROLLING_24H = "ROLLING_24H"
    ROLLING_7D = "ROLLING_7D"
    ROLLING_30D = "ROLLING_30D"
    ROLLING_90D = "ROLLING_90D"
    CALENDAR_MONTH = "CALENDAR_MONTH"
    CALENDAR_QUARTER = "CALENDAR_QUARTER"
    CALENDAR_YEAR = "CALENDAR_YEAR"

    @property
    def is_calendar(self) -> bool:
        return self in (TimePeriod.CALENDAR_MONTH, TimePeriod.CALENDAR_QUARTER, TimePeriod.CALENDAR_YEAR)

    @property
    def rolling_window(self) -> str | None:
        """The rolling window name for ROLLING_* periods, None for calendar ones."""
        return _ROLLING.get(self)


_ROLLING = {
    TimePeriod.ROLLING_1H: "1h",
    TimePeriod.ROLLING_24H: "24h",
    TimePeriod.ROLLING_7D: "7d",
    TimePeriod.ROLLING_30D: "30d",
    TimePeriod.ROLLING_90D: "90d",
}


class Severity(StrEnum):
    """Alert severity: a page wakes someone, a ticket waits for working hours."""

    PAGE = "page"
    TICKET = "ticket"


class AlertState(StrEnum):
    """Where a rule's alert is: an episode opens with FIRING and closes with RESOLVED."""

    FIRING = "firing"
    RESOLVED = "resolved"


class RejectReason(StrEnum):
    """Why an SLI event was not applied: the dead-letter reason, a stable code."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    INVALID_SLO_ID = "invalid_slo_id"
    INVALID_EVENT_ID = "invalid_event_id"
    NON_INTEGER_COUNT = "non_integer_count"
    NEGATIVE_COUNT = "negative_count"
    COUNT_OUT_OF_RANGE = "count_out_of_range"
    GOOD_EXCEEDS_TOTAL = "good_exceeds_total"
    INVALID_TIMESTAMP = "invalid_timestamp"
    NON_FINITE_TIMESTAMP = "non_finite_timestamp"
    UNKNOWN_SLO = "unknown_slo"
    DISABLED_SLO = "disabled_slo"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    DUPLICATE_EVENT = "duplicate_event"
