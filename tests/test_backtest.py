"""Alert backtesting against a brute-force per-minute evaluation (tests/reference.py).

The engine's backtest (app/core/backtest, numpy) of an SLO's current rules and of a
candidate rule set must give exactly the episodes (rule, opening minute, resolving minute)
and alert minutes the reference finds by evaluating every rule at every whole minute of R
on the engine's windows; and its pages and tickets equal the reference report's.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from app.backtest import with_rules
from app.cli import main
from app.core.backtest import backtest
from app.core.intervals import Interval
from app.domain.models import SLO, RuleSpec
from app.domain.views import objective_of
from tests import reference as ref
from tests.reference import DAY, HOUR, MINUTE, Event
from tests.test_properties import BUCKET_OF, PROPS, arrays, nows, rule_specs, slo_sets


@st.composite
def incidents(draw: st.DrawFn, slo: SLO, now: int, span: int) -> list[Event]:
    """Background traffic over R and its lookback, and bursts at k times the budget."""
    budget = 1 - slo.target_percentage / 100
    events = []
    for _ in range(draw(st.integers(0, 30))):
        n = draw(st.integers(1, 5000))
        events.append(Event(slo.slo_id, draw(st.integers(now - span - 3 * DAY, now)), n, n))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(now - span, now))
        length = draw(st.sampled_from([MINUTE, 5 * MINUTE, 30 * MINUTE, HOUR, 6 * HOUR]))
        k = draw(st.sampled_from([0.5, 1, 2, 3, 7, 15, 30]))
        for _ in range(draw(st.integers(1, 12))):
            total = draw(st.integers(1, 10_000))
            bad = min(total, round(total * budget * k * draw(st.sampled_from([0.8, 1.0, 1.2]))))
            events.append(Event(slo.slo_id, draw(st.integers(start, start + length)), total - bad, total))
    return [e for e in events if ref.accepted(e.ts_us, now, slo.time_period)]


def _key(episodes: list[Any]) -> list[tuple[int, str, str, int | None]]:
    return sorted((e.opened_us, e.rule, e.severity.value, e.resolved_us) for e in episodes)


def _check(slo: SLO, events: list[Event], interval: Interval, now: int) -> tuple[int, int]:
    objective = objective_of(slo)
    mine = [e for e in events if e.slo_id == slo.slo_id]
    got = backtest(objective, *arrays(mine), interval, now)
    want, minutes = ref.backtest_episodes(slo, mine, interval.from_us, interval.to_us, now, BUCKET_OF)
    assert _key(list(got.episodes)) == _key(want)
    assert got.alert_minutes == minutes
    row = ref.report_row(slo, mine, interval.from_us, interval.to_us, now, BUCKET_OF)
    assert (got.pages, got.tickets, got.alert_minutes) == (row.pages, row.tickets, row.alert_minutes)
    return got.pages, got.tickets


@settings(PROPS, max_examples=120)
@given(data=st.data())
def test_backtest_of_current_and_candidate_rules_matches_brute_force(data: st.DataObject) -> None:
    now = data.draw(nows(aligned=False), label="now")
    slo = data.draw(slo_sets(now), label="slo")[0].model_copy(update={"enabled": True, "min_short_window_events": 0})
    span = data.draw(st.sampled_from([HOUR, 6 * HOUR, DAY]), label="span")
    events = data.draw(incidents(slo, now, span), label="events")
    from_us = now - span + data.draw(st.integers(-MINUTE, MINUTE))
    to_us = now + data.draw(st.sampled_from([0, -7 * MINUTE, HOUR]))
    interval = Interval(from_us, to_us)
    pages, tickets = _check(slo, events, interval, now)
    event(f"current: pages {min(pages, 3)} tickets {min(tickets, 3)}")

    specs = data.draw(rule_specs(slo.time_period, now), label="candidate")
    if specs is None:
        return
    rules = [RuleSpec.model_validate(s) for s in specs]
    candidate = slo.model_copy(update={"burn_rate_rules": rules})
    assert with_rules(slo, rules) == objective_of(candidate)
    pages, tickets = _check(candidate, events, interval, now)
    event(f"candidate: pages {min(pages, 3)} tickets {min(tickets, 3)}")


def test_cli_backtest_reports_current_and_candidate_pages_with_times(tmp_path: Path) -> None:
    """A 99.9% 30-day SLO, 1000 events a minute from 08:01 to 12:00, 5% of them bad (50x the
    budget) from 10:01 to 10:20: the default rules' episodes, by hand and by the reference; a
    candidate with a single 100x page rule sends nothing."""
    slo = SLO(
        slo_id="bt",
        slo_name="bt",
        service_name="svc",
        slo_type="AVAILABILITY",
        target_percentage=99.9,
        time_period="ROLLING_30D",
        min_short_window_events=0,
    )
    base = ref.us_of(ref.dt_of(0).replace(year=2026, month=11, day=20, hour=8))
    events = [Event("bt", base + i * MINUTE, 1000, 1000) for i in range(1, 121)]  # 08:01..10:00 clean
    events += [Event("bt", base + 2 * HOUR + i * MINUTE, 950, 1000) for i in range(1, 21)]  # 10:01..10:20 at 5%
    events += [Event("bt", base + 2 * HOUR + i * MINUTE, 1000, 1000) for i in range(21, 121)]  # clean to 12:00
    lines = "".join(
        json.dumps({"slo_id": e.slo_id, "timestamp": e.ts_us / 1e6, "good": e.good, "total": e.total}) + "\n"
        for e in events
    )
    (tmp_path / "events.jsonl").write_text(lines)
    (tmp_path / "slos.yaml").write_text(yaml.safe_dump({"slos": [slo.model_dump(mode="json")]}))
    candidate = [{"severity": "page", "long_window": "1h", "short_window": "5m", "burn_rate_threshold": 100.0}]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"rules": candidate}))
    out, err = StringIO(), StringIO()
    argv = ["backtest", "--slos", str(tmp_path / "slos.yaml"), "--events", str(tmp_path / "events.jsonl")]
    assert main([*argv, "--rules", str(tmp_path / "rules.yaml")], out, err) == 0, err.getvalue()
    result = json.loads(out.getvalue())
    [row] = result["slos"]
    assert result["from"] == "2026-11-20T08:00:00Z" and result["to"] == result["at"] == "2026-11-20T12:00:00Z"
    now = base + 4 * HOUR
    want, minutes = ref.backtest_episodes(slo, events, base, now, now, BUCKET_OF)
    assert [(e["rule"], e["opened"], e["resolved"]) for e in row["current"]["episodes"]] == [
        (e.rule, _z(e.opened_us), None if e.resolved_us is None else _z(e.resolved_us)) for e in want
    ]
    assert row["current"]["alert_minutes"] == minutes > 0
    # By hand: the 1h window first holds more than 14.4x at 10:18 (18 bad minutes of 60: 900 / 60000
    # = 1.5% = 15x), and the 5m window drops under it at 10:24 (one bad minute of five: 10x); the
    # 6h window (history from 08:01) passes 6x at 10:17 (850 / 137000), the 30m window drops
    # under it at 10:47 (3 bad of 30 minutes: 5x); the tickets open at 10:03 (3d: 150 / 123000 =
    # 1.22x > 1) and 10:08 (24h: 400 / 128000 = 3.125x > 3) and still fire at 12:00.
    assert [(e["rule"], e["opened"][11:16], (e["resolved"] or "")[11:16]) for e in row["current"]["episodes"]] == [
        ("ticket-3d-6h", "10:03", ""),
        ("ticket-24h-2h", "10:08", ""),
        ("page-6h-30m", "10:17", "10:47"),
        ("page-1h-5m", "10:18", "10:24"),
    ]
    assert (row["current"]["pages"], row["current"]["tickets"]) == (2, 2)
    assert row["candidate"] == {"pages": 0, "tickets": 0, "alert_minutes": 0, "episodes": []}

    bad_rules = tmp_path / "bad-rules.yaml"
    bad_rules.write_text(yaml.safe_dump({"rules": [{**candidate[0], "long_window": "5m"}]}))
    err = StringIO()
    assert main([*argv, "--rules", str(bad_rules)], StringIO(), err) == 2
    assert "--rules" in err.getvalue() and "rules[0]" in err.getvalue()


def _z(ts_us: int) -> str:
    return ref.dt_of(ts_us).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("n", [0, 1])
def test_no_whole_minute_no_episode(n: int) -> None:
    slo = SLO(
        slo_id="x", slo_name="x", service_name="s", slo_type="LATENCY", target_percentage=99.0, time_period="ROLLING_7D"
    )
    now = 1_800_000_000 * 1_000_000
    events = [Event("x", now - 10, 0, 5)] * n
    got = backtest(objective_of(slo), *arrays(events), Interval(now - 30_000_000, now), now)
    assert (got.episodes, got.alert_minutes, got.pages) == ((), 0, 0)
    assert np.asarray(arrays(events)[0]).size == n
