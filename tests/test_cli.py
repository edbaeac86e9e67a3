"""`python -m app replay` end to end, as a subprocess on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.domain.messages import StatusEvent
from app.domain.models import DEFAULT_ACTIONS
from tests.stream.helpers import assert_matches_replay

ROOT = Path(__file__).resolve().parent.parent

SLOS_YAML = """\
slos:
  - slo_id: api-availability
    slo_name: API availability
    service_name: api
    slo_type: AVAILABILITY
    target_percentage: 99.9
    time_period: ROLLING_30D
  - slo_id: api-latency
    slo_name: API latency
    service_name: api
    slo_type: LATENCY
    target_percentage: 99.0
    time_period: CALENDAR_MONTH
  - slo_id: retired
    slo_name: Retired
    service_name: old
    slo_type: CUSTOM
    target_percentage: 90
    time_period: ROLLING_7D
    enabled: false
"""


def ev(slo_id: str, ts: str | int | float, good: int, total: int) -> str:
    return json.dumps({"slo_id": slo_id, "timestamp": ts, "good": good, "total": total})


# line numbers matter: they are asserted on stderr
EVENT_LINES = [
    ev("api-availability", "2026-03-05T00:00:00Z", 199_950, 200_000),  # 1
    ev("api-latency", "2026-02-28T23:00:00Z", 0, 100),  # 2: previous month
    "",  # 3: blank
    "not json",  # 4
    ev("api-availability", 1_773_142_200, 9_990, 10_000),  # 5: 2026-03-10T11:30:00Z as epoch seconds
    ev("retired", "2026-03-10T11:00:00Z", 1, 1),  # 6: disabled
    ev("api-latency", "2026-03-01T00:00:00Z", 1_000, 1_000),  # 7: first instant of March
    ev("no-such-slo", "2026-03-10T11:00:00Z", 1, 1),  # 8: unknown
    ev("api-availability", "2026-03-10T13:58:00+02:00", 990, 1_000),  # 9: 11:58Z
    ev("api-availability", "2026-03-10T11:00:00Z", 11, 10),  # 10: good > total
    ev("api-availability", "2025-02-03T12:00:00Z", 0, 5_000),  # 11: exactly 400 days before now
    ev("api-latency", "2026-03-10T12:00:00Z", 980, 1_000),  # 12: the newest: now
]

NOW = "2026-03-10T12:00:00Z"


def replay(
    tmp_path: Path,
    *args: str,
    slos: str | bytes = SLOS_YAML,
    events: list[str] | bytes | None = None,
    slos_path: Path | None = None,
    events_path: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    if slos_path is None:
        slos_path = tmp_path / "SLOS.yaml"
        if isinstance(slos, bytes):
            slos_path.write_bytes(slos)
        else:
            slos_path.write_text(slos, encoding="utf-8")
    if events_path is None:
        events_path = tmp_path / "EVENTS.jsonl"
        data = (
            events
            if isinstance(events, bytes)
            else ("\n".join(EVENT_LINES if events is None else events) + "\n").encode()
        )
        events_path.write_bytes(data)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "replay",
            "--slos",
            str(slos_path),
            "--events",
            str(events_path),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def objects(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def approx_dict(d: dict[str, Any]) -> dict[str, Any]:
    return {k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v for k, v in d.items()}


def check(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(obj) == set(expected)
    for key, want in expected.items():
        got = obj[key]
        if key == "burn_rates":
            assert got == approx_dict(want), key
        elif key in ("firing_alerts", "budget_alerts"):
            assert [approx_dict(a) for a in want] == got, key
        elif isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-12), key
        else:
            assert got == want, key


# 99.9% over 30 days at 12:00. Accepted: line 1 (200 000, 50 bad, 5.5 days ago),
# line 5 (10 000, 10 bad, 11:30: outside 30m), line 9 (1 000, 10 bad, 11:58).
AVAILABILITY = {
    "slo_id": "api-availability",
    "slo_name": "API availability",
    "service_name": "api",
    "current_sli": 100 * 210_930 / 211_000,
    "target_sli": 99.9,
    "status": "WARNING",  # remaining 141/211 is plenty, but ticket-3d-6h fires
    "error_budget_remaining": 141 / 211,
    "error_budget_consumed": 70 / 211,
    "burn_rate": 20 / 11_000 / 0.001,
    "burn_rates": {
        "5m": 10.0,
        "30m": 10.0,
        "1h": 20 / 11_000 / 0.001,
        "2h": 20 / 11_000 / 0.001,
        "6h": 20 / 11_000 / 0.001,
        "24h": 20 / 11_000 / 0.001,
        "3d": 20 / 11_000 / 0.001,
        "7d": 70 / 211_000 / 0.001,
        "30d": 70 / 211_000 / 0.001,
        "90d": 70 / 211_000 / 0.001,
    },
    # (141/211) * 2 592 000 s / (20/11) = 952 652.13 s
    "time_to_exhaustion_seconds": 141 / 211 * 2_592_000 / (20 / 11),
    "time_to_exhaustion": "11d",
    "projected_exhaustion": "2026-03-21T12:37:32.132701Z",
    "total_budget": 211.0,
    "consumed_budget": 70,
    "remaining_budget": 141.0,
    "firing_alerts": [
        {
            "name": "ticket-3d-6h",
            "severity": "ticket",
            "long_window": "3d",
            "short_window": "6h",
            "threshold": 1.0,
            "burn_rate_long": 20 / 11_000 / 0.001,
            "burn_rate_short": 20 / 11_000 / 0.001,
        }
    ],
    "budget_alerts": [],  # 33% of the budget consumed: below the default policy's 50%
    "last_updated": NOW,
    "excluded_good": 0,  # no budget adjustment in the file
    "excluded_total": 0,
}

# 99% over March (31 days). Month: line 7 (1 000 good, Mar 1st 00:00) + line 12
# (1 000, 20 bad): 20 bad of 20 allowed -> exhausted. Line 2 (Feb 28th) is only in 30d.
LATENCY = {
    "slo_id": "api-latency",
    "slo_name": "API latency",
    "service_name": "api",
    "current_sli": 99.0,
    "target_sli": 99.0,
    "status": "EXHAUSTED",
    "error_budget_remaining": 0.0,
    "error_budget_consumed": 1.0,
    "burn_rate": 2.0,
    "burn_rates": {
        "5m": 2.0,
        "30m": 2.0,
        "1h": 2.0,
        "2h": 2.0,
        "6h": 2.0,
        "24h": 2.0,
        "3d": 2.0,
        "7d": 2.0,
        "30d": 120 / 2_100 / 0.01,
        "90d": 120 / 2_100 / 0.01,
    },
    "time_to_exhaustion_seconds": 0.0,
    "time_to_exhaustion": "0m",  # exhausted
    "projected_exhaustion": NOW,
    "total_budget": 20.0,
    "consumed_budget": 20,
    "remaining_budget": 0.0,
    "firing_alerts": [
        {
            "name": "ticket-3d-6h",
            "severity": "ticket",
            "long_window": "3d",
            "short_window": "6h",
            "threshold": 0.1 * 31 / 3,
            "burn_rate_long": 2.0,
            "burn_rate_short": 2.0,
        }
    ],
    # 100% consumed: every threshold of the default policy (0.5, 0.8, 1.0) is reached
    "budget_alerts": [
        {"name": f"budget-{p}", "severity": sev, "threshold": t, "action": DEFAULT_ACTIONS[t]}
        for p, t, sev in ((50, 0.5, "ticket"), (80, 0.8, "ticket"), (100, 1.0, "page"))
    ],
    "last_updated": NOW,
    "excluded_good": 0,
    "excluded_total": 0,
}


def test_replay_outputs_one_object_per_enabled_slo(tmp_path: Path) -> None:
    run = replay(tmp_path)
    assert run.returncode == 0, run.stderr
    out = objects(run.stdout)
    assert [o["slo_id"] for o in out] == ["api-availability", "api-latency"]
    check(out[0], AVAILABILITY)
    check(out[1], LATENCY)


def test_replay_reports_bad_lines_and_exits_zero(tmp_path: Path) -> None:
    run = replay(tmp_path)
    assert run.returncode == 0
    assert "Traceback" not in run.stderr
    reported = [line for line in run.stderr.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0:2] for line in reported] == [
        ["line 4", " invalid_json"],
        ["line 6", " disabled_slo"],
        ["line 8", " unknown_slo"],
        ["line 10", " good_exceeds_total"],
        ["line 11", " timestamp_too_old"],
    ]
    assert "6 accepted, 5 rejected" in run.stderr


def test_replay_at_a_later_instant(tmp_path: Path) -> None:
    # At 13:00 the last hour is empty: headline burn 0, no time to exhaustion.
    runs = [replay(tmp_path, "--at", "2026-03-10T13:00:00Z"), replay(tmp_path, "--at", "1773147600")]
    for run in runs:
        assert run.returncode == 0, run.stderr
        [avail, _] = objects(run.stdout)
        b = 20 / 11_000 / 0.001
        expected = dict(
            AVAILABILITY,
            burn_rate=0.0,
            burn_rates={
                "5m": 0.0,
                "30m": 0.0,
                "1h": 0.0,
                "2h": b,
                "6h": b,
                "24h": b,
                "3d": b,
                "7d": 70 / 211_000 / 0.001,
                "30d": 70 / 211_000 / 0.001,
                "90d": 70 / 211_000 / 0.001,
            },
            time_to_exhaustion_seconds=None,
            time_to_exhaustion=None,
            projected_exhaustion=None,
            firing_alerts=[dict(AVAILABILITY["firing_alerts"][0], burn_rate_long=b, burn_rate_short=b)],
            last_updated="2026-03-10T13:00:00Z",
        )
        check(avail, expected)
    assert runs[0].stdout == runs[1].stdout


def test_replay_at_counts_only_events_up_to_now(tmp_path: Path) -> None:
    extra = [
        ev("api-availability", "2026-03-10T12:04:00Z", 0, 1_000_000),  # 13: within max skew: accepted, not yet counted
        ev("api-availability", "2026-03-10T12:05:00.000001Z", 0, 1),  # 14: beyond max skew
    ]
    run = replay(tmp_path, "--at", NOW, events=EVENT_LINES + extra)
    assert run.returncode == 0, run.stderr
    out = objects(run.stdout)
    check(out[0], AVAILABILITY)
    check(out[1], LATENCY)
    assert "line 14: timestamp_in_future" in run.stderr
    assert "line 13:" not in run.stderr
    assert "7 accepted, 6 rejected" in run.stderr
    # a max skew of 0 rejects both
    strict = replay(tmp_path, "--at", NOW, "--max-skew", "0", events=EVENT_LINES + extra)
    assert "line 13: timestamp_in_future" in strict.stderr
    assert objects(strict.stdout) == out


def test_replay_of_an_earlier_instant_rejects_newer_events(tmp_path: Path) -> None:
    run = replay(tmp_path, "--at", "2026-03-05T00:00:00Z")
    assert run.returncode == 0, run.stderr
    [avail, lat] = objects(run.stdout)
    # Availability: line 1 (at now; 50 bad of 200 000). Line 11, 395 days old, is accepted
    # into the daily history only: no window holds it.
    assert (avail["consumed_budget"], avail["total_budget"]) == (50, pytest.approx(200.0, rel=1e-12))
    assert avail["error_budget_consumed"] == pytest.approx(0.25, rel=1e-12)
    assert avail["status"] == "HEALTHY"
    assert avail["time_to_exhaustion_seconds"] == pytest.approx(0.75 * 30 * 86_400 / 0.25, rel=1e-12)
    assert avail["burn_rates"]["5m"] == pytest.approx(0.25, rel=1e-12)  # 50 / 200 000 / 0.001
    assert avail["burn_rates"]["30d"] == avail["burn_rates"]["90d"] == pytest.approx(0.25, rel=1e-12)
    # Latency: March holds line 7 only; line 2 (Feb 28th, all bad) is in 7d and 30d only.
    assert (lat["current_sli"], lat["consumed_budget"], lat["status"]) == (100.0, 0, "HEALTHY")
    assert lat["burn_rates"]["3d"] == 0.0
    assert lat["burn_rates"]["7d"] == pytest.approx(100 / 1_100 / 0.01, rel=1e-12)
    assert lat["firing_alerts"] == []
    future = [
        int(line.split(":")[0][5:])
        for line in run.stderr.splitlines()
        if line.startswith("line ") and "timestamp_in_future" in line
    ]
    assert future == [5, 9, 12]
    assert "timestamp_too_old" not in run.stderr


def test_emit_all_streams_one_line_per_accepted_event(tmp_path: Path) -> None:
    base = datetime(2026, 3, 8, tzinfo=UTC)
    lines: list[str] = []
    accepted: list[tuple[str, datetime]] = []
    for i in range(40):
        slo_id = "api-availability" if i % 3 else "api-latency"
        ts = base + timedelta(minutes=37 * i)
        if i % 7 == 3:
            ts -= timedelta(hours=5)  # late
        lines.append(ev(slo_id, ts.isoformat().replace("+00:00", "Z"), 1_000 - (i % 5) * 3, 1_000))
        accepted.append((slo_id, ts))
        if i == 10:
            lines.append("{broken")
        if i == 20:
            lines.append(ev("no-such-slo", ts.isoformat(), 1, 1))
    run = replay(tmp_path, "--emit-all", events=lines)
    assert run.returncode == 0, run.stderr
    out = objects(run.stdout)
    # the worker's status events: typed, with per-SLO sequences and their event ids
    events = [msgspec.convert(o, StatusEvent) for o in out]
    assert [e.slo_status_update.slo_id for e in events] == [s for s, _ in accepted]
    for slo_id in ("api-availability", "api-latency"):
        mine = [e for e in events if e.slo_status_update.slo_id == slo_id]
        assert [e.sequence for e in mine] == list(range(1, len(mine) + 1))
        assert [e.event_id for e in mine] == [f"{slo_id}:{i}" for i in range(1, len(mine) + 1)]
    # each line is evaluated at the newest event time seen so far (replay's clock)
    watermark = datetime.min.replace(tzinfo=UTC)
    marks = []
    for (_, ts), o in zip(accepted, out, strict=True):
        watermark = max(watermark, ts)
        marks.append(watermark)
        assert o["evaluated_at"] == o["timestamp"] == watermark.isoformat().replace("+00:00", "Z")
    # the last line of each SLO equals a batch replay at that line's instant
    for slo_id in ("api-availability", "api-latency"):
        last = max(i for i, (s, _) in enumerate(accepted) if s == slo_id)
        at = marks[last].isoformat().replace("+00:00", "Z")
        batch = objects(replay(tmp_path, "--at", at, events=lines).stdout)
        [same] = [o for o in batch if o["slo_id"] == slo_id]
        assert_matches_replay(out[last], same)
    # and the stream's final state of the newest SLO equals the plain batch replay
    plain = {o["slo_id"]: o for o in objects(replay(tmp_path, events=lines).stdout)}
    newest = accepted[-1][0]
    assert_matches_replay(out[-1], plain[newest])


def test_emit_all_with_no_accepted_events_prints_nothing(tmp_path: Path) -> None:
    run = replay(tmp_path, "--emit-all", events=["garbage", ev("no-such-slo", NOW, 1, 1)])
    assert run.returncode == 0
    assert run.stdout == ""
    assert "0 accepted, 2 rejected" in run.stderr


def test_events_from_stdin(tmp_path: Path) -> None:
    (tmp_path / "SLOS.yaml").write_text(SLOS_YAML, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "app", "replay", "--slos", str(tmp_path / "SLOS.yaml"), "--events", "-"],
        cwd=ROOT,
        input="\n".join(EVENT_LINES) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = objects(run.stdout)
    check(out[0], AVAILABILITY)
    check(out[1], LATENCY)


def test_non_utf8_event_line_is_reported_not_fatal(tmp_path: Path) -> None:
    """A line with bytes that are not UTF-8 is one bad line (invalid_json), not a crash."""
    data = (
        "\n".join(EVENT_LINES) + "\n"
    ).encode() + b'{"slo_id": "api-availability\xff", "timestamp": 1, "good": 1, "total": 1}\n'
    run = replay(tmp_path, events=data)
    assert "Traceback" not in run.stderr
    assert run.returncode == 0
    assert "line 13: invalid_json" in run.stderr
    out = objects(run.stdout)
    check(out[0], AVAILABILITY)


# -- errors ----------------------------------------------------------------------------


def _fails_cleanly(run: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    for needle in needles:
        assert needle in run.stderr, (needle, run.stderr)


def test_missing_slos_file(tmp_path: Path) -> None:
    _fails_cleanly(replay(tmp_path, slos_path=tmp_path / "nope.yaml"), "error:", "nope.yaml", "cannot read")


def test_missing_events_file(tmp_path: Path) -> None:
    _fails_cleanly(replay(tmp_path, events_path=tmp_path / "nope.jsonl"), "error:", "nope.jsonl", "cannot read")


def test_invalid_yaml(tmp_path: Path) -> None:
    _fails_cleanly(replay(tmp_path, slos="slos: [unclosed\n"), "error:", "not valid YAML")


def test_slos_file_that_is_not_utf8(tmp_path: Path) -> None:
    _fails_cleanly(replay(tmp_path, slos=b"slos:\n  - slo_id: \xff\xfe\n"), "error:")


def test_invalid_definition_names_the_field(tmp_path: Path) -> None:
    bad = SLOS_YAML.replace("target_percentage: 99.0", "target_percentage: 100")
    _fails_cleanly(replay(tmp_path, slos=bad), "error:", "slos[1].target_percentage", "api-latency")


def test_duplicate_definition(tmp_path: Path) -> None:
    bad = SLOS_YAML.replace("slo_id: api-latency", "slo_id: api-availability")
    _fails_cleanly(replay(tmp_path, slos=bad), "error:", "slos[1].slo_id", "duplicate")


def test_definitions_without_slos_list(tmp_path: Path) -> None:
    _fails_cleanly(replay(tmp_path, slos="checks: []\n"), "error:", "slos")


def test_bad_at_argument(tmp_path: Path) -> None:
    _fails_cleanly(replay(tmp_path, "--at", "yesterday"), "--at")
