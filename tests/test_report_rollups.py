"""Which closed periods a partition still owes (marks), and when a rollup may be published:
only once every partition it depends on has published all of its SLOs' reports."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from app.core.calendar import to_us
from app.core.intervals import closed_since, last_closed_end_us
from app.domain.messages import SloReportEvent
from app.stream.report_publisher import MARK_KEY, ReportPublisher
from app.stream.report_rollups import ALL_KEY, ready_rollups


def _at(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))  # type: ignore[misc]


def _event(slo_id: str, service: str, partition: int, partition_slos: int, good: int, total: int) -> SloReportEvent:
    return SloReportEvent(
        event_id=f"{slo_id}:2026-11",
        period="2026-11",
        period_kind="month",
        from_="2026-11-01T00:00:00Z",
        to="2026-12-01T00:00:00Z",
        at="2026-12-01T00:05:00Z",
        partition=partition,
        partition_slos=partition_slos,
        slo_id=slo_id,
        slo_name=slo_id,
        service_name=service,
        good=good,
        total=total,
        sli=100.0 * good / total if total else None,
        target=99.0,
        status="met" if total and good * 100 >= 99 * total else ("no_data" if not total else "failed"),
        error_budget_consumed=0.0,
        budget_minutes=432.0,
        consumed_minutes=0.0,
        worst_burn_rate_1h=0.0,
        alert_minutes=0,
        pages=0,
        tickets=0,
    )


def test_closed_periods_since_a_mark_oldest_first() -> None:
    now = _at(2027, 1, 1, 0, 5)
    assert [i.label for i in closed_since("month", _at(2026, 10, 1), now)] == ["2026-10", "2026-11", "2026-12"]
    assert [i.label for i in closed_since("quarter", _at(2026, 10, 1), now)] == ["2026-Q4"]
    assert closed_since("month", _at(2027, 1, 1), now) == []
    assert last_closed_end_us("quarter", _at(2026, 11, 15)) == _at(2026, 10, 1)


def test_a_partition_without_a_mark_counts_the_closed_periods_as_published_and_writes_so() -> None:
    publisher = ReportPublisher("r", delay_s=300)
    now = _at(2026, 12, 1, 0, 2)  # within the delay: November is not yet closed for reports
    kept, record = publisher.take_mark(0, [(b"a|meta", b"{}")], now)
    assert kept == [(b"a|meta", b"{}")]
    assert record is not None and record[0] == MARK_KEY
    assert msgspec.json.decode(record[1]) == {"month": _at(2026, 11, 1), "quarter": _at(2026, 10, 1)}
    assert [(k, i.label) for k, i in publisher.due(0, _at(2026, 12, 1, 0, 5))] == [("month", "2026-11")]
    again = ReportPublisher("r", delay_s=300)
    _, none = again.take_mark(3, [(MARK_KEY, record[1])], _at(2027, 2, 1))
    assert none is None  # recovered: nothing to write
    assert [(k, i.label) for k, i in again.due(3, _at(2027, 2, 1, 1))] == [
        ("month", "2026-11"),
        ("month", "2026-12"),
        ("quarter", "2026-Q4"),
        ("month", "2027-01"),
    ]


def test_a_rollup_waits_for_every_partition_its_service_depends_on() -> None:
    a = _event("a", "pay", 0, 2, 990, 1000)
    b = _event("b", "pay", 0, 2, 1000, 1000)
    c = _event("c", "search", 1, 1, 0, 0)
    defined = {"pay": {0}, "search": {1}}
    # Partition 0 has published one of its two SLOs: no rollup of pay, nor of all.
    assert ready_rollups({"a": a, "c": c}, defined, set()) == [
        ("search", ready_rollups({"c": c}, defined, set())[0][1])
    ]
    ready = dict(ready_rollups({"a": a, "b": b, "c": c}, defined, set()))
    assert sorted(ready) == [ALL_KEY, "pay", "search"]
    pay = ready["pay"]
    assert (pay.good, pay.total, pay.met, pay.failed, pay.no_data) == (1990, 2000, 2, 0, 0)
    assert pay.event_id == "rollup:pay:2026-11" and pay.slo_ids == ["a", "b"] and pay.scope == "service"
    everything = ready[ALL_KEY]
    assert everything.service_name is None and everything.no_data == 1 and everything.compliance_percentage == 100.0
    # Published rollups are not offered again; a defined SLO's partition that reported nothing holds its service back.
    assert ready_rollups({"a": a, "b": b, "c": c}, defined, {"rollup:pay:2026-11", "rollup:*:2026-11"}) == [
        ("search", ready["search"])
    ]
    assert [k for k, _ in ready_rollups({"a": a, "b": b}, {"pay": {0, 2}}, set())] == []
