"""Error-budget policy alerts (contract, "Error-budget policies"): `budget-<percent>`
episodes from `replay --emit-all --alerts --tick`, the stream a live worker publishes,
checked transition by transition against the brute-force reference
(tests/reference.py): the first crossing opens an episode, falling back below (bad
events leaving a rolling window, or diluted) resolves it, and a calendar period's end
resolves it whatever the new period holds. Plus the exact boundary and the names.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.cli import main
from app.core.alerts import AlertBook, Condition, step
from app.core.budget import BudgetRatio, period_budget
from app.core.enums import AlertState, Severity
from app.core.policy import BudgetThreshold, budget_rule_name, reaches
from app.definitions import parse_slo
from app.domain.models import SLO
from app.errors import InvalidDefinition
from app.openslo import export_slo, import_documents
from app.topology import parse_topology
from tests import reference as ref

MIN = 60
US = 1_000_000
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize(
    ("threshold", "name"),
    [(0.5, "budget-50"), (0.8, "budget-80"), (1.0, "budget-100"), (0.125, "budget-12.5"), (10, "budget-1000")],
)
def test_budget_rule_names_are_the_percent_written(threshold: float, name: str) -> None:
    assert budget_rule_name(threshold) == name == ref.BudgetRule(ref.dec(threshold), Severity.PAGE).name


def test_reaching_a_threshold_is_decided_exactly_at_equality() -> None:
    # 91.876%: 1 - 0.91876 = 0.08124 exactly, so 4,062 bad of 100,000 is exactly half the
    # budget (8,124 allowed); in floats it is 0.49999999999999994.
    ratio = BudgetRatio.of(91.876)
    budget = period_budget(100_000 - 4_062, 100_000, ratio)
    assert budget.consumed_ratio < 0.5
    assert reaches(budget, 0.5) and not reaches(period_budget(100_000 - 4_061, 100_000, ratio), 0.5)
    assert not reaches(period_budget(0, 0, ratio), 0.5)  # no data, nothing consumed


def test_a_calendar_episode_ends_with_its_period_even_when_the_next_one_reaches_it_again() -> None:
    book = AlertBook()
    c = Condition.of_budget(BudgetThreshold(0.5, Severity.TICKET))
    [fired] = step(book, [c], 100, period_start_us=0)
    assert (fired.state, fired.episode) == (AlertState.FIRING, 1)
    assert step(book, [c], 200, period_start_us=0) == []  # the same period: the episode goes on
    ended, again = step(book, [c], 300, period_start_us=250)  # a new period that reached it too
    assert (ended.state, ended.started_us, ended.resolved_us, ended.episode) == (AlertState.RESOLVED, 100, 300, 1)
    assert (again.state, again.started_us, again.episode) == (AlertState.FIRING, 300, 2)
    assert step(book, [c], 400, period_start_us=None) == []  # a rolling period has no such end


def test_a_policy_with_thresholds_out_of_order_is_kept_sorted() -> None:
    slo = slo_of("CALENDAR_MONTH", [(2.0, "page", "b"), (0.25, "ticket", "a")])
    assert [t.name for t in slo.policy()] == ["budget-25", "budget-200"]
    assert slo.budget_action("budget-200") == "b" and slo.budget_action("budget-80") is None


# -- sequences against the reference ---------------------------------------------------


def slo_of(period: str, policy: list[tuple[float, str, str]] | None, target: float = 99.0) -> SLO:
    data: dict[str, Any] = {
        "slo_id": "api",
        "slo_name": "API",
        "service_name": "api",
        "slo_type": "AVAILABILITY",
        "target_percentage": target,
        "time_period": period,
        "no_data_alert_after_s": 0,
    }
    if policy is not None:
        data["budget_policy"] = [{"threshold": t, "severity": s, "action": a} for t, s, a in policy]
    return parse_slo(data)


def replay(tmp_path: Path, slo: SLO, events: list[tuple[int, int, int]], until_s: int) -> list[dict[str, Any]]:
    (tmp_path / "slos.yaml").write_text(json.dumps({"slos": [slo.model_dump(mode="json")]}))
    lines = [json.dumps({"slo_id": "api", "timestamp": t, "good": g, "total": n}) for t, g, n in events]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    out, err = io.StringIO(), io.StringIO()
    argv = ["replay", "--slos", str(tmp_path / "slos.yaml"), "--events", str(tmp_path / "events.jsonl")]
    argv += ["--emit-all", "--alerts", "--tick", "60", "--at", str(until_s)]
    assert main(argv, out=out, err=err) == 0, err.getvalue()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * US)


def check_against_reference(out: list[dict[str, Any]], slo: SLO, events: list[tuple[int, int, int]]) -> int:
    """Every budget-* transition and, after every evaluation, the open episodes, against
    what the reference says holds. Returns the number of budget episodes opened."""
    ref_events = [ref.Event("api", t * US, g, n) for t, g, n in events]
    calendar = slo.time_period.is_calendar
    open_at: dict[str, int] = {}  # rule -> started_us
    checkpoints: list[tuple[int, dict[str, int]]] = []
    opened = 0

    def views(now_us: int) -> list[list[ref.Event]]:
        # an evaluation at `now` has counted the events stamped before it and some of those
        # stamped at `now` (the timer evaluates before the events of its instant)
        before = [e for e in ref_events if e.ts_us < now_us]
        at = [e for e in ref_events if e.ts_us == now_us]
        return [before + at[:j] for j in range(len(at) + 1)]

    def holds(view: list[ref.Event], now_us: int) -> set[str]:
        return set(ref.evaluate(view, slo, now_us).budget_alerts)

    def period_start(now_us: int) -> int:
        return ref.calendar_bounds(now_us, slo.time_period)[0] if calendar else -1

    for o in out:
        if o["event_type"] == "slo_status_updated":
            checkpoints.append((us(o["evaluated_at"]), dict(open_at)))
            continue
        if not o["rule"].startswith("budget-"):
            continue
        now_us = us(o["timestamp"])
        now_holds = [o["rule"] in holds(v, now_us) for v in views(now_us)]
        if o["state"] == "firing":
            assert o["rule"] not in open_at, "a second firing event in one episode"
            assert any(now_holds), o  # the threshold is reached
            assert o["threshold"] == float(next(t for t in slo.policy() if t.name == o["rule"]).threshold)
            assert o["action"] == slo.budget_action(o["rule"])
            open_at[o["rule"]] = us(o["started_at"])
            opened += 1
        else:
            started = open_at.pop(o["rule"])
            assert us(o["started_at"]) == started, "resolved without its firing"
            period_ended = started < period_start(now_us)
            assert period_ended or not all(now_holds), o  # fell back below, or the period ended
        checkpoints[-1] = (checkpoints[-1][0], dict(open_at))
    # Completeness: after every evaluation the open episodes are exactly the thresholds
    # reached, each opened within the current calendar period.
    for now_us, episodes in checkpoints:
        assert any(set(episodes) == holds(v, now_us) for v in views(now_us)), (now_us, episodes)
        assert all(started >= period_start(now_us) for started in episodes.values()), (now_us, episodes)
    return opened


POLICIES = st.one_of(
    st.none(),
    st.lists(
        st.tuples(st.sampled_from([0.1, 0.25, 0.5, 0.8, 1.0, 1.5, 3.0]), st.sampled_from(["page", "ticket"])),
        unique_by=lambda t: t[0],
        max_size=3,
    ).map(lambda ts: [(t, s, f"do {t}") for t, s in ts]),
)
# (minute, bad, total): 1% budget, so a few bad events in a few hundred cross thresholds
MINUTES = st.lists(st.tuples(st.integers(0, 150), st.integers(0, 3), st.integers(1, 100)), min_size=1, max_size=40)


@PROPS
@given(spec=MINUTES, policy=POLICIES)
def test_rolling_hour_budget_alerts_agree_with_the_reference(
    tmp_path: Path, spec: list[tuple[int, int, int]], policy: list[tuple[float, str, str]] | None
) -> None:
    """ROLLING_1H, over 2.5 hours: bad events leave the hour and the episodes resolve."""
    t0 = 1_780_000_000 - 1_780_000_000 % 3600
    events = sorted((t0 + m * MIN, n - min(bad, n), n) for m, bad, n in spec)
    slo = slo_of("ROLLING_1H", policy)
    out = replay(tmp_path, slo, events, t0 + 4 * 3600)  # ticks go on 90 min past the last event
    check_against_reference(out, slo, events)


@PROPS
@given(spec=MINUTES, policy=POLICIES, boundary=st.sampled_from([(2026, 11), (2027, 1), (2026, 4)]))
def test_calendar_budget_alerts_end_with_the_period(
    tmp_path: Path, spec: list[tuple[int, int, int]], policy: list[tuple[float, str, str]] | None, boundary: Any
) -> None:
    """CALENDAR_MONTH / QUARTER over a period boundary (minute 75 is the new period's
    first instant): episodes resolve at the first evaluation of the new period, even with
    no event then, and open again there only when the new period reaches them."""
    year, month = boundary
    start = int(datetime(year, month, 1, tzinfo=UTC).timestamp())
    t0 = start - 75 * MIN
    events = sorted((t0 + m * MIN, n - min(bad, n), n) for m, bad, n in spec)
    for period in ("CALENDAR_MONTH", "CALENDAR_QUARTER"):
        slo = slo_of(period, policy)
        out = replay(tmp_path, slo, events, t0 + 3 * 3600)
        opened = check_against_reference(out, slo, events)
        event(f"{period}: {'episodes' if opened else 'none'}")
        event(
            "an episode open at the boundary"
            if any(
                o["event_type"] == "slo_alert"
                and o["state"] == "resolved"
                and us(o["resolved_at"]) >= start * US
                and us(o["started_at"]) < start * US
                for o in out
            )
            else "none open at the boundary"
        )


def test_per_slo_overrides_change_thresholds_severities_and_actions(tmp_path: Path) -> None:
    """One bad minute at 1.2x the hour's budget: the default policy fires 50/80/100; an
    override at 25% (page) and 120% fires both of its own, with its own texts."""
    t0 = 1_780_000_000 - 1_780_000_000 % 3600
    events = [(t0, 10_000 - 120, 10_000)]  # 120 bad of 100 allowed: 120%
    default = replay(tmp_path, slo_of("ROLLING_1H", None), events, t0 + 60)
    fired = [(o["rule"], o["severity"]) for o in default if o["event_type"] == "slo_alert"]
    assert fired == [("budget-50", "ticket"), ("budget-80", "ticket"), ("budget-100", "page")]
    custom = slo_of("ROLLING_1H", [(1.2, "ticket", "call the owner"), (0.25, "page", "stop the rollout")])
    out = replay(tmp_path, custom, events, t0 + 60)
    fired_custom = [(o["rule"], o["severity"], o["action"]) for o in out if o["event_type"] == "slo_alert"]
    assert fired_custom == [("budget-25", "page", "stop the rollout"), ("budget-120", "ticket", "call the owner")]
    [status] = [o["slo_status_update"] for o in out if o["event_type"] == "slo_status_updated"][:1]
    assert status["firing_alerts"] == ["budget-25", "budget-120"]
    assert [r for r in status["recommendations"] if r.startswith("budget-")] == [
        "budget-120: 120.0% of the error budget consumed, at or above 120%: call the owner"
    ]
    none = replay(tmp_path, slo_of("ROLLING_1H", []), events, t0 + 60)
    assert [o for o in none if o["event_type"] == "slo_alert"] == []


# -- definitions: topology file and OpenSLO --------------------------------------------


def test_a_topology_files_policy_is_read_and_a_bad_one_names_the_field() -> None:
    slo = {
        "slo_id": "api",
        "slo_name": "API",
        "service_name": "api",
        "slo_type": "AVAILABILITY",
        "target_percentage": 99.0,
        "time_period": "ROLLING_1H",
        "budget_policy": [{"threshold": 0.9, "severity": "page", "action": "stop"}],
    }
    topology = parse_topology({"slos": [slo]})
    assert [t.name for t in topology.slos[0].policy()] == ["budget-90"]
    bad = {**slo, "budget_policy": [{"threshold": 11, "severity": "page", "action": "stop"}]}
    with pytest.raises(InvalidDefinition) as caught:
        parse_topology({"slos": [bad]})
    assert str(caught.value).startswith("SLO 'api': slos[0].budget_policy[0].threshold: ")


def test_openslo_carries_the_policy_in_an_annotation() -> None:
    slo = slo_of("CALENDAR_MONTH", [(0.9, "page", "stop the rollout")])
    document = export_slo(slo)
    assert json.loads(document["metadata"]["annotations"]["slo-engine/budget_policy"]) == [
        {"threshold": 0.9, "severity": "page", "action": "stop the rollout"}
    ]
    [back] = import_documents([("slo.yaml", [document])])
    assert back.budget_policy == slo.budget_policy
