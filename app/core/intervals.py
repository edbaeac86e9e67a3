"""Report intervals: a calendar week, month, quarter or year, or any `[from, to)`.

PERIOD texts: `2026-10` (month), `2026-Q4` (quarter), `2026` (year), `2026-W44`
(ISO week: Monday 00:00 UTC to the next Monday). Pure: no clock; a refusal is a
`BadInterval` naming the argument at fault (the edges turn it into their own
error: exit status 2, HTTP 422).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.core.calendar import Period, month_of, quarter_of, to_datetime, to_us, year_of
from app.core.windows import DAY_US, HISTORY_RETENTION_US

MIN_YEAR, MAX_YEAR = 1970, 9998  # a period's end must still be a datetime

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q(\d)$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
PERIOD_FORMS = "YYYY, YYYY-MM, YYYY-Qn or YYYY-Www"


class BadInterval(ValueError):
    """A report interval that cannot be used; `argument` names the input at fault."""

    def __init__(self, argument: str, reason: str) -> None:
        self.argument = argument
        self.reason = reason
        super().__init__(f"{argument}: {reason}")


@dataclass(frozen=True, slots=True)
class Interval:
    """The events with `from_us <= ts < to_us`; `label` is the PERIOD text (or "custom")."""

    from_us: int
    to_us: int
    label: str = "custom"

    @property
    def length_us(self) -> int:
        return self.to_us - self.from_us

    def closed(self, now_us: int) -> bool:
        """Every instant of the interval has passed: its report no longer changes."""
        return self.to_us <= now_us


def _at(year: int, month: int = 1, day: int = 1) -> int:
    return to_us(datetime(year, month, day, tzinfo=UTC))


def _year(text: str, argument: str) -> int:
    year = int(text)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadInterval(argument, f"year {year} is outside {MIN_YEAR}..{MAX_YEAR}")
    return year


def parse_period(text: str, argument: str = "period") -> Interval:
    """The interval a PERIOD text names (see the module doc)."""
    text = text.strip()
    if m := _YEAR.match(text):
        year = _year(m[1], argument)
        return Interval(_at(year), _at(year + 1), text)
    if m := _MONTH.match(text):
        year, month = _year(m[1], argument), int(m[2])
        if not 1 <= month <= 12:
            raise BadInterval(argument, f"{text!r}: month {month} is not 01..12")
        period = month_of(_at(year, month))
        return Interval(period.start_us, period.end_us, text)
    if m := _QUARTER.match(text):
        year, quarter = _year(m[1], argument), int(m[2])
        if not 1 <= quarter <= 4:
            raise BadInterval(argument, f"{text!r}: quarter {quarter} is not 1..4")
        period = quarter_of(_at(year, 3 * quarter - 2))
        return Interval(period.start_us, period.end_us, text)
    if m := _WEEK.match(text):
        year, week = _year(m[1], argument), int(m[2])
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise BadInterval(argument, f"{text!r}: ISO year {year} has no week {week}") from None
        start = _at(monday.year, monday.month, monday.day)
        return Interval(start, start + 7 * DAY_US, text)
    raise BadInterval(argument, f"{text!r} is not a period ({PERIOD_FORMS})")


def custom_interval(from_us: int, to_us: int, argument: str = "from/to") -> Interval:
    if from_us >= to_us:
        raise BadInterval(argument, f"from ({_text(from_us)}) must be before to ({_text(to_us)})")
    return Interval(from_us, to_us)


def _text(ts_us: int) -> str:
    return to_datetime(ts_us).isoformat().replace("+00:00", "Z")


def first_day_covered_us(now_us: int) -> int:
    """The first whole UTC day whose events the history still holds at `now_us`
    (events older than the retention are not accepted)."""
    oldest_us = now_us - HISTORY_RETENTION_US + 1
    return -(-oldest_us // DAY_US) * DAY_US


def check_retained(interval: Interval, now_us: int, argument: str = "period") -> None:
    """Refuse an interval that ends before the retained history begins."""
    first = first_day_covered_us(now_us)
    if interval.to_us <= first:
        raise BadInterval(
            argument,
            f"{interval.label if interval.label != 'custom' else _text(interval.from_us)} is beyond the history's "
            f"retention (400 days): the first day covered is {_text(first)[:10]}",
        )


def calendar_period(kind: str, ts_us: int) -> Period:
    """The calendar month or quarter ("month", "quarter", "year") holding ts_us."""
    return {"month": month_of, "quarter": quarter_of, "year": year_of}[kind](ts_us)


def period_label(kind: str, period: Period) -> str:
    """The PERIOD text of a calendar month, quarter or year."""
    start = to_datetime(period.start_us)
    if kind == "month":
        return f"{start.year:04d}-{start.month:02d}"
    if kind == "quarter":
        return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year:04d}"


REPORT_KINDS = ("month", "quarter")  # the calendar periods whose closed reports are published


def closed_since(kind: str, after_end_us: int, until_us: int) -> list[Interval]:
    """The calendar periods of `kind` ("month", "quarter") that end after `after_end_us` and
    by `until_us`, oldest first; only those still within the history's retention."""
    out: list[Interval] = []
    end_us = calendar_period(kind, until_us).start_us  # the end of the last period closed by until_us
    oldest_end_us = until_us - HISTORY_RETENTION_US
    while end_us > after_end_us and end_us > oldest_end_us:
        period = calendar_period(kind, end_us - 1)
        out.append(Interval(period.start_us, period.end_us, period_label(kind, period)))
        end_us = period.start_us
    return out[::-1]


def last_closed_end_us(kind: str, now_us: int) -> int:
    """The end of the last period of `kind` closed at `now_us` (the start of the current one)."""
    return calendar_period(kind, now_us).start_us
