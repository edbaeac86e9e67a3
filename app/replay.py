"""Replay: the engine's reference interface over files of definitions and events.

Batch mode decodes every line, decides acceptance at one instant `now` (the
`--at` argument, else the newest accepted event's timestamp), loads each SLO's
events with numpy and evaluates once. `emit_all` accepts the same events but
counts them one by one in input order, evaluating after each, at the newest
event time seen so far: the stream a live worker would publish, optionally
with its timer and its alert events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.acceptance import DEFAULT_MAX_SKEW_US, acceptance_range
from app.core.report import SloReport
from app.core.ring import Int64Array
from app.domain.alert_events import alert_event
from app.domain.events import RejectReason
from app.domain.messages import AlertEvent, StatusEvent
from app.domain.models import SLO
from app.domain.views import status_event, status_report
from app.engine import SloEngine
from app.ingest import Rejection, decode_lines


class _Positions(dict[str, int]):
    """slo_id -> index in the definitions; -1 for an unknown id."""

    def __missing__(self, slo_id: str) -> int:
        return -1


@dataclass(slots=True)
class Prepared:
    """Accepted events (in input order) and every rejection, decided at `now_us`."""

    slos: Sequence[SLO]
    now_us: int
    slo_index: Int64Array  # index into slos
    ts_us: Int64Array
    good: Int64Array
    total: Int64Array
    rejections: list[Rejection]


def prepare(
    slos: Sequence[SLO],
    data: bytes,
    at_us: int | None,
    fallback_now_us: int,
    max_skew_us: int = DEFAULT_MAX_SKEW_US,
) -> Prepared:
    cols, rejections = decode_lines(data)
    line_no, ts_us, good, total = cols.line_no, cols.ts_us, cols.good, cols.total
    position = _Positions((slo.slo_id, i) for i, slo in enumerate(slos))
    idx = np.fromiter(map(position.__getitem__, cols.slo_id), dtype=np.int64, count=len(cols.slo_id))
    enabled = np.asarray([slo.enabled for slo in slos] + [False], dtype=bool)
    unknown = idx < 0
    disabled = ~unknown & ~enabled[idx]
    known = ~(unknown | disabled)
    if at_us is not None:
        now_us = at_us
    elif known.any():
        now_us = int(ts_us[known].max())
    else:
        now_us = fallback_now_us
    ranges = [acceptance_range(now_us, slo.time_period, max_skew_us) for slo in slos]
    oldest = np.asarray([r.oldest_us for r in ranges] + [0], dtype=np.int64)
    newest = np.asarray([r.newest_us for r in ranges] + [0], dtype=np.int64)
    safe_idx = np.where(known, idx, 0)
    too_old = known & (ts_us < oldest[safe_idx])
    too_new = known & (ts_us > newest[safe_idx])
    for mask, reason, detail in (
        (unknown, RejectReason.UNKNOWN_SLO, "no SLO {slo!r}"),
        (disabled, RejectReason.DISABLED_SLO, "SLO {slo!r} is disabled"),
        (too_old, RejectReason.TIMESTAMP_TOO_OLD, "timestamp is older than the SLO's retention"),
        (too_new, RejectReason.TIMESTAMP_IN_FUTURE, "timestamp is beyond now + max skew"),
    ):
        for i in np.flatnonzero(mask).tolist():
            rejections.append(Rejection(int(line_no[i]), reason.value, detail.format(slo=cols.slo_id[i])))
    rejections.sort(key=lambda r: r.line_no)
    ok = known & ~too_old & ~too_new
    return Prepared(slos, now_us, idx[ok], ts_us[ok], good[ok], total[ok], rejections)


def report_line(slo: SLO, engine: SloEngine) -> dict[str, Any]:
    return status_report(slo, engine.evaluate(slo.slo_id)).model_dump(mode="json")


def replay_batch(prepared: Prepared) -> list[dict[str, Any]]:
    """One status object per enabled SLO, evaluated at `prepared.now_us`."""
    slos = prepared.slos
    engine = SloEngine(slos, prepared.now_us)
    order = np.argsort(prepared.slo_index, kind="stable")
    bounds = np.searchsorted(prepared.slo_index[order], np.arange(len(slos) + 1))
    for i, slo in enumerate(slos):
        rows = order[bounds[i] : bounds[i + 1]]
        if rows.size:
            engine.tracked[slo.slo_id].state.add_batch(prepared.ts_us[rows], prepared.good[rows], prepared.total[rows])
    return [report_line(slo, engine) for slo in slos if slo.enabled]


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
    engine = SloEngine(slos, int(prepared.ts_us.min()))
    watermark_us = engine.now_us
    published: dict[str, tuple[str, frozenset[str]]] = {}
    sequences: Counter[str] = Counter()

    def emit(slo: SLO, report: SloReport) -> Iterator[StatusEvent | AlertEvent]:
        published[slo.slo_id] = (report.status.value, report.alert_names)
        sequences[slo.slo_id] += 1
        yield status_event(slo, report, sequences[slo.slo_id], report.now_us)
        transitions = engine.step_alerts(slo.slo_id, report)
        if alerts:
            for t in transitions:
                yield alert_event(slo, report, t)

    def ticks(until_us: int) -> Iterator[StatusEvent | AlertEvent]:
        tick = (watermark_us // tick_us + 1) * tick_us
        while tick <= until_us:
            for slo_id in list(published):
                tracked = engine.tracked[slo_id]
                tracked.state.advance(tick)
                report = engine.evaluate(slo_id)
                if (report.status.value, report.alert_names) != published[slo_id]:
                    yield from emit(tracked.slo, report)
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
        slo = slos[i]
        state = engine.tracked[slo.slo_id].state
        state.advance(watermark_us)  # only the SLO that changed needs the time
        state.add(ts_us, good, total)
        yield from emit(slo, engine.evaluate(slo.slo_id))
    if tick_us:
        yield from ticks(prepared.now_us)
