"""Alert lifecycle scenarios: `replay --emit-all --alerts --tick` gives the exact
firing/resolved sequence a live worker publishes.

The expected instants are derived by hand from the contract (comments show the
arithmetic), and a property test checks every transition of random streams
against the brute-force reference (tests/reference.py).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from app.definitions import load_slos
from tests import reference as ref

T0 = 1_780_000_000 - 1_780_000_000 % 3600  # 2026-05-28T20:00:00Z: the incident starts here
MIN = 60


def iso(ts_s: int) -> str:
    return datetime.fromtimestamp(ts_s, UTC).isoformat().replace("+00:00", "Z")


def slos_yaml(**overrides: Any) -> str:
    extra = "".join(f"    {k}: {v}\n" for k, v in overrides.items())
    return (
        "slos:\n  - slo_id: api\n    slo_name: API availability\n    service_name: api\n"
        "    slo_type: AVAILABILITY\n    target_percentage: 99.9\n    time_period: ROLLING_30D\n" + extra
    )


def run(tmp_path: Path, slos: str, events: list[tuple[int, int, int]], *args: str) -> list[dict[str, Any]]:
    (tmp_path / "slos.yaml").write_text(slos)
    lines = [json.dumps({"slo_id": "api", "timestamp": t, "good": g, "total": n}) for t, g, n in events]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    out, err = io.StringIO(), io.StringIO()
    argv = ["replay", "--slos", str(tmp_path / "slos.yaml"), "--events", str(tmp_path / "events.jsonl")]
    code = main([*argv, "--emit-all", "--alerts", *args], out=out, err=err)
    assert code == 0, err.getvalue()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def alerts(objects: list[dict[str, Any]], budget: bool = False) -> list[tuple[str, str, str]]:
    """(timestamp, rule, state) of the alert events: burn-rate and staleness rules, or
    (`budget`) the error-budget policy's budget-* rules only."""
    return [
        (o["timestamp"], o["rule"], o["state"])
        for o in objects
        if o["event_type"] == "slo_alert" and o["rule"].startswith("budget-") == budget
    ]


def updates(objects: list[dict[str, Any]], at: str | None = None) -> list[dict[str, Any]]:
    """The `slo_status_update` of each status event (evaluated at `at`, if given), in order."""
    return [
        o["slo_status_update"]
        for o in objects
        if o["event_type"] == "slo_status_updated" and at in (None, o["evaluated_at"])
    ]


def per_minute(
    first_min: int, last_min: int, bad: dict[int, int], skip: range = range(0)
) -> list[tuple[int, int, int]]:
    """One event of 1,000 requests per minute, `bad[m]` of them failed."""
    return [(T0 + m * MIN, 1_000 - bad.get(m, 0), 1_000) for m in range(first_min, last_min) if m not in skip]


def test_fast_burn_pages_and_resolves_once_its_short_window_clears(tmp_path: Path) -> None:
    # 6 h of clean traffic, then 20% errors for 30 minutes (m = 0..29), then clean again.
    bad = {m: 200 for m in range(30)}
    out = run(tmp_path, slos_yaml(), per_minute(-360, 90, bad), "--tick", "60")
    seq = alerts(out)
    # page-1h-5m: threshold 0.02 * 720 = 14.4. After k bad minutes the 1h window holds
    # 200k bad of 60,000: burn = 200k / 60,000 / 0.001 = 3.33k > 14.4 from k = 5 (m = 4).
    # page-6h-30m: threshold 0.05 * 120 = 6; 6h burn = 200k / 360,000 / 0.001 > 6 from k = 11.
    # ticket-24h-2h: threshold 3; the 24h window holds the 6 h of history and k bad minutes:
    # 200k / (360 + k) > 3 from k = 6 (1,200 / 366 = 3.28).
    # ticket-3d-6h: threshold 1; 200k / (360 + k) > 1 from k = 2 (400 / 362 = 1.10).
    # The 5m window (now - 5m, now] lets go of the last bad minute (m = 29) at m = 34,
    # the 30m window at m = 59; the tick at that instant resolves (before its event).
    assert seq == [
        (iso(T0 + 1 * MIN), "ticket-3d-6h", "firing"),
        (iso(T0 + 4 * MIN), "page-1h-5m", "firing"),
        (iso(T0 + 5 * MIN), "ticket-24h-2h", "firing"),
        (iso(T0 + 10 * MIN), "page-6h-30m", "firing"),
        (iso(T0 + 34 * MIN), "page-1h-5m", "resolved"),
        (iso(T0 + 59 * MIN), "page-6h-30m", "resolved"),
    ]
    page = [o for o in out if o.get("rule") == "page-1h-5m"]
    firing, resolved = page
    assert firing["alert_id"] == resolved["alert_id"] and len(firing["alert_id"]) == 16
    assert firing["severity"] == "page" and (firing["long_window"], firing["short_window"]) == ("1h", "5m")
    assert firing["threshold"] == 14.4
    assert abs(firing["burn_rate_long"] - 50 / 3) < 1e-9  # 1h: 1,000 bad of 60,000
    assert abs(firing["burn_rate_short"] - 200.0) < 1e-9  # 5m: 200 bad of 1,000 (one event)
    assert (firing["started_at"], firing["resolved_at"]) == (iso(T0 + 4 * MIN), None)
    assert (resolved["started_at"], resolved["resolved_at"]) == (iso(T0 + 4 * MIN), iso(T0 + 34 * MIN))
    assert resolved["burn_rate_short"] == 0.0
    assert firing["annotations"]["summary"] == "API availability: error budget burning 16.7x over 1h"
    # the status line of the evaluation that paged says so, with concrete advice
    [status] = updates(out, iso(T0 + 4 * MIN))
    # 30d period = the 6 h of history: 0.1% of 365,000 = 365 bad events allowed, 1,000 spent
    assert (status["status"], status["total_events"] - status["good_events"]) == ("EXHAUSTED", 1_000)
    assert status["firing_alerts"] == ["page-1h-5m", "ticket-3d-6h", "budget-50", "budget-80", "budget-100"]
    # The default error-budget policy: the 30d period holds the 6 h of history (360,000
    # events, 360 bad allowed). m = 0: 200 bad of 361,000 allowed 361 -> 55% >= 50%;
    # m = 1: 400 of 362 -> 110%: 80% and 100% at once. Nothing leaves the 30d window.
    assert alerts(out, budget=True) == [
        (iso(T0), "budget-50", "firing"),
        (iso(T0 + 1 * MIN), "budget-80", "firing"),
        (iso(T0 + 1 * MIN), "budget-100", "firing"),
    ]
    assert (status["time_to_exhaustion"], status["time_to_exhaustion_seconds"]) == ("0m", 0.0)


def test_slow_burn_opens_a_ticket_and_never_pages(tmp_path: Path) -> None:
    # One event every 5 minutes over 2 days; from hour 24 on, 0.5% errors: burn rate 5,
    # above the tickets' 3 and 1 but below the pages' 14.4 and 6.
    events = [(T0 + i * 5 * MIN, 1_000 - (5 if i >= 0 else 0), 1_000) for i in range(-288, 288)]
    out = run(tmp_path, slos_yaml(min_short_window_events=0), events)
    seq = alerts(out)
    assert {rule for _, rule, _ in seq} == {"ticket-24h-2h", "ticket-3d-6h"}
    assert all(state == "firing" for _, _, state in seq)
    # After n bad events (the n-th at T0 + (n-1) * 5m), each 5 bad of 1,000:
    # ticket-3d-6h: the 3d window holds 288 + n events: burn 5n / (288 + n) > 1 from n = 73;
    # ticket-24h-2h: the 24h window holds 288 events: burn 5n / 288 > 3 from n = 173.
    # Their short windows (6h, 2h) hold bad events only by then: burn 5.
    starts = {rule: ts for ts, rule, _ in seq}
    assert starts == {"ticket-3d-6h": iso(T0 + 72 * 5 * MIN), "ticket-24h-2h": iso(T0 + 172 * 5 * MIN)}
    # 1,440 bad events against 0.1% of 576,000 allowed: the slow burn did spend the budget
    last = updates(out)[-1]
    assert (last["status"], last["total_events"] - last["good_events"]) == ("EXHAUSTED", 1_440)


def test_a_quiet_service_with_one_error_does_not_page(tmp_path: Path) -> None:
    # Three requests in five minutes, one failed: every burn rate is 333x, but the short
    # windows hold fewer than min_short_window_events (10).
    events = [(T0, 1, 1), (T0 + 60, 0, 1), (T0 + 120, 1, 1)]
    out = run(tmp_path, slos_yaml(), events, "--tick", "60")
    assert alerts(out) == []
    last = updates(out)[-1]
    assert last["burn_rates"]["5m"] > 300
    # ... while the error-budget policy has no traffic guard: 1 bad of 3 spends 333x the budget
    assert last["firing_alerts"] == ["budget-50", "budget-80", "budget-100"]


def test_stale_data_alerts_and_resolves_when_data_returns(tmp_path: Path) -> None:
    # Clean traffic until m = 39, nothing for 30 minutes, traffic again from m = 70.
    events = per_minute(0, 90, {}, skip=range(40, 70))
    out = run(tmp_path, slos_yaml(no_data_alert_after_s=600), events, "--tick", "60")
    # The tick 600 s after the last event (m = 39) finds it stale; the event at m = 70 resolves.
    assert alerts(out) == [
        (iso(T0 + 49 * MIN), "SLIDataStale", "firing"),
        (iso(T0 + 70 * MIN), "SLIDataStale", "resolved"),
    ]
    firing = next(o for o in out if o["event_type"] == "slo_alert")
    assert firing["severity"] == "ticket" and firing["long_window"] is None
    assert firing["annotations"]["description"].startswith("no event for 10m (alert after 10m)")
    [status] = updates(out, iso(T0 + 49 * MIN))
    assert status["status"] == "HEALTHY"  # staleness alerts but does not change the status


def test_stale_recommendation_says_how_long_and_where_to_look() -> None:
    from app.core.evaluation import evaluate
    from app.core.state import WindowState
    from app.domain.views import objective_of, recommendations, status_update

    slo = load_slos_text(slos_yaml(no_data_alert_after_s=600))
    state = WindowState(T0 * 1_000_000)
    for m in range(40):
        state.advance((T0 + m * MIN) * 1_000_000)
        state.add((T0 + m * MIN) * 1_000_000, 1_000, 1_000)
    state.advance((T0 + 39 * MIN + 599) * 1_000_000)
    assert recommendations(slo, evaluate(objective_of(slo), state)) == []  # 599 s: not yet
    state.advance((T0 + 52 * MIN) * 1_000_000)
    report = evaluate(objective_of(slo), state)
    update = status_update(slo, report)
    assert (update.alert_triggered, update.firing_alerts) == (True, ["SLIDataStale"])
    assert update.recommendations == [
        "SLIDataStale: no event for 13m; the figures are frozen until data returns: check the producers of api"
    ]


def load_slos_text(text: str) -> Any:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    return load_slos(Path(f.name))[0]


def test_tick_and_alerts_need_emit_all(tmp_path: Path) -> None:
    (tmp_path / "slos.yaml").write_text(slos_yaml())
    (tmp_path / "e.jsonl").write_text("")
    err = io.StringIO()
    argv = ["replay", "--slos", str(tmp_path / "slos.yaml"), "--events", str(tmp_path / "e.jsonl"), "--tick", "60"]
    assert main(argv, out=io.StringIO(), err=err) == 2
    assert "--tick: only with --emit-all" in err.getvalue()


# -- property: every transition agrees with the brute-force reference ------------------

minutes = st.lists(st.tuples(st.integers(0, 180), st.integers(0, 40), st.integers(1, 40)), min_size=1, max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(minutes)
def test_transitions_agree_with_the_reference(tmp_path: Path, spec: list[tuple[int, int, int]]) -> None:
    events = sorted((T0 + m * MIN, min(bad, n), n) for m, bad, n in spec)
    events = [(t, n - bad, n) for t, bad, n in events]
    yaml_text = slos_yaml(min_short_window_events=3, no_data_alert_after_s=900)
    out = run(tmp_path, yaml_text, events, "--tick", "60")
    slo = load_slos_text(yaml_text)
    ref_events = [ref.Event("api", t * 1_000_000, g, n) for t, g, n in events]
    open_at: dict[str, str] = {}
    stale_after_us = 900 * 1_000_000
    checkpoints: list[tuple[int, set[str]]] = []  # (evaluation instant, alerts open after it)

    def views(now_us: int) -> list[list[ref.Event]]:
        # An evaluation at `now` has counted every event stamped before it and, of those
        # stamped `now`, the ones that arrived before it (the timer evaluates before the
        # events of its instant; each event is evaluated as it arrives): some prefix.
        before = [e for e in ref_events if e.ts_us < now_us]
        at = [e for e in ref_events if e.ts_us == now_us]
        return [before + at[:j] for j in range(len(at) + 1)]

    def firing(view: list[ref.Event], now_us: int) -> set[str]:
        report = ref.evaluate(view, slo, now_us)
        names = {f.name for f in report.firing} | set(report.budget_alerts)
        if view and now_us - view[-1].ts_us >= stale_after_us:
            names.add("SLIDataStale")
        return names

    for o in out:
        if o["event_type"] == "slo_status_updated":  # a status event: its transitions follow it
            checkpoints.append((us(o["evaluated_at"]), set(open_at)))
            continue
        now_us = us(o["timestamp"])
        holds = [o["rule"] in firing(v, now_us) for v in views(now_us)]
        if o["state"] == "firing":
            assert o["rule"] not in open_at, "a second firing event in one episode"
            assert any(holds), o
            open_at[o["rule"]] = o["started_at"]
        else:
            assert open_at.pop(o["rule"]) == o["started_at"], "resolved without its firing"
            assert not all(holds), o
        checkpoints[-1] = (checkpoints[-1][0], set(open_at))
    # Completeness: after every evaluation, the open alerts are exactly what fires then.
    for now_us, opened in checkpoints:
        assert any(opened == firing(v, now_us) for v in views(now_us)), (now_us, opened)


def us(iso_text: str) -> int:
    return int(datetime.fromisoformat(iso_text).timestamp() * 1_000_000)
