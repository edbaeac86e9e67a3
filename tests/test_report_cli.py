"""`python -m app report` end to end, as a subprocess on real files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

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
  - slo_id: web-availability
    slo_name: Web availability
    service_name: web
    slo_type: AVAILABILITY
    target_percentage: 95
    time_period: ROLLING_7D
  - slo_id: retired
    slo_name: Retired
    service_name: old
    slo_type: CUSTOM
    target_percentage: 90
    time_period: ROLLING_7D
    enabled: false
"""


def _stamp(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    slos = tmp_path / "slos.yaml"
    slos.write_text(SLOS_YAML)
    lines = []
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for hour in range(24 * 31):  # October 2026, one event an hour per SLO
        ts = _stamp(start + timedelta(hours=hour, minutes=30))
        lines.append({"slo_id": "api-availability", "timestamp": ts, "good": 1000, "total": 1000})
        bad = 20 if hour < 24 else 0  # 2% errors on October 1st: 1% of the month's traffic
        lines.append({"slo_id": "api-latency", "timestamp": ts, "good": 1000 - bad, "total": 1000})
    # web: three days in November, then an incident (the month is open at --at)
    for hour in range(72):
        ts = _stamp(datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=hour, minutes=10))
        lines.append({"slo_id": "web-availability", "timestamp": ts, "good": 970, "total": 1000})
    lines.append({"slo_id": "api-availability", "timestamp": "2025-01-01T00:00:00Z", "good": 1, "total": 1})
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return slos, events


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "report", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def report(files: tuple[Path, Path], *args: str) -> dict[str, Any]:
    slos, events = files
    proc = run("--slos", slos, "--events", events, *args)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_a_closed_month_as_json(files: tuple[Path, Path]) -> None:
    out = report(files, "--period", "2026-10")
    assert out["interval"] == {
        "from": "2026-10-01T00:00:00Z",
        "to": "2026-11-01T00:00:00Z",
        "label": "2026-10",
        "at": "2026-11-03T23:10:00Z",  # the newest accepted event
        "closed": True,
        "complete": True,
        "first_day_covered": "2025-09-30",
    }
    rows = {r["slo_id"]: r for r in out["slos"]}
    assert list(rows) == ["api-availability", "api-latency", "web-availability"]  # disabled: not reported
    avail, latency, web = rows["api-availability"], rows["api-latency"], rows["web-availability"]
    assert (avail["good"], avail["total"], avail["sli"], avail["status"]) == (744_000, 744_000, 100.0, "met")
    assert avail["budget_minutes"] == pytest.approx(0.001 * 31 * 24 * 60)
    assert (avail["alert_minutes"], avail["pages"], avail["tickets"], avail["worst_burn_rate_1h"]) == (0, 0, 0, 0.0)
    assert (latency["good"], latency["total"]) == (744_000 - 24 * 20, 744_000)
    assert latency["status"] == "met"  # 99.935% >= 99%
    assert latency["error_budget_consumed"] == pytest.approx(480 / (0.01 * 744_000))
    assert latency["consumed_minutes"] == pytest.approx(latency["error_budget_consumed"] * 0.01 * 44_640)
    assert latency["worst_burn_rate_1h"] == pytest.approx(2.0)  # 2% errors / 1% budget
    # a burn of 2 is below every factor but the 3d/6h ticket rule's (0.1 * 31 d / 3 d = 1.03)
    assert latency["pages"] == 0 and latency["tickets"] == 1
    assert 6 * 60 < latency["alert_minutes"] < 30 * 60
    assert web["status"] == "no_data" and web["sli"] is None and web["worst_burn_rate_1h"] == 0.0
    services = {s["service_name"]: s for s in out["services"]}
    assert services["api"]["met"] == 2 and services["api"]["compliance_percentage"] == 100.0
    assert services["api"]["total"] == 2 * 744_000
    assert services["web"]["no_data"] == 1 and services["web"]["compliance_percentage"] is None
    assert out["all"] == {
        "good": 2 * 744_000 - 480,
        "total": 2 * 744_000,
        "sli": pytest.approx(100 * (2 * 744_000 - 480) / (2 * 744_000)),
        "met": 2,
        "at_risk": 0,
        "failed": 0,
        "no_data": 1,
        "compliance_percentage": 100.0,
    }


def test_the_open_month_of_one_service(files: tuple[Path, Path]) -> None:
    out = report(files, "--period", "2026-11", "--service", "web")
    assert out["interval"]["closed"] is False
    (web,) = out["slos"]
    assert web["error_budget_consumed"] == pytest.approx(0.6)
    assert web["worst_burn_rate_1h"] == pytest.approx(0.6)
    assert [s["service_name"] for s in out["services"]] == ["web"]


def test_projection_makes_an_open_interval_at_risk(files: tuple[Path, Path]) -> None:
    out = report(files, "--period", "2026-11", "--service", "web")
    (web,) = out["slos"]
    # consumed 0.6 after 3 days of 30: (1 - 0.6) * 30 d / 0.6 = 20 d < 27 d left: at risk
    assert web["status"] == "at_risk"


def test_csv_has_one_row_per_slo(files: tuple[Path, Path]) -> None:
    slos, events = files
    proc = run("--slos", slos, "--events", events, "--period", "2026-10", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["slo_id"] for r in rows] == ["api-availability", "api-latency", "web-availability"]
    assert rows[1]["status"] == "met" and rows[1]["total"] == "744000"
    assert rows[2]["sli"] == ""  # null


def test_markdown_summary_then_table(files: tuple[Path, Path]) -> None:
    slos, events = files
    proc = run("--slos", slos, "--events", events, "--period", "2026-11", "--format", "md")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("# SLO compliance report: 2026-11\n")
    assert "**0 met**, **1 at risk**, **0 failed**, 2 without data" in text
    assert "## Worst offenders" in text and "**Web availability** (web): at_risk" in text
    assert text.index("## Summary") < text.index("## SLOs")
    assert "| Web availability (`web-availability`) | web | at_risk |" in text


def test_from_to_and_week(files: tuple[Path, Path]) -> None:
    out = report(files, "--from", "2026-10-01T00:00:00Z", "--to", "2026-10-02T00:00:00Z")
    latency = {r["slo_id"]: r for r in out["slos"]}["api-latency"]
    assert (latency["good"], latency["total"]) == (24 * 980, 24 * 1000)
    assert latency["status"] == "failed"  # 98% < 99%
    week = report(files, "--period", "2026-W40")  # Monday 2026-09-28 .. 2026-10-05
    assert week["interval"]["from"] == "2026-09-28T00:00:00Z"
    assert {r["slo_id"]: r for r in week["slos"]}["api-latency"]["total"] == 4 * 24 * 1000


def test_an_interval_partly_before_the_history_says_so(files: tuple[Path, Path]) -> None:
    out = report(files, "--period", "2025-Q3")
    assert out["interval"]["complete"] is False
    assert out["interval"]["first_day_covered"] == "2025-09-30"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-13"], "error: --period: '2026-13': month 13 is not 01..12"),
        (["--period", "nope"], "error: --period: 'nope' is not a period (YYYY, YYYY-MM, YYYY-Qn or YYYY-Www)"),
        (
            ["--from", "2026-10-02T00:00:00Z", "--to", "2026-10-01T00:00:00Z"],
            "error: --from/--to: from (2026-10-02T00:00:00Z) must be before to (2026-10-01T00:00:00Z)",
        ),
        (["--period", "2024-10"], "error: --period: 2024-10 is beyond the history's retention (400 days)"),
        (["--period", "2026-10", "--service", "nope"], "error: --service: no SLO of service 'nope'"),
        (["--from", "2026-10-01T00:00:00Z"], "error: --period: give --period PERIOD, or both --from and --to"),
        (["--period", "2026-10", "--to", "2026-10-01T00:00:00Z"], "error: --period: give either --period or"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files: tuple[Path, Path], args: list[str], message: str) -> None:
    slos, events = files
    proc = run("--slos", slos, "--events", events, *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stdout == ""
