"""Budget adjustments offline (`replay`, `report`) against brute force.

The reference decides exclusion independently (occurrences by plain arithmetic,
every range scanned for every event); the engine's figures over the adjusted
events must equal the reference's over the events it keeps, and the excluded
counts must equal the reference's sums of what it drops.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.intervals import Interval
from app.core.windows import TIERS
from app.definitions import parse_adjustments
from app.domain.models import SLO
from app.replay import prepare, replay_batch
from app.report import offline_report
from tests import reference as ref
from tests.reference import DAY, HOUR, MINUTE, Event

ROOT = Path(__file__).resolve().parent.parent
S = 1_000_000
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STEP = {"HOURLY": HOUR, "DAILY": DAY}
BUCKET_OF: dict[str, int] = {w.name: tier.bucket_us for tier in TIERS for w in tier.windows}


def _iso(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / S, UTC).isoformat().replace("+00:00", "Z")


def _slo(i: int, service: str, period: str) -> SLO:
    return SLO(
        slo_id=f"slo-{i}",
        slo_name=f"SLO {i}",
        service_name=service,
        slo_type="AVAILABILITY",
        target_percentage=99.0,
        time_period=period,
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[SLO], list[Event], list[dict[str, Any]], list[tuple[str, str, int, int]]]:
    """SLOs, events, adjustment documents and, for the reference, their (slo_id|"", service|"", start, end) ranges."""
    base = ref.us_of(datetime(2026, 3, 10, tzinfo=UTC))
    slos = [
        _slo(i, draw(st.sampled_from(["api", "web"])), draw(st.sampled_from(["ROLLING_24H", "CALENDAR_MONTH"])))
        for i in range(draw(st.integers(1, 3)))
    ]
    docs: list[dict[str, Any]] = []
    ranges: list[tuple[str, str, int, int]] = []
    for k in range(draw(st.integers(0, 3))):
        start = base + draw(st.integers(-2 * DAY // S, 2 * DAY // S)) * S  # whole seconds
        length = draw(st.integers(1, 4 * HOUR // S)) * S
        target = draw(st.sampled_from(["id", "service", "both"]))
        doc: dict[str, Any] = {"adjustment_id": f"adj-{k}", "start": _iso(start)}
        ids = [draw(st.sampled_from([s.slo_id for s in slos]))] if target != "service" else []
        service = draw(st.sampled_from(["api", "web"])) if target != "id" else None
        if ids:
            doc["slo_ids"] = ids
        if service:
            doc["service_name"] = service
        if draw(st.booleans()):
            doc["end"] = _iso(start + length)
            starts = [start]
        else:
            doc["duration"] = f"{length // S}s"
            freq, count = draw(st.sampled_from(sorted(STEP))), draw(st.integers(1, 5))
            doc["rrule"] = f"FREQ={freq};COUNT={count}"
            starts = [start + j * STEP[freq] for j in range(count)]
        for s in starts:
            for slo_id in ids:
                ranges.append((slo_id, "", s, s + length))
            if service:
                ranges.append(("", service, s, s + length))
        docs.append(doc)
    events = [
        Event(
            draw(st.sampled_from([s.slo_id for s in slos])),
            base + draw(st.integers(-3 * DAY // S, 3 * DAY // S)) * S,
            good := draw(st.integers(0, 50)),
            good + draw(st.integers(0, 5)),
        )
        for _ in range(draw(st.integers(1, 60)))
    ]
    # events on the ranges' edges
    for slo_id, _, s, e in ranges[:6]:
        for t in (s - S, s, e - S, e):
            events.append(Event(slo_id or slos[0].slo_id, t, 3, 5))
    return slos, events, docs, ranges


def _excluded(event: Event, service: str, ranges: list[tuple[str, str, int, int]]) -> bool:
    return any((i == event.slo_id or sv == service) and s <= event.ts_us < e for i, sv, s, e in ranges)


def _lines(events: list[Event]) -> bytes:
    return b"".join(
        json.dumps({"slo_id": e.slo_id, "timestamp": e.ts_us // S, "good": e.good, "total": e.total}).encode() + b"\n"
        for e in events
    )


def _split(
    slos: list[SLO], events: list[Event], ranges: list[tuple[str, str, int, int]]
) -> tuple[list[Event], list[Event]]:
    service = {s.slo_id: s.service_name for s in slos}
    out = [e for e in events if _excluded(e, service[e.slo_id], ranges)]
    kept = [e for e in events if not _excluded(e, service[e.slo_id], ranges)]
    return kept, out


@PROPS
@given(scenario=scenarios(), late=st.integers(0, 2 * DAY // S))
def test_replay_excludes_exactly_the_events_in_range(scenario: Any, late: int) -> None:
    slos, events, docs, ranges = scenario
    now = max(e.ts_us for e in events) + late * S
    adjustments = [a.to_core() for a in parse_adjustments({"adjustments": docs})]
    kept, out = _split(slos, events, ranges)
    adjusted = replay_batch(prepare(slos, _lines(events), now, now, adjustments=adjustments))
    # the same engine fed only the events the reference keeps
    plain = replay_batch(prepare(slos, _lines(kept), now, now))
    for got, want, slo in zip(adjusted, plain, slos, strict=True):
        period = ref.TimePeriod(slo.time_period)
        xg, xn = ref.period_sums([e for e in out if e.slo_id == slo.slo_id], now, period)
        assert (got.pop("excluded_good"), got.pop("excluded_total")) == (xg, xn)
        assert (want.pop("excluded_good"), want.pop("excluded_total")) == (0, 0)
        assert got == want  # (the engine's figures over the kept events: tests/test_properties checks those)


@PROPS
@given(scenario=scenarios(), span=st.sampled_from([(-6 * HOUR, 6 * HOUR), (-HOUR, 7 * HOUR), (2 * HOUR, 3 * HOUR)]))
def test_report_excludes_exactly_the_events_in_range(scenario: Any, span: tuple[int, int]) -> None:
    slos, events, docs, ranges = scenario
    base = ref.us_of(datetime(2026, 3, 10, tzinfo=UTC))
    interval = Interval(base + span[0], base + span[1])
    now = max(e.ts_us for e in events)
    adjustments = [a.to_core() for a in parse_adjustments({"adjustments": docs})]
    kept, out = _split(slos, events, ranges)
    report = offline_report(prepare(slos, _lines(events), now, now, adjustments=adjustments), interval)
    for row, slo in zip(report.slos, slos, strict=True):
        want = ref.report_row(slo, kept, interval.from_us, interval.to_us, now, BUCKET_OF)
        assert (row.good, row.total, row.status.value) == (want.good, want.total, want.status)
        assert (row.alert_minutes, row.pages, row.tickets) == (want.alert_minutes, want.pages, want.tickets)
        assert math.isclose(row.error_budget_consumed, float(want.consumed), rel_tol=1e-9, abs_tol=1e-12)
        mine = [e for e in out if e.slo_id == slo.slo_id and interval.from_us <= e.ts_us < interval.to_us]
        assert (row.excluded_good, row.excluded_total) == (sum(e.good for e in mine), sum(e.total for e in mine))


SLOS_YAML = """\
slos:
  - {slo_id: checkout, slo_name: Checkout, service_name: shop, slo_type: AVAILABILITY,
     target_percentage: 99, time_period: ROLLING_7D}
  - {slo_id: search, slo_name: Search, service_name: shop, slo_type: AVAILABILITY,
     target_percentage: 99, time_period: ROLLING_7D}
adjustments:
  - adjustment_id: deploy-freeze
    description: planned database migration
    start: "2026-03-10T02:00:00Z"
    end: "2026-03-10T04:00:00Z"
    slo_ids: [checkout]
  - adjustment_id: nightly
    start: "2026-03-08T23:00:00Z"
    duration: 30m
    rrule: FREQ=DAILY;COUNT=3
    service_name: shop
"""


def _run(command: str, tmp_path: Path, slos_yaml: str, events: list[dict[str, Any]], *args: str) -> Any:
    (tmp_path / "slos.yaml").write_text(slos_yaml)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            command,
            "--slos",
            str(tmp_path / "slos.yaml"),
            "--events",
            str(tmp_path / "events.jsonl"),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def _events() -> list[dict[str, Any]]:
    out = []
    for minute in range(0, 24 * 60, 10):  # 2026-03-10, one event every 10 minutes per SLO, all bad
        ts = _iso(ref.us_of(datetime(2026, 3, 10, tzinfo=UTC)) + minute * MINUTE)
        out += [
            {"slo_id": "checkout", "timestamp": ts, "good": 90, "total": 100},
            {"slo_id": "search", "timestamp": ts, "good": 99, "total": 100},
        ]
    return out


def test_replay_command_reads_adjustments_from_the_definitions_file(tmp_path: Path) -> None:
    proc = _run("replay", tmp_path, SLOS_YAML, _events(), "--at", "2026-03-11T00:00:00Z")
    assert proc.returncode == 0, proc.stderr
    checkout, search = (json.loads(line) for line in proc.stdout.splitlines())
    # checkout: 144 events; 02:00-04:00 (12) and the nightly 23:00-23:30 of the 10th (3) excluded
    # (the nightly range of the 9th ends before the first event); search: the nightly range only.
    assert (checkout["excluded_total"], checkout["excluded_good"]) == (15 * 100, 15 * 90)
    assert checkout["consumed_budget"] == (144 - 15) * 10
    assert (search["excluded_total"], search["excluded_good"]) == (3 * 100, 3 * 99)
    assert search["consumed_budget"] == (144 - 3) * 1
    assert Fraction(checkout["current_sli"]).limit_denominator(1000) == 90
    assert "replay: 288 accepted (18 excluded by budget adjustments), 0 rejected" in proc.stderr


def test_report_command_shows_the_excluded_counts(tmp_path: Path) -> None:
    proc = _run(
        "report",
        tmp_path,
        SLOS_YAML,
        _events(),
        "--from",
        "2026-03-10T00:00:00Z",
        "--to",
        "2026-03-10T12:00:00Z",
        "--at",
        "2026-03-11T00:00:00Z",
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["slo_id"]: r for r in json.loads(proc.stdout)["slos"]}
    assert (rows["checkout"]["total"], rows["checkout"]["excluded_total"]) == ((72 - 12) * 100, 12 * 100)
    assert (rows["search"]["total"], rows["search"]["excluded_total"]) == (72 * 100, 0)


def test_a_bad_adjustment_in_the_file_names_the_field(tmp_path: Path) -> None:
    bad = SLOS_YAML.replace("duration: 30m", "duration: 30x")
    proc = _run("replay", tmp_path, bad, _events())
    assert proc.returncode == 2
    assert "adjustments[1].duration" in proc.stderr and "unknown duration unit 'x'" in proc.stderr
    assert "Traceback" not in proc.stderr
    bad = SLOS_YAML.replace("FREQ=DAILY;COUNT=3", "FREQ=MINUTELY;COUNT=3")
    proc = _run("report", tmp_path, bad, _events(), "--period", "2026-03")
    assert proc.returncode == 2
    assert "adjustments[1].rrule" in proc.stderr and "at least hourly" in proc.stderr
