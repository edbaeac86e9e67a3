"""The alert lifecycle: one state machine per rule of an SLO. Pure.

A rule is inactive until an evaluation finds it firing; its episode opens
(FIRING, `started_us` = that evaluation's instant, numbered per rule) and
stays open, whatever the evaluations in between say, until one finds it no
longer firing (RESOLVED, `resolved_us`). So each episode gives exactly one
firing and one resolved transition. The book of open episodes and episode
counts (`AlertBook`) is all the state there is: the worker keeps it in its
changelog, so a restart or failover continues an episode rather than opening
it again.

Besides the burn-rate rules, the error-budget policy's rules (`budget-<percent>`,
app/core/policy) hold while the period's consumed budget is at or above their
threshold, and one rule watches the data itself: `SLIDataStale` fires when an
SLO that had data received none for `stale_after_us`. A budget episode of a
calendar period ends with its period (`step`'s `period_start_us`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.core.enums import AlertState, Severity
from app.core.policy import BudgetThreshold, is_budget_rule
from app.core.rules import FiringRule

STALE_RULE = "SLIDataStale"
STALE_SEVERITY = Severity.TICKET


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule found firing at an evaluation: what its alert event says about it."""

    rule: str
    severity: Severity
    long_window: str | None = None
    short_window: str | None = None
    threshold: float | None = None

    @classmethod
    def of(cls, firing: FiringRule) -> Condition:
        r = firing.rule
        return cls(r.name, r.severity, r.long_window, r.short_window, firing.threshold)

    @classmethod
    def of_budget(cls, crossed: BudgetThreshold) -> Condition:
        """A budget threshold reached: no windows; `threshold` is the consumed fraction."""
        return cls(crossed.name, crossed.severity, None, None, crossed.threshold)


STALE = Condition(STALE_RULE, STALE_SEVERITY)


@dataclass(frozen=True, slots=True)
class OpenEpisode:
    condition: Condition
    started_us: int
    episode: int  # the rule's episode number: 1 for its first, 2 for the next...


Active = dict[str, OpenEpisode]  # rule name -> its open episode


@dataclass(slots=True)
class AlertBook:
    """An SLO's alert state: the open episodes, and how many each rule has opened.

    Episode numbers make an alert event's id deterministic: replaying the same
    input after a crash that lost the book's last write opens the same episode
    number again, so a duplicate carries the same id."""

    open: Active = field(default_factory=dict)
    opened: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Transition:
    condition: Condition
    state: AlertState
    started_us: int
    episode: int
    resolved_us: int | None = None

    @property
    def rule(self) -> str:
        return self.condition.rule


def is_stale(last_event_us: int | None, now_us: int, stale_after_us: int) -> bool:
    """No event for `stale_after_us` (0 = never stale). An SLO that never had data is
    not stale: there is nothing to have stopped."""
    return stale_after_us > 0 and last_event_us is not None and now_us - last_event_us >= stale_after_us


def conditions(firing: Iterable[FiringRule], stale: bool, budget: Iterable[BudgetThreshold] = ()) -> list[Condition]:
    """Burn-rate rules, then budget thresholds, then staleness."""
    out = [Condition.of(f) for f in firing]
    out.extend(Condition.of_budget(b) for b in budget)
    if stale:
        out.append(STALE)
    return out


def step(
    book: AlertBook, now: Sequence[Condition], now_us: int, period_start_us: int | None = None
) -> list[Transition]:
    """Advance every rule's state machine to an evaluation at `now_us` that found the
    `now` conditions firing. `period_start_us`: the start of the SLO's calendar period
    (None for a rolling one); a budget episode opened before it ends now, and opens
    again if its threshold is reached in the new period too. Updates `book` in place;
    returns the transitions, resolutions first, then new episodes in rule order."""
    active = book.open
    if not active and not now:
        return []  # the common case: nothing open, nothing firing
    current: Mapping[str, Condition] = {c.rule: c for c in now}
    out = []

    def ends(rule: str) -> bool:
        if rule not in current:
            return True
        return period_start_us is not None and is_budget_rule(rule) and active[rule].started_us < period_start_us

    for rule in [r for r in active if ends(r)]:
        e = active.pop(rule)
        out.append(Transition(e.condition, AlertState.RESOLVED, e.started_us, e.episode, now_us))
    for rule, condition in current.items():
        if rule not in active:
            number = book.opened[rule] = book.opened.get(rule, 0) + 1
            active[rule] = OpenEpisode(condition, now_us, number)
            out.append(Transition(condition, AlertState.FIRING, now_us, number))
    return out


def book_value(book: AlertBook) -> dict[str, object]:
    """The book as plain data (a changelog record's field)."""
    return {
        "open": {
            rule: [e.started_us, c.severity.value, c.long_window, c.short_window, c.threshold, e.episode]
            for rule, e in book.open.items()
            for c in (e.condition,)
        },
        "opened": dict(book.opened),
    }


def book_of(value: Mapping[str, object] | None) -> AlertBook:
    """The book a changelog record holds; an empty one for records written before alerting."""
    book = AlertBook()
    if not value:
        return book
    open_value = value.get("open") or {}
    opened_value = value.get("opened") or {}
    assert isinstance(open_value, dict) and isinstance(opened_value, dict)
    for rule, (started_us, severity, long_w, short_w, threshold, episode) in open_value.items():
        condition = Condition(
            str(rule),
            Severity(str(severity)),
            None if long_w is None else str(long_w),
            None if short_w is None else str(short_w),
            None if threshold is None else float(threshold),
        )
        book.open[str(rule)] = OpenEpisode(condition, int(started_us), int(episode))
    book.opened = {str(rule): int(n) for rule, n in opened_value.items()}
    return book
