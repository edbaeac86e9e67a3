"""Budget adjustments (maintenance windows, corrections): time ranges of event time
whose events count in no good/total of any window, period or report.

The contract ("Extensions" -> "Budget adjustments"): an adjustment is a one-off
`[start, end)` or a recurring `start`, `duration` and an RFC 5545 RRULE, and
names the SLOs it applies to (ids, or every SLO of a service). An event whose
timestamp falls in a range is excluded, whenever the adjustment was defined.

Pure: times are integer microseconds since the epoch, passed in. A refusal is a
`BadAdjustment` naming the field at fault (the edges turn it into a 422 or a CLI
error). RRULEs are bounded: FREQ no finer than HOURLY (and at most one BYMINUTE and
one BYSECOND value, so no sub-hourly occurrences) with a COUNT or an UNTIL, and at
most MAX_OCCURRENCES occurrences in all (hourly for 416 days, daily for 27 years):
expanding one is then cheap whatever the dates.
Occurrences are expanded by python-dateutil's rrule from `start` (UTC); dateutil
works in whole seconds, so `start`'s sub-second part is added back to each.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
from dateutil.rrule import rrule, rrulestr

from app.core.windows import DAY_US, HOUR_US, MINUTE_US, US_PER_S

_DURATION_PART = re.compile(r"(\d+)([a-zA-Z]+)")
_DURATION_UNITS_US = {"s": US_PER_S, "m": MINUTE_US, "h": HOUR_US, "d": DAY_US, "w": 7 * DAY_US}
DURATION_FORMS = "a whole number and a unit (s, m, h, d, w), e.g. 2h, 90m, 1h30m"
_ALLOWED_FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_OCCURRENCES = 10_000
Ranges = list[tuple[int, int]]


class BadAdjustment(ValueError):
    """An adjustment that cannot be used; `field` names the part at fault."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def parse_duration_us(text: str, field: str = "duration") -> int:
    """`2h`, `90m`, `1h30m`, `45s`, `1d`, `1w` -> microseconds (> 0)."""
    stripped = text.strip()
    pos = 0
    total_us = 0
    for m in _DURATION_PART.finditer(stripped):
        if m.start() != pos:
            break
        unit = m[2]
        if unit not in _DURATION_UNITS_US:
            raise BadAdjustment(field, f"unknown duration unit {unit!r} in {text!r}: expected {DURATION_FORMS}")
        total_us += int(m[1]) * _DURATION_UNITS_US[unit]
        pos = m.end()
    if pos != len(stripped) or not stripped:
        raise BadAdjustment(field, f"{text!r} is not a duration: expected {DURATION_FORMS}")
    if total_us <= 0:
        raise BadAdjustment(field, f"{text!r}: the duration must be longer than zero")
    return total_us


def _rrule_parts(text: str) -> dict[str, str]:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if not body or any(c in body for c in "\r\n:"):
        raise BadAdjustment("rrule", f"{text!r}: expected one RRULE (e.g. FREQ=WEEKLY;COUNT=10), no DTSTART")
    parts: dict[str, str] = {}
    for item in body.split(";"):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise BadAdjustment("rrule", f"{text!r}: {item!r} is not NAME=VALUE")
        parts[key.strip().upper()] = value.strip()
    return parts


def check_rrule(text: str, start_us: int) -> rrule:
    """The rule of a recurring adjustment, bounded (see the module doc), anchored at `start_us`."""
    rule = _rule(text, start_us)
    if sum(1 for _ in itertools.islice(rule, MAX_OCCURRENCES + 1)) > MAX_OCCURRENCES:
        raise BadAdjustment("rrule", f"{text!r}: more than {MAX_OCCURRENCES} occurrences; use a lower COUNT or UNTIL")
    return rule


def _rule(text: str, start_us: int) -> rrule:
    parts = _rrule_parts(text)
    freq = parts.get("FREQ", "").upper()
    if freq not in _ALLOWED_FREQS:
        raise BadAdjustment(
            "rrule", f"FREQ={freq or '(none)'}: recurrence must be at least hourly ({', '.join(_ALLOWED_FREQS)})"
        )
    for by in ("BYMINUTE", "BYSECOND"):
        if by in parts and "," in parts[by]:
            raise BadAdjustment("rrule", f"{by}={parts[by]}: more than one value recurs more often than hourly")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise BadAdjustment("rrule", "unbounded: give a COUNT or an UNTIL")
    try:
        rule = rrulestr(text.strip(), dtstart=_datetime(start_us - start_us % US_PER_S))
    except (ValueError, TypeError) as exc:
        raise BadAdjustment("rrule", f"{text!r}: {exc}") from None
    if not isinstance(rule, rrule):
        raise BadAdjustment("rrule", f"{text!r}: expected a single RRULE")
    return rule


def _datetime(ts_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ts_us)


def _us(dt: datetime) -> int:
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


@dataclass(frozen=True, slots=True)
class Adjustment:
    """`[start, start + duration)`, once or at every occurrence of `rrule`; applies to the SLOs
    in `slo_ids` and to every SLO of `service_name` (at least one of them is given)."""

    adjustment_id: str
    start_us: int
    duration_us: int
    rrule: str | None = None
    slo_ids: frozenset[str] = frozenset()
    service_name: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.duration_us <= 0:
            raise BadAdjustment("end", "the end must be after the start")
        if not self.slo_ids and not self.service_name:
            raise BadAdjustment("slo_ids", "give slo_ids or service_name (the SLOs the adjustment applies to)")
        if self.rrule is not None:
            check_rrule(self.rrule, self.start_us)

    def applies_to(self, slo_id: str, service_name: str) -> bool:
        return slo_id in self.slo_ids or (self.service_name is not None and self.service_name == service_name)

    def occurrence_starts(self, until_us: int) -> Iterator[int]:
        """The starts of the ranges, in order, up to (excluding) `until_us`."""
        if self.rrule is None:
            if self.start_us < until_us:
                yield self.start_us
            return
        offset_us = self.start_us % US_PER_S
        for dt in _rule(self.rrule, self.start_us):
            start_us = _us(dt) + offset_us
            if start_us >= until_us:
                return
            yield start_us

    def ranges(self, from_us: int, to_us: int) -> Ranges:
        """Its ranges `[s, e)` that meet `[from_us, to_us)`, clipped to it, in order."""
        out: Ranges = []
        for s in self.occurrence_starts(to_us):
            e = s + self.duration_us
            if e > from_us:
                out.append((max(s, from_us), min(e, to_us)))
        return out


def merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Disjoint, sorted, non-touching ranges covering the same instants."""
    out: Ranges = []
    for s, e in sorted(r for r in ranges if r[0] < r[1]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


@dataclass(frozen=True, slots=True)
class Exclusions:
    """The merged ranges excluded for one SLO within a horizon `[from_us, to_us)`."""

    from_us: int
    to_us: int
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]

    @classmethod
    def of(cls, adjustments: Iterable[Adjustment], from_us: int, to_us: int) -> Exclusions:
        ranges = merge(r for a in adjustments for r in a.ranges(from_us, to_us))
        return cls(
            from_us,
            to_us,
            np.asarray([s for s, _ in ranges], dtype=np.int64),
            np.asarray([e for _, e in ranges], dtype=np.int64),
        )

    @property
    def empty(self) -> bool:
        return self.starts.size == 0

    def ranges(self) -> Ranges:
        return list(zip(self.starts.tolist(), self.ends.tolist(), strict=True))

    def excluded(self, ts_us: int) -> bool:
        """Whether an event at `ts_us` (inside the horizon) is excluded."""
        i = int(np.searchsorted(self.starts, ts_us, side="right")) - 1
        return i >= 0 and ts_us < int(self.ends[i])

    def mask(self, ts_us: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """`excluded` for each timestamp of an array."""
        if self.empty:
            return np.zeros(ts_us.shape, dtype=bool)
        i = np.searchsorted(self.starts, ts_us, side="right") - 1
        safe = np.maximum(i, 0)
        return (i >= 0) & (ts_us < self.ends[safe])


def for_slo(adjustments: Sequence[Adjustment], slo_id: str, service_name: str) -> list[Adjustment]:
    """The adjustments that apply to one SLO."""
    return [a for a in adjustments if a.applies_to(slo_id, service_name)]
