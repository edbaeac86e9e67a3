"""Compliance reports as the API and the `report` command show them: JSON, CSV, Markdown.

The figures come from app/core/reports; this adds the SLOs' names and the three
renderings. The JSON shape is the one issue 12 fixes:
`{"interval": {from, to, closed, ...}, "slos": [...], "services": [...], "all": {...}}`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from app.core.calendar import isoformat_z, to_datetime
from app.core.intervals import BadInterval
from app.core.reports import Report, ReportStatus, Rollup, SloRow
from app.domain.models import SLO


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    MD = "md"


class ReportInterval(BaseModel):
    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime
    label: str = Field(description="The PERIOD text (2026-10, 2026-Q4, 2026, 2026-W44) or 'custom'.")
    at: datetime = Field(description="The evaluation instant: decides whether the interval is closed.")
    closed: bool = Field(description="to <= at: the report no longer changes.")
    complete: bool = Field(
        description="False when figures are missing: the interval starts before the retained history (400 days), "
        "or some SLOs' state is not available to the worker that answered (`unavailable_slos`)."
    )
    first_day_covered: str = Field(description="The first UTC day (YYYY-MM-DD) the history holds at `at`.")

    model_config = ConfigDict(populate_by_name=True)


class SloReportRow(BaseModel):
    slo_id: str
    slo_name: str
    service_name: str
    good: int
    total: int
    sli: float | None = Field(description="100 * good / total; null without data.")
    target: float
    status: ReportStatus
    error_budget_consumed: float
    budget_minutes: float
    consumed_minutes: float
    worst_burn_rate_1h: float | None = Field(description="Null when the interval holds no whole hour yet.")
    alert_minutes: int
    pages: int
    tickets: int
    excluded_good: int = Field(default=0, description="Good events in R excluded by budget adjustments.")
    excluded_total: int = Field(default=0, description="Events in R excluded by budget adjustments.")


class RollupRow(BaseModel):
    good: int
    total: int
    sli: float | None
    met: int
    at_risk: int
    failed: int
    no_data: int
    compliance_percentage: float | None = Field(description="100 * met / (met + at_risk + failed); null if none.")


class ServiceRollup(RollupRow):
    service_name: str


class ComplianceReport(BaseModel):
    interval: ReportInterval
    slos: list[SloReportRow]
    services: list[ServiceRollup]
    all: RollupRow
    unavailable_slos: list[str] = Field(
        default_factory=list,
        description="SLOs left out of the rows and rollups: owned by another worker, and no read model "
        "(REDIS_URL) to read them from. Empty when every SLO is reported.",
    )


def select_slos(slos: Sequence[SLO], service: str | None, argument: str = "service") -> list[SLO]:
    """The enabled SLOs reported on: all, or one service's (an unknown service is refused)."""
    enabled = [s for s in slos if s.enabled]
    if service is None:
        return enabled
    chosen = [s for s in enabled if s.service_name == service]
    if not chosen:
        known = sorted({s.service_name for s in enabled})
        raise BadInterval(argument, f"no SLO of service {service!r} (services: {', '.join(known) or 'none'})")
    return chosen


CSV_COLUMNS = tuple(SloReportRow.model_fields)


def slo_report_row(slo: SLO, row: SloRow) -> SloReportRow:
    return SloReportRow(slo_name=slo.slo_name, service_name=slo.service_name, **row_fields(row))


def row_fields(row: SloRow) -> dict[str, object]:
    """A report row's figures by name (the names every wire and API shape of a row uses)."""
    return {f: getattr(row, f) for f in ROW_FIELDS}


ROW_FIELDS = tuple(SloRow.__dataclass_fields__)


def _rollup_fields(r: Rollup) -> dict[str, object]:
    return {
        "good": r.good,
        "total": r.total,
        "sli": r.sli,
        "met": r.met,
        "at_risk": r.at_risk,
        "failed": r.failed,
        "no_data": r.no_data,
        "compliance_percentage": r.compliance_percentage,
    }


def compliance_report(report: Report, slos: Mapping[str, SLO], unavailable: Sequence[str] = ()) -> ComplianceReport:
    """`unavailable`: SLOs whose state the answering worker cannot read (not in `report`)."""
    iv = report.interval
    return ComplianceReport(
        interval=ReportInterval(
            from_=to_datetime(iv.from_us),
            to=to_datetime(iv.to_us),
            label=iv.label,
            at=to_datetime(report.now_us),
            closed=report.closed,
            complete=report.complete and not unavailable,
            first_day_covered=isoformat_z(report.first_day_covered_us)[:10],
        ),
        slos=[slo_report_row(slos[row.slo_id], row) for row in report.rows],
        services=[ServiceRollup(service_name=name, **_rollup_fields(r)) for name, r in report.services],
        all=RollupRow(**_rollup_fields(report.all)),
        unavailable_slos=sorted(unavailable),
    )


def report_json(report: ComplianceReport) -> dict[str, object]:
    return report.model_dump(mode="json", by_alias=True)


def report_csv(report: ComplianceReport) -> str:
    """One row per SLO; empty cells for nulls."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.slos:
        values = row.model_dump(mode="json")
        writer.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
    return out.getvalue()


def _pct(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(report: ComplianceReport, worst: int = 5) -> str:
    """An executive summary (counts by status, worst offenders, budget spent), then the table."""
    iv, total = report.interval, report.all
    state = "closed" if iv.closed else f"open (as of {isoformat_z_dt(iv.at)})"
    lines = [
        f"# SLO compliance report: {iv.label}",
        "",
        f"Interval {isoformat_z_dt(iv.from_)} to {isoformat_z_dt(iv.to)}, {state}.",
    ]
    if iv.from_.date().isoformat() < iv.first_day_covered:
        lines.append(f"**Incomplete**: the history starts on {iv.first_day_covered}; earlier days are missing.")
    if report.unavailable_slos:
        lines.append(
            f"**Incomplete**: {len(report.unavailable_slos)} SLOs are owned by other workers and left out: "
            + ", ".join(f"`{_md_cell(s)}`" for s in report.unavailable_slos)
        )
    lines += [
        "",
        "## Summary",
        "",
        f"- SLOs: {len(report.slos)}: **{total.met} met**, **{total.at_risk} at risk**, "
        f"**{total.failed} failed**, {total.no_data} without data",
        f"- Compliance: {_pct(total.compliance_percentage, 1)} of the SLOs with data met their target",
        f"- Traffic-weighted SLI: {_pct(total.sli)} ({total.good:,} good of {total.total:,} events)",
    ]
    spent = sum(r.consumed_minutes for r in report.slos)
    budget = sum(r.budget_minutes for r in report.slos if r.total)
    lines.append(f"- Error budget spent: {_num(spent)} of {_num(budget)} budget minutes (SLOs with data)")
    pages, tickets = sum(r.pages for r in report.slos), sum(r.tickets for r in report.slos)
    lines.append(f"- Alerts: {pages} page and {tickets} ticket episodes opened")
    offenders = sorted(
        (r for r in report.slos if r.status in (ReportStatus.FAILED, ReportStatus.AT_RISK)),
        key=lambda r: (-r.error_budget_consumed, r.slo_id),
    )[:worst]
    if offenders:
        lines += ["", "## Worst offenders", ""]
        for r in offenders:
            lines.append(
                f"1. **{_md_cell(r.slo_name)}** ({_md_cell(r.service_name)}): {r.status.value}, "
                f"SLI {_pct(r.sli)} vs target {r.target}%, {r.error_budget_consumed * 100:,.1f}% of the budget spent"
            )
    if report.services:
        lines += ["", "## Services", "", "| service | SLI | met | at risk | failed | no data | compliance |"]
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for s in report.services:
            lines.append(
                f"| {_md_cell(s.service_name)} | {_pct(s.sli)} | {s.met} | {s.at_risk} | {s.failed} | "
                f"{s.no_data} | {_pct(s.compliance_percentage, 1)} |"
            )
    lines += [
        "",
        "## SLOs",
        "",
        "| SLO | service | status | SLI | target | budget spent | consumed / budget min | worst 1h burn "
        "| alert min | pages | tickets |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.slos:
        lines.append(
            f"| {_md_cell(r.slo_name)} (`{r.slo_id}`) | {_md_cell(r.service_name)} | {r.status.value} | "
            f"{_pct(r.sli)} | {r.target}% | {r.error_budget_consumed * 100:,.1f}% | "
            f"{_num(r.consumed_minutes)} / {_num(r.budget_minutes)} | {_num(r.worst_burn_rate_1h)} | "
            f"{r.alert_minutes} | {r.pages} | {r.tickets} |"
        )
    return "\n".join(lines) + "\n"


def isoformat_z_dt(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def render(report: ComplianceReport, fmt: ReportFormat) -> str:
    if fmt is ReportFormat.CSV:
        return report_csv(report)
    if fmt is ReportFormat.MD:
        return report_markdown(report)
    import json

    return json.dumps(report_json(report), indent=2) + "\n"
