"""Brute-force reference implementation of docs/semantics.md.

Written from the contract only: it scans every event for every figure and
computes in exact rational arithmetic (fractions.Fraction), so the tests can
compare the engine with what the definitions say, not with a re-derivation of
the engine's own code. It imports only the domain enums and the SLO model
from the app (to read definitions), never app.core.

Conventions:
- time is integer microseconds since the Unix epoch;
- a float given by the user (target_percentage, budget fractions, status
  thresholds) is read as the decimal number its repr shows (99.9 -> 999/10),
  i.e. the number the user wrote, not its binary approximation;
- ratios are exact Fractions; `as_float` converts for comparisons.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from app.domain.enums import Severity, SLOStatus, TimePeriod
from app.domain.models import SLO

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# The contract's rolling windows.
WINDOWS: dict[str, int] = {
    "5m": 5 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "6h": 6 * HOUR,
    "24h": DAY,
    "3d": 3 * DAY,
    "7d": 7 * DAY,
    "30d": 30 * DAY,
    "90d": 90 * DAY,
}

PERIOD_WINDOW: dict[TimePeriod, str] = {
    TimePeriod.ROLLING_1H: "1h",
    TimePeriod.ROLLING_24H: "24h",
    TimePeriod.ROLLING_7D: "7d",
    TimePeriod.ROLLING_30D: "30d",
    TimePeriod.ROLLING_90D: "90d",
}

HISTORY_RETENTION = 400 * DAY  # the contract's "History": daily counts for at least 400 days
MAX_SKEW = 5 * MINUTE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dec(x: float | int) -> Fraction:
    """The decimal number a user-written float stands for (99.9 -> 999/10)."""
    return Fraction(repr(float(x))) if isinstance(x, float) else Fraction(x)


def us_of(dt: datetime) -> int:
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def dt_of(ts_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ts_us)


def month_bounds(now_us: int) -> tuple[int, int]:
    """[start, end) of the UTC calendar month holding now."""
    d = dt_of(now_us)
    start = datetime(d.year, d.month, 1, tzinfo=UTC)
    end = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC)
    return us_of(start), us_of(end)


def quarter_bounds(now_us: int) -> tuple[int, int]:
    """[start, end) of the UTC calendar quarter holding now (Jan/Apr/Jul/Oct 1st)."""
    d = dt_of(now_us)
    first = {1: 1, 2: 1, 3: 1, 4: 4, 5: 4, 6: 4, 7: 7, 8: 7, 9: 7, 10: 10, 11: 10, 12: 10}[d.month]
    start = datetime(d.year, first, 1, tzinfo=UTC)
    end = datetime(d.year + 1, 1, 1, tzinfo=UTC) if first == 10 else datetime(d.year, first + 3, 1, tzinfo=UTC)
    return us_of(start), us_of(end)


def year_bounds(now_us: int) -> tuple[int, int]:
    """[start, end) of the UTC calendar year holding now."""
    d = dt_of(now_us)
    return us_of(datetime(d.year, 1, 1, tzinfo=UTC)), us_of(datetime(d.year + 1, 1, 1, tzinfo=UTC))


def calendar_bounds(now_us: int, period: TimePeriod) -> tuple[int, int]:
    return {
        TimePeriod.CALENDAR_MONTH: month_bounds,
        TimePeriod.CALENDAR_QUARTER: quarter_bounds,
        TimePeriod.CALENDAR_YEAR: year_bounds,
    }[period](now_us)


@dataclass(frozen=True)
class Event:
    slo_id: str
    ts_us: int
    good: int
    total: int


# -- window sums (brute force) --------------------------------------------------


def sums_between(events: Iterable[Event], lo_exclusive: int, hi_inclusive: int) -> tuple[int, int]:
    """(good, total) over events with lo < ts <= hi."""
    good = total = 0
    for e in events:
        if lo_exclusive < e.ts_us <= hi_inclusive:
            good += e.good
            total += e.total
    return good, total


def rolling_sums(events: Iterable[Event], now_us: int, length_us: int) -> tuple[int, int]:
    """Rolling window: now - W < ts <= now."""
    return sums_between(events, now_us - length_us, now_us)


def calendar_sums(events: Iterable[Event], now_us: int, period: TimePeriod) -> tuple[int, int]:
    """Calendar period: start <= ts <= now."""
    start, _ = calendar_bounds(now_us, period)
    return sums_between(events, start - 1, now_us)


def all_window_sums(events: Sequence[Event], now_us: int) -> dict[str, tuple[int, int]]:
    """Every rolling window plus "month", "quarter" and "year"."""
    out = {name: rolling_sums(events, now_us, w) for name, w in WINDOWS.items()}
    out["month"] = calendar_sums(events, now_us, TimePeriod.CALENDAR_MONTH)
    out["quarter"] = calendar_sums(events, now_us, TimePeriod.CALENDAR_QUARTER)
    out["year"] = calendar_sums(events, now_us, TimePeriod.CALENDAR_YEAR)
    return out


def period_of(period: TimePeriod, now_us: int) -> tuple[int, int]:
    """(start, length) of the SLO period at now: len(P) is the full month/quarter."""
    if period in PERIOD_WINDOW:
        w = WINDOWS[PERIOD_WINDOW[period]]
        return now_us - w, w
    start, end = calendar_bounds(now_us, period)
    return start, end - start


def period_sums(events: Sequence[Event], now_us: int, period: TimePeriod) -> tuple[int, int]:
    if period in PERIOD_WINDOW:
        return rolling_sums(events, now_us, WINDOWS[PERIOD_WINDOW[period]])
    return calendar_sums(events, now_us, period)


# -- acceptance ------------------------------------------------------------------


def accepted(ts_us: int, now_us: int, period: TimePeriod, max_skew_us: int = MAX_SKEW) -> bool:
    """now - retention < ts <= now + max_skew, with the history's retention (400
    days), which covers every period's window and calendar period."""
    del period
    return now_us - HISTORY_RETENTION < ts_us <= now_us + max_skew_us


# -- rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    severity: Severity
    long: str
    short: str
    fraction: Fraction | None = None  # of the period's budget
    threshold: Fraction | None = None  # explicit burn-rate threshold (an SLO override)

    @property
    def name(self) -> str:
        return f"{self.severity.value}-{self.long}-{self.short}"


# The contract's table.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(Severity.PAGE, "1h", "5m", fraction=Fraction(2, 100)),
    Rule(Severity.PAGE, "6h", "30m", fraction=Fraction(5, 100)),
    Rule(Severity.TICKET, "24h", "2h", fraction=Fraction(10, 100)),
    Rule(Severity.TICKET, "3d", "6h", fraction=Fraction(10, 100)),
)


def rules_of(slo: SLO) -> tuple[Rule, ...]:
    custom = tuple(
        Rule(Severity(r.severity), r.time_window, r.short_window or "", threshold=dec(r.burn_rate_threshold))
        for r in slo.alert_rules
    )
    if slo.burn_rate_rules is None:
        return DEFAULT_RULES + custom
    return custom + tuple(
        Rule(
            Severity(r.severity),
            r.long_window,
            r.short_window,
            fraction=None if r.budget_fraction is None else dec(r.budget_fraction),
            threshold=None if r.burn_rate_threshold is None else dec(r.burn_rate_threshold),
        )
        for r in slo.burn_rate_rules
    )


def rule_factor(rule: Rule, period_len_us: int) -> Fraction:
    if rule.threshold is not None:
        return rule.threshold
    assert rule.fraction is not None
    return rule.fraction * period_len_us / WINDOWS[rule.long]


def rule_applies(rule: Rule, period_len_us: int) -> bool:
    """A rule applies only when its long window is shorter than len(P)."""
    return WINDOWS[rule.long] < period_len_us


# -- error-budget policy ---------------------------------------------------------


@dataclass(frozen=True)
class BudgetRule:
    threshold: Fraction  # of the period's budget consumed
    severity: Severity

    @property
    def name(self) -> str:
        """budget-<percent>: the threshold as a percentage, in decimal, no trailing zeros."""
        percent = self.threshold * 100
        whole, rest = divmod(percent.numerator, percent.denominator)
        digits = ""
        while rest and len(digits) < 30:  # a decimal the user wrote ends
            rest *= 10
            digit, rest = divmod(rest, percent.denominator)
            digits += str(digit)
        return f"budget-{whole}" + (f".{digits}" if digits else "")


# The contract's default policy (0.5, 0.8, 1.0); severities as the engine documents them.
DEFAULT_BUDGET_RULES: tuple[BudgetRule, ...] = (
    BudgetRule(Fraction(1, 2), Severity.TICKET),
    BudgetRule(Fraction(4, 5), Severity.TICKET),
    BudgetRule(Fraction(1), Severity.PAGE),
)


def budget_rules_of(slo: SLO) -> tuple[BudgetRule, ...]:
    if slo.budget_policy is None:
        return DEFAULT_BUDGET_RULES
    return tuple(BudgetRule(dec(t.threshold), Severity(t.severity)) for t in slo.budget_policy)


def budget_alerts(slo: SLO, total: int, consumed: Fraction) -> list[str]:
    """The policy's rules whose threshold the consumed fraction has reached (data only)."""
    if total == 0:
        return []
    return [r.name for r in sorted(budget_rules_of(slo), key=lambda r: r.threshold) if consumed >= r.threshold]


# -- evaluation ------------------------------------------------------------------


@dataclass
class RefFiring:
    name: str
    severity: Severity
    factor: Fraction
    burn_long: Fraction
    burn_short: Fraction


@dataclass
class RefReport:
    now_us: int
    period_start_us: int
    period_len_us: int
    good: int
    total: int
    bad: int
    current_sli: Fraction | None  # percent
    allowed: Fraction  # total_budget
    consumed: Fraction  # error_budget_consumed
    remaining: Fraction  # error_budget_remaining
    remaining_budget: Fraction  # allowed - bad
    burn_rates: dict[str, Fraction]
    burn_rate: Fraction  # headline = 1h
    time_to_exhaustion_s: Fraction | None
    projected_exhaustion_us: Fraction | None
    firing: list[RefFiring] = field(default_factory=list)
    status: SLOStatus = SLOStatus.HEALTHY
    budget_alerts: list[str] = field(default_factory=list)  # budget-* rules that hold, lowest first


def budget_fraction_of(target_percentage: float) -> Fraction:
    """1 - target, target = target_percentage / 100."""
    return 1 - dec(target_percentage) / 100


def burn(good: int, total: int, one_minus_target: Fraction) -> Fraction:
    error_rate = Fraction(total - good, total) if total else Fraction(0)
    return error_rate / one_minus_target


def evaluate(
    events: Iterable[Event],
    slo: SLO,
    now_us: int,
) -> RefReport:
    """All per-SLO figures at now, from the events of this SLO (already accepted)."""
    mine = [e for e in events if e.slo_id == slo.slo_id]
    b = budget_fraction_of(slo.target_percentage)
    burn_rates = {name: burn(*rolling_sums(mine, now_us, w), b) for name, w in WINDOWS.items()}
    period = TimePeriod(slo.time_period)
    start, length = period_of(period, now_us)
    good, total = period_sums(mine, now_us, period)
    bad = total - good
    allowed = b * total
    consumed = Fraction(bad) / allowed if total else Fraction(0)
    remaining = 1 - consumed
    exhausted = total > 0 and remaining <= 0
    b1h = burn_rates["1h"]
    tte: Fraction | None
    if exhausted:
        tte = Fraction(0)
    elif b1h > 0 and remaining > 0:
        tte = remaining * Fraction(length, US) / b1h
    else:
        tte = None

    firing = []
    for rule in rules_of(slo):
        if not rule_applies(rule, length):
            continue
        factor = rule_factor(rule, length)
        bl, bs = burn_rates[rule.long], burn_rates[rule.short]
        short_total = rolling_sums(mine, now_us, WINDOWS[rule.short])[1]
        if short_total < slo.min_short_window_events:
            continue  # low-traffic guard: too few events in the short window to page on
        if bl > factor and bs > factor:
            firing.append(RefFiring(rule.name, rule.severity, factor, bl, bs))

    critical = dec(slo.critical_budget_ratio)
    warning = dec(slo.warning_budget_ratio)
    severities = {f.severity for f in firing}
    if exhausted:
        status = SLOStatus.EXHAUSTED
    elif remaining < critical or Severity.PAGE in severities:
        status = SLOStatus.CRITICAL
    elif remaining < warning or Severity.TICKET in severities:
        status = SLOStatus.WARNING
    else:
        status = SLOStatus.HEALTHY

    return RefReport(
        now_us=now_us,
        period_start_us=start,
        period_len_us=length,
        good=good,
        total=total,
        bad=bad,
        current_sli=Fraction(100 * good, total) if total else None,
        allowed=allowed,
        consumed=consumed,
        remaining=remaining,
        remaining_budget=allowed - bad,
        burn_rates=burn_rates,
        burn_rate=b1h,
        time_to_exhaustion_s=tte,
        projected_exhaustion_us=None if tte is None else now_us + tte * US,
        firing=firing,
        status=status,
        budget_alerts=budget_alerts(slo, total, consumed),
    )


# -- compliance reports (contract "Extensions" -> "Reports") -----------------------------


def iso_week_bounds(year: int, week: int) -> tuple[int, int]:
    """[start, end) of ISO week `week` of `year`: Monday 00:00 UTC for 7 days."""
    jan4 = datetime(year, 1, 4, tzinfo=UTC)  # ISO week 1 holds January 4th
    monday = jan4 - timedelta(days=jan4.weekday()) + timedelta(weeks=week - 1)
    return us_of(monday), us_of(monday + timedelta(days=7))


class WindowSums:
    """(good, total) over (a, t] for one SLO's events, by bisection on prefix sums."""

    def __init__(self, events: Iterable[Event]) -> None:
        mine = sorted(events, key=lambda e: e.ts_us)
        self.ts = [e.ts_us for e in mine]
        self.good = [0]
        self.total = [0]
        for e in mine:
            self.good.append(self.good[-1] + e.good)
            self.total.append(self.total[-1] + e.total)

    def between(self, lo_exclusive: int, hi_inclusive: int) -> tuple[int, int]:
        from bisect import bisect_right

        a, b = bisect_right(self.ts, lo_exclusive), bisect_right(self.ts, hi_inclusive)
        return self.good[b] - self.good[a], self.total[b] - self.total[a]


def window_start(name: str, t_us: int, bucket_us: dict[str, int] | None) -> int:
    """Exclusive far edge of window `name` at t: t - W exactly, or, with bucket widths
    (the contract's "Resolution"), the edge of the oldest whole bucket the window holds."""
    length = WINDOWS[name]
    if bucket_us is None:
        return t_us - length
    b = bucket_us[name]
    return (-(-t_us // b) - length // b) * b


def rules_firing_at(slo: SLO, sums: WindowSums, t_us: int, bucket_us: dict[str, int] | None) -> list[Rule]:
    """The SLO's burn-rate rules that fire at instant t (both burn rates above the factor)."""
    b = budget_fraction_of(slo.target_percentage)
    _, length = period_of(TimePeriod(slo.time_period), t_us)
    out = []
    for rule in rules_of(slo):
        if rule.threshold is None and not rule_applies(rule, length):
            continue
        factor = rule_factor(rule, length)
        short = sums.between(window_start(rule.short, t_us, bucket_us), t_us)
        if short[1] < slo.min_short_window_events:
            continue
        long = sums.between(window_start(rule.long, t_us, bucket_us), t_us)
        if burn(*long, b) > factor and burn(*short, b) > factor:
            out.append(rule)
    return out


@dataclass
class RefReportRow:
    slo_id: str
    good: int
    total: int
    sli: Fraction | None
    consumed: Fraction
    budget_minutes: Fraction
    consumed_minutes: Fraction
    worst_burn_rate_1h: Fraction | None
    alert_minutes: int
    pages: int
    tickets: int
    status: str


def report_row(
    slo: SLO,
    events: Sequence[Event],
    from_us: int,
    to_us: int,
    now_us: int,
    bucket_us: dict[str, int] | None = None,
) -> RefReportRow:
    """One SLO's report row over [from, to) at now, from its accepted events."""
    mine = [e for e in events if e.slo_id == slo.slo_id]
    good = sum(e.good for e in mine if from_us <= e.ts_us < to_us)
    total = sum(e.total for e in mine if from_us <= e.ts_us < to_us)
    bad = total - good
    b = budget_fraction_of(slo.target_percentage)
    target = dec(slo.target_percentage) / 100
    consumed = Fraction(bad) / (b * total) if total else Fraction(0)
    budget_minutes = b * Fraction(to_us - from_us, MINUTE)
    sums = WindowSums(mine)
    # Whole minutes [t - 1 min, t) of R that have closed by now, evaluated at t.
    end = min(to_us, now_us)
    minutes = [t for t in range(-(-from_us // MINUTE) * MINUTE, end + 1, MINUTE) if from_us + MINUTE <= t <= end]
    alert_minutes = pages = tickets = 0
    before = {r.name for r in rules_firing_at(slo, sums, minutes[0] - MINUTE, bucket_us)} if minutes else set()
    for t in minutes:
        firing = rules_firing_at(slo, sums, t, bucket_us)
        alert_minutes += bool(firing)
        for rule in firing:
            if rule.name not in before:
                pages += rule.severity == Severity.PAGE
                tickets += rule.severity == Severity.TICKET
        before = {r.name for r in firing}
    hours = [h for h in range(-(-from_us // HOUR) * HOUR, end + 1, HOUR) if from_us + HOUR <= h <= end]
    worst = max((burn(*sums.between(h - HOUR, h), b) for h in hours), default=None)
    if total == 0:
        status = "no_data"
    elif to_us <= now_us:
        status = "met" if Fraction(good, total) >= target else "failed"
    elif consumed >= 1:
        status = "failed"
    elif consumed >= Fraction(8, 10):
        status = "at_risk"
    elif consumed > 0 and now_us + (1 - consumed) * (to_us - from_us) / consumed < to_us:
        status = "at_risk"  # the contract's time to exhaustion at the interval's own burn rate
    else:
        status = "met"
    return RefReportRow(
        slo_id=slo.slo_id,
        good=good,
        total=total,
        sli=Fraction(100 * good, total) if total else None,
        consumed=consumed,
        budget_minutes=budget_minutes,
        consumed_minutes=consumed * budget_minutes,
        worst_burn_rate_1h=worst,
        alert_minutes=alert_minutes,
        pages=pages,
        tickets=tickets,
        status=status,
    )


def report_rollup(rows: Sequence[RefReportRow]) -> dict[str, object]:
    good = sum(r.good for r in rows)
    total = sum(r.total for r in rows)
    counts = {s: sum(r.status == s for r in rows) for s in ("met", "at_risk", "failed", "no_data")}
    judged = counts["met"] + counts["at_risk"] + counts["failed"]
    return {
        "good": good,
        "total": total,
        "sli": Fraction(100 * good, total) if total else None,
        **counts,
        "compliance_percentage": Fraction(100 * counts["met"], judged) if judged else None,
    }


def first_day_covered(now_us: int) -> int:
    """Start of the first whole UTC day after the oldest accepted instant."""
    oldest = now_us - HISTORY_RETENTION + 1
    return -(-oldest // DAY) * DAY


# -- alert backtesting (issue 17) ---------------------------------------------------------


@dataclass
class RefEpisode:
    rule: str
    severity: Severity
    opened_us: int
    resolved_us: int | None


def backtest_episodes(
    slo: SLO, events: Sequence[Event], from_us: int, to_us: int, now_us: int, bucket_us: dict[str, int] | None
) -> tuple[list[RefEpisode], int]:
    """The episodes the SLO's rules open at R's whole minutes (as report_row counts them), each
    resolved at the first later minute of R it does not fire; and the minutes any rule fires."""
    sums = WindowSums(e for e in events if e.slo_id == slo.slo_id)
    end = min(to_us, now_us)
    minutes = [t for t in range(-(-from_us // MINUTE) * MINUTE, end + 1, MINUTE) if from_us + MINUTE <= t <= end]
    episodes: list[RefEpisode] = []
    open_: dict[str, RefEpisode] = {}
    alert_minutes = 0
    before = {r.name for r in rules_firing_at(slo, sums, minutes[0] - MINUTE, bucket_us)} if minutes else set()
    for t in minutes:
        firing = rules_firing_at(slo, sums, t, bucket_us)
        alert_minutes += bool(firing)
        names = {r.name for r in firing}
        for name in sorted(before - names):
            if name in open_:
                open_.pop(name).resolved_us = t
        for rule in firing:
            if rule.name not in before:
                open_[rule.name] = RefEpisode(rule.name, rule.severity, t, None)
                episodes.append(open_[rule.name])
        before = names
    return episodes, alert_minutes
