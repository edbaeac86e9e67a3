"""Replay: the engine's reference interface over files of definitions and events.

Batch mode decodes every line, decides acceptance at one instant `now` (the
`--at` argument, else the newest accepted event's timestamp), loads each SLO's
events with numpy and evaluates once. `emit_all` accepts the same events but
counts them one by one in input order, evaluating after each, at the newest
event time seen so far: the stream a live worker would publish, optionally
with its timer and its alert events.

Budget adjustments (the `adjustments:` of the definitions file) are applied to the
accepted events: one whose timestamp falls in a range of an adjustment of its SLO
counts nowhere; it is kept aside (`Prepared.excluded`) and reported as
`excluded_good` / `excluded_total` (in the SLO's period at the evaluation instant).
Exclusion is decided per event, so offline figures are exact whatever the ranges.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.acceptance import DEFAULT_MAX_SKEW_US, acceptance_range, definition_verdict, describe
from app.core.adjustments import Adjustment, Exclusions, for_slo
from app.core.enums import RejectReason
from app.core.evaluation import Objective, SloEvaluation
from app.core.ring import Int64Array
from app.core.unit import status_key
from app.core.units import SloUnits
from app.domain.alert_events import alert_event
from app.domain.messages import AlertEvent, StatusEvent
from app.domain.models import SLO
from app.domain.views import objective_of, status_event, status_report
from app.ingest import Rejection, decode_lines


class _Positions(dict[str, int]):
    """slo_id -> index in the definitions; -1 for an unknown id."""

    def __missing__(self, slo_id: str) -> int:
        return -1


@dataclass(slots=True)
class Excluded:
    """Accepted events that budget adjustments exclude (in input order)."""

    slo_index: Int64Array
    ts_us: Int64Array
    good: Int64Array
    total: Int64Array

    def sums(self, i: int, from_us: int, to_us: int) -> tuple[int, int]:
        """(good, total) of SLO `i`'s excluded events with `from_us <= ts < to_us`."""
        rows = (self.slo_index == i) & (self.ts_us >= from_us) & (self.ts_us < to_us)
        return int(self.good[rows].sum(dtype=object) or 0), int(self.total[rows].sum(dtype=object) or 0)


_NONE = np.zeros(0, dtype=np.int64)


@dataclass(slots=True)
class Prepared:
    """Accepted events (in input order) and every rejection, decided at `now_us`;
    the accepted events that adjustments exclude are in `excluded`, not in the columns."""

    slos: Sequence[SLO]
    objectives: Sequence[Objective]
    now_us: int
    slo_index: Int64Array  # index into slos
    ts_us: Int64Array
    good: Int64Array
    total: Int64Array
    rejections: list[Rejection]
    excluded: Excluded = field(default_factory=lambda: Excluded(_NONE, _NONE, _NONE, _NONE))


def prepare(
    slos: Sequence[SLO],
    data: bytes,
    at_us: int | None,
    fallback_now_us: int,
    max_skew_us: int = DEFAULT_MAX_SKEW_US,
    adjustments: Sequence[Adjustment] = (),
) -> Prepared:
    """Decide every event's verdict with the core's acceptance rules (app/core/acceptance),
    column by column. The whole file is read at one processing instant, as a live worker
    reads a backfill: a repeated `event_id` of an SLO is a duplicate wherever it is."""
    cols, rejections = decode_lines(data)
    line_no, ts_us, good, total = cols.line_no, cols.ts_us, cols.good, cols.total
    objectives = [objective_of(slo) for slo in slos]
    position = _Positions((slo.slo_id, i) for i, slo in enumerate(slos))
    idx = np.fromiter(map(position.__getitem__, cols.slo_id), dtype=np.int64, count=len(cols.slo_id))
    verdicts = [definition_verdict(True, o.enabled) for o in objectives] + [definition_verdict(False, False)]
    unknown = idx < 0
    disabled = ~unknown & np.asarray([v is RejectReason.DISABLED_SLO for v in verdicts], dtype=bool)[idx]
    known = ~(unknown | disabled)
    if at_us is not None:
        now_us = at_us
    elif known.any():
        now_us = int(ts_us[known].max())
    else:
        now_us = fallback_now_us
    safe_idx = np.where(known, idx, 0)
    too_old = np.zeros(idx.size, dtype=bool)
    too_new = np.zeros(idx.size, dtype=bool)
    for i, objective in enumerate(objectives):
        rows = known & (safe_idx == i)
        if rows.any():
            window = acceptance_range(now_us, objective.time_period, max_skew_us)
            too_old |= rows & window.too_old(ts_us)
            too_new |= rows & window.too_new(ts_us)
    ok = known & ~too_old & ~too_new
    duplicate = _duplicates(ok, idx, cols.event_id)
    ok &= ~duplicate
    for mask, reason in (
        (unknown, RejectReason.UNKNOWN_SLO),
        (disabled, RejectReason.DISABLED_SLO),
        (too_old, RejectReason.TIMESTAMP_TOO_OLD),
        (too_new, RejectReason.TIMESTAMP_IN_FUTURE),
        (duplicate, RejectReason.DUPLICATE_EVENT),
    ):
        for i in np.flatnonzero(mask).tolist():
            detail = describe(reason, cols.slo_id[i], cols.event_id[i])
            rejections.append(Rejection(int(line_no[i]), reason.value, detail))
    rejections.sort(key=lambda r: r.line_no)
    out = excluded_events(slos, adjustments, ok, idx, ts_us)
    kept = ok & ~out
    excluded = Excluded(idx[out], ts_us[out], good[out], total[out])
    return Prepared(slos, objectives, now_us, idx[kept], ts_us[kept], good[kept], total[kept], rejections, excluded)


def excluded_events(
    slos: Sequence[SLO],
    adjustments: Sequence[Adjustment],
    ok: npt.NDArray[np.bool_],
    idx: Int64Array,
    ts_us: Int64Array,
) -> npt.NDArray[np.bool_]:
    """The accepted events whose timestamp falls in a range of an adjustment of their SLO."""
    out = np.zeros(idx.size, dtype=bool)
    if not adjustments or not ok.any():
        return out
    from_us, to_us = int(ts_us[ok].min()), int(ts_us[ok].max()) + 1
    for i, slo in enumerate(slos):
        mine = for_slo(adjustments, slo.slo_id, slo.service_name)
        rows = ok & (idx == i)
        if mine and rows.any():
            out |= rows & Exclusions.of(mine, from_us, to_us).mask(ts_us)
    return out


def _duplicates(ok: npt.NDArray[np.bool_], idx: Int64Array, event_ids: list[str | None]) -> npt.NDArray[np.bool_]:
    """Accepted events whose (SLO, event_id) an earlier accepted event already carried."""
    duplicate = np.zeros(idx.size, dtype=bool)
    seen: set[tuple[int, str]] = set()
    for i, event_id in enumerate(event_ids):
        if event_id is None or not ok[i]:
            continue
        key = (int(idx[i]), event_id)
        if key in seen:
            duplicate[i] = True
        seen.add(key)
    return duplicate


def replay_batch(prepared: Prepared) -> list[dict[str, Any]]:
    """One status object per enabled SLO, evaluated at `prepared.now_us`."""
    slos, now_us = prepared.slos, prepared.now_us
    units = SloUnits()
    order = np.argsort(prepared.slo_index, kind="stable")
    bounds = np.searchsorted(prepared.slo_index[order], np.arange(len(slos) + 1))
    for i, objective in enumerate(prepared.objectives):
        rows = order[bounds[i] : bounds[i + 1]]
        if rows.size:
            state = units.unit(objective, now_us).state
            state.add_batch(prepared.ts_us[rows], prepared.good[rows], prepared.total[rows])
    out: list[dict[str, Any]] = []
    for i, (slo, objective) in enumerate(zip(slos, prepared.objectives, strict=True)):
        if slo.enabled:
            evaluation = units.evaluate(objective, now_us)
            report = status_report(slo, evaluation).model_dump(mode="json")
            report["excluded_good"], report["excluded_total"] = period_excluded(prepared.excluded, i, evaluation)
            out.append(report)
    return out


def period_excluded(excluded: Excluded, i: int, evaluation: SloEvaluation) -> tuple[int, int]:
    """(good, total) excluded in the SLO's period at the evaluation instant: a rolling period
    `now - len < ts <= now`, a calendar one `start <= ts <= now`."""
    rolling = evaluation.calendar_start_us is None
    from_us = evaluation.period_start_us + (1 if rolling else 0)
    return excluded.sums(i, from_us, evaluation.now_us + 1)


def replay_emit_all(prepared: Prepared, tick_us: int = 0, alerts: bool = False) -> Iterator[StatusEvent | AlertEvent]:
    """One status event after each accepted event, in input order, at the newest
    event time seen so far: the stream a live worker publishes, the same events
    (per-SLO sequences from 1; the clock, `timestamp`, is the evaluation instant).

    With `tick_us`, the live worker's timer is replayed too: at every multiple of
    it between events (and on to `prepared.now_us`), each SLO with data is
    evaluated and a status object is written when its status or alerts changed.
    With `alerts`, each alert transition (app/core/alerts) follows the status
    object of the evaluation that made it, as an `slo_alert` event."""
    slos = prepared.slos
    if prepared.ts_us.size == 0:
        return
    units = SloUnits()
    watermark_us = int(prepared.ts_us.min())
    published: dict[int, bool] = {}  # SLO index -> has published (in first-publication order)

    def emit(i: int, report: SloEvaluation) -> Iterator[StatusEvent | AlertEvent]:
        slo = slos[i]
        published[i] = True
        unit = units.units[slo.slo_id]
        unit.last_status = status_key(report)
        unit.seq += 1
        yield status_event(slo, report, unit.seq, report.now_us)
        transitions = unit.step_report(report)
        if alerts:
            for t in transitions:
                yield alert_event(slo, report, t)

    def ticks(until_us: int) -> Iterator[StatusEvent | AlertEvent]:
        tick = (watermark_us // tick_us + 1) * tick_us
        while tick <= until_us:
            for i in list(published):
                unit = units.units[slos[i].slo_id]
                report = unit.evaluate(tick)
                if status_key(report) != unit.last_status:
                    yield from emit(i, report)
            tick += tick_us

    for i, ts_us, good, total in zip(
        prepared.slo_index.tolist(),
        prepared.ts_us.tolist(),
        prepared.good.tolist(),
        prepared.total.tolist(),
        strict=True,
    ):
        new_watermark_us = max(watermark_us, min(ts_us, prepared.now_us))
        if tick_us:
            yield from ticks(new_watermark_us)
        watermark_us = new_watermark_us
        unit = units.unit(prepared.objectives[i], watermark_us)
        unit.state.advance(watermark_us)  # only the SLO that changed needs the time
        unit.state.add(ts_us, good, total)
        yield from emit(i, unit.evaluate(watermark_us))
    if tick_us:
        yield from ticks(prepared.now_us)
