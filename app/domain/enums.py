"""Enumerations of the service spec."""

from __future__ import annotations

from enum import StrEnum


class SLOType(StrEnum):
    AVAILABILITY = "AVAILABILITY"
    LATENCY = "LATENCY"
    THROUGHPUT = "THROUGHPUT"
    ERROR_RATE = "ERROR_RATE"
    CUSTOM = "CUSTOM"


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
    CALENDAR_MONTH = "CALENDAR_MONTH"
    CALENDAR_QUARTER = "CALENDAR_QUARTER"

    @property
    def is_calendar(self) -> bool:
        return self in (TimePeriod.CALENDAR_MONTH, TimePeriod.CALENDAR_QUARTER)

    @property
    def rolling_window(self) -> str | None:
        """The rolling window name for ROLLING_* periods, None for calendar ones."""
        return _ROLLING.get(self)


_ROLLING = {
    TimePeriod.ROLLING_1H: "1h",
    TimePeriod.ROLLING_24H: "24h",
    TimePeriod.ROLLING_7D: "7d",
    TimePeriod.ROLLING_30D: "30d",
}


class Severity(StrEnum):
    """Alert severity: a page wakes someone, a ticket waits for working hours."""

    PAGE = "page"
    TICKET = "ticket"


class AlertState(StrEnum):
    """Where a rule's alert is: an episode opens with FIRING and closes with RESOLVED."""

    FIRING = "firing"
    RESOLVED = "resolved"
