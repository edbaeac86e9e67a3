"""UTC calendar periods (month, quarter, year) on integer-microsecond timestamps.

Pure date arithmetic: no clock is read; callers pass `now_us`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from app.core.windows import US_PER_S

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_datetime(ts_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=ts_us)


def to_us(dt: datetime) -> int:
    return (dt - EPOCH) // _ONE_US


@lru_cache(maxsize=256)  # a batch formats the same instant for every status event
def isoformat_z(ts_us: int) -> str:
    """RFC 3339 in UTC with a `Z`, seconds precision unless fractional."""
    dt = to_datetime(ts_us)
    text = dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar period `[start_us, end_us)`."""

    start_us: int
    end_us: int

    @property
    def length_us(self) -> int:
        return self.end_us - self.start_us


def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


@lru_cache(maxsize=1024)  # one object per period, shared by every state that holds it
def _months(year: int, first_month: int, n_months: int) -> Period:
    start = _month_start(year, first_month)
    last = first_month + n_months
    end = _month_start(year + (last - 1) // 12, (last - 1) % 12 + 1)
    return Period(to_us(start), to_us(end))


def month_of(ts_us: int) -> Period:
    dt = to_datetime(ts_us)
    return _months(dt.year, dt.month, 1)


def quarter_of(ts_us: int) -> Period:
    dt = to_datetime(ts_us)
    return _months(dt.year, 3 * ((dt.month - 1) // 3) + 1, 3)


def year_of(ts_us: int) -> Period:
    return _months(to_datetime(ts_us).year, 1, 12)


def seconds(us: int) -> float:
    return us / US_PER_S
