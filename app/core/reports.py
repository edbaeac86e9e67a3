"""Compliance reports: one row per SLO over an interval R, rollups per service and all.

The contract ("Extensions" -> "Reports"), per SLO from the events with
`from <= ts < to`:
`sli = 100 * good / total` (None without data),
`error_budget_consumed = bad / ((1 - target) * total)` (0 without data),
`budget_minutes = (1 - target) * len(R) / 60 s`,
`consumed_minutes = error_budget_consumed * budget_minutes`;
`worst_burn_rate_1h`, `alert_minutes`, `pages`, `tickets` come from the rules
evaluated at every whole minute of R (`Activity`: app/core/report_activity
computes it from raw events, the live worker accumulates it as minutes close).

Status: `no_data` without data; a closed interval (`to <= now`) is `met` when
`sli >= target`, else `failed`; an open one is `failed` when the budget is spent
(`consumed >= 1`), `at_risk` when `consumed >= 0.8` or the budget is projected to
run out before `to` at the interval's own burn rate so far, else `met`. The
projection is the contract's time to exhaustion with the interval's burn rate
(which, for an event budget, is `consumed` itself):
`now + (1 - consumed) * len(R) / consumed < to`.
Every boundary is decided exactly from the integer counts and the target's decimal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from app.core.budget import BudgetRatio
from app.core.exact import decimal
from app.core.intervals import Interval, first_day_covered_us
from app.core.windows import MINUTE_US

AT_RISK_CONSUMED = Fraction(8, 10)


class ReportStatus(StrEnum):
    MET = "met"
    AT_RISK = "at_risk"
    FAILED = "failed"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class Activity:
    """What the rules did in R: minutes with a page or ticket rule firing, episodes
    opened (per severity) and the worst 1h burn rate at a whole hour (None: R holds
    no whole hour yet)."""

    alert_minutes: int = 0
    pages: int = 0
    tickets: int = 0
    worst_burn_rate_1h: float | None = None

    def __add__(self, other: Activity) -> Activity:
        worst = [w for w in (self.worst_burn_rate_1h, other.worst_burn_rate_1h) if w is not None]
        return Activity(
            self.alert_minutes + other.alert_minutes,
            self.pages + other.pages,
            self.tickets + other.tickets,
            max(worst) if worst else None,
        )


@dataclass(frozen=True, slots=True)
class SloRow:
    slo_id: str
    good: int
    total: int
    sli: float | None
    target: float
    status: ReportStatus
    error_budget_consumed: float
    budget_minutes: float
    consumed_minutes: float
    worst_burn_rate_1h: float | None
    alert_minutes: int
    pages: int
    tickets: int
    excluded_good: int = 0  # events in R that budget adjustments exclude (in neither good nor total)
    excluded_total: int = 0


def report_status(
    good: int, total: int, target_percentage: float, ratio: BudgetRatio, interval: Interval, now_us: int
) -> ReportStatus:
    if total == 0:
        return ReportStatus.NO_DATA
    bad = total - good
    if interval.closed(now_us):
        met = 100 * good >= decimal(target_percentage) * total
        return ReportStatus.MET if met else ReportStatus.FAILED
    allowed = ratio.exact * total
    if bad >= allowed:
        return ReportStatus.FAILED
    if bad >= AT_RISK_CONSUMED * allowed:
        return ReportStatus.AT_RISK
    # consumed c = bad / allowed; now + (1 - c) * len(R) / c < to, times allowed (> 0):
    if bad > 0 and (allowed - bad) * interval.length_us < bad * (interval.to_us - now_us):
        return ReportStatus.AT_RISK
    return ReportStatus.MET


def slo_row(
    slo_id: str,
    target_percentage: float,
    interval: Interval,
    now_us: int,
    good: int,
    total: int,
    activity: Activity,
    excluded_good: int = 0,
    excluded_total: int = 0,
) -> SloRow:
    ratio = BudgetRatio.of(target_percentage)
    bad = total - good
    consumed = bad / (ratio.value * total) if total else 0.0
    budget_minutes = ratio.value * interval.length_us / MINUTE_US
    return SloRow(
        slo_id=slo_id,
        good=good,
        total=total,
        sli=100.0 * good / total if total else None,
        target=target_percentage,
        status=report_status(good, total, target_percentage, ratio, interval, now_us),
        error_budget_consumed=consumed,
        budget_minutes=budget_minutes,
        consumed_minutes=consumed * budget_minutes,
        worst_burn_rate_1h=activity.worst_burn_rate_1h,
        alert_minutes=activity.alert_minutes,
        pages=activity.pages,
        tickets=activity.tickets,
        excluded_good=excluded_good,
        excluded_total=excluded_total,
    )


@dataclass(frozen=True, slots=True)
class Rollup:
    """SLOs summed: good and total (a traffic-weighted SLI) and the count per status."""

    good: int
    total: int
    sli: float | None
    met: int
    at_risk: int
    failed: int
    no_data: int
    compliance_percentage: float | None  # 100 * met / (met + at_risk + failed); None when all lack data


def rollup(rows: Iterable[SloRow]) -> Rollup:
    good = total = 0
    counts = dict.fromkeys(ReportStatus, 0)
    for row in rows:
        good += row.good
        total += row.total
        counts[row.status] += 1
    judged = counts[ReportStatus.MET] + counts[ReportStatus.AT_RISK] + counts[ReportStatus.FAILED]
    return Rollup(
        good=good,
        total=total,
        sli=100.0 * good / total if total else None,
        met=counts[ReportStatus.MET],
        at_risk=counts[ReportStatus.AT_RISK],
        failed=counts[ReportStatus.FAILED],
        no_data=counts[ReportStatus.NO_DATA],
        compliance_percentage=100.0 * counts[ReportStatus.MET] / judged if judged else None,
    )


@dataclass(frozen=True, slots=True)
class Report:
    interval: Interval
    now_us: int
    closed: bool
    first_day_covered_us: int
    rows: tuple[SloRow, ...]
    services: tuple[tuple[str, Rollup], ...]  # (service name, its rollup), by name
    all: Rollup

    @property
    def complete(self) -> bool:
        """False when R starts before the retained history: its first days are missing."""
        return self.interval.from_us >= self.first_day_covered_us


def build_report(interval: Interval, now_us: int, rows: Sequence[tuple[str, SloRow]]) -> Report:
    """`rows`: (service name, row) for each SLO reported, in the order to show them."""
    by_service: dict[str, list[SloRow]] = {}
    for service, row in rows:
        by_service.setdefault(service, []).append(row)
    return Report(
        interval=interval,
        now_us=now_us,
        closed=interval.closed(now_us),
        first_day_covered_us=first_day_covered_us(now_us),
        rows=tuple(row for _, row in rows),
        services=tuple((name, rollup(by_service[name])) for name in sorted(by_service)),
        all=rollup(row for _, row in rows),
    )
