"""The offline compliance report: the reference interface over files, like replay.

Events are decoded and accepted exactly as replay does (app/replay.prepare: the
contract's acceptance at `now`, the `--at` instant or the newest accepted
event, with the history's 400-day retention, so a year of backfill counts).
Per SLO: good/total of the events with `from <= ts < to`, and the rules'
activity over R from the raw events (app/core/report_activity). Events that
budget adjustments exclude (app/replay: `Prepared.excluded`) count in neither
and are reported per SLO as `excluded_good` / `excluded_total`.
"""

from __future__ import annotations

import numpy as np

from app.core.intervals import Interval, check_retained
from app.core.report_activity import activity
from app.core.reports import Report, SloRow, build_report, slo_row
from app.domain.reports import ComplianceReport, compliance_report, select_slos
from app.replay import Prepared


def offline_report(prepared: Prepared, interval: Interval, service: str | None = None) -> ComplianceReport:
    now_us = prepared.now_us
    check_retained(interval, now_us)
    chosen = select_slos(prepared.slos, service)
    wanted = {s.slo_id for s in chosen}
    order = np.argsort(prepared.slo_index, kind="stable")
    bounds = np.searchsorted(prepared.slo_index[order], np.arange(len(prepared.slos) + 1))
    rows: list[tuple[str, SloRow]] = []
    for i, (slo, objective) in enumerate(zip(prepared.slos, prepared.objectives, strict=True)):
        if slo.slo_id not in wanted:
            continue
        sel = order[bounds[i] : bounds[i + 1]]
        ts, good, total = prepared.ts_us[sel], prepared.good[sel], prepared.total[sel]
        inside = (ts >= interval.from_us) & (ts < interval.to_us)
        g, n = int(good[inside].sum(dtype=object) or 0), int(total[inside].sum(dtype=object) or 0)
        act = activity(objective, ts, good, total, interval, now_us)
        xg, xn = prepared.excluded.sums(i, interval.from_us, interval.to_us)
        row = slo_row(slo.slo_id, slo.target_percentage, interval, now_us, g, n, act, xg, xn)
        rows.append((slo.service_name, row))
    report: Report = build_report(interval, now_us, rows)
    return compliance_report(report, {s.slo_id: s for s in chosen})
