"""The offline alert backtest: `python -m app backtest --slos S --events E [--rules R]`.

Events are decoded and accepted exactly as replay does (app/replay.prepare). Per SLO,
the pages and tickets its current rules would have sent over R (by default the
events' span: from the minute of the oldest accepted event to `now`, the newest one
or `--at`), with their times (app/core/backtest), next to those of a candidate rule
set: a RULES file whose `rules:` list replaces each SLO's burn-rate policy (its
custom `alert_rules` are kept), validated as an SLO's `burn_rate_rules` are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from app.core.backtest import Backtest, backtest
from app.core.calendar import isoformat_z
from app.core.evaluation import Objective
from app.core.intervals import Interval, check_retained
from app.core.windows import MINUTE_US
from app.definitions import field_path
from app.domain.models import SLO, RuleSpec
from app.domain.views import objective_of
from app.errors import UsageError
from app.replay import Prepared


def parse_rules(document: Any, argument: str = "--rules") -> list[RuleSpec]:
    """The candidate rules of a RULES document (`rules:` list); UsageError names the field."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise UsageError(argument, "expected a mapping with a list under 'rules'")
    rules = []
    for i, item in enumerate(document["rules"]):
        try:
            rules.append(RuleSpec.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UsageError(argument, f"{field_path(f'rules[{i}]', first['loc'])}: {first['msg']}") from exc
    return rules


def with_rules(slo: SLO, rules: Sequence[RuleSpec], argument: str = "--rules") -> Objective:
    """The SLO's objective with its burn-rate policy replaced by `rules` (names unique, as ever)."""
    try:
        candidate = SLO.model_validate({**slo.model_dump(), "burn_rate_rules": [r.model_dump() for r in rules]})
    except ValidationError as exc:
        raise UsageError(argument, f"with SLO {slo.slo_id!r}: {exc.errors()[0]['msg']}") from exc
    return objective_of(candidate)


def events_span(prepared: Prepared) -> Interval:
    """From the minute holding the oldest accepted event to `now` (at least one minute)."""
    now_us = prepared.now_us
    if prepared.ts_us.size == 0:
        return Interval(now_us - MINUTE_US, now_us)
    oldest = int(prepared.ts_us.min())
    start = min((oldest - 1) // MINUTE_US * MINUTE_US, now_us - MINUTE_US)
    return Interval(start, now_us)


def _result(bt: Backtest) -> dict[str, object]:
    return {
        "pages": bt.pages,
        "tickets": bt.tickets,
        "alert_minutes": bt.alert_minutes,
        "episodes": [
            {
                "rule": e.rule,
                "severity": e.severity.value,
                "opened": isoformat_z(e.opened_us),
                "resolved": None if e.resolved_us is None else isoformat_z(e.resolved_us),
            }
            for e in bt.episodes
        ],
    }


def offline_backtest(
    prepared: Prepared, candidate: Sequence[RuleSpec] | None, interval: Interval | None = None
) -> dict[str, object]:
    """Per SLO, what the current rules (and the candidate ones) would have sent over R."""
    now_us = prepared.now_us
    span = interval or events_span(prepared)
    check_retained(span, now_us, "--from/--to")
    order = np.argsort(prepared.slo_index, kind="stable")
    bounds = np.searchsorted(prepared.slo_index[order], np.arange(len(prepared.slos) + 1))
    rows = []
    for i, (slo, objective) in enumerate(zip(prepared.slos, prepared.objectives, strict=True)):
        if not slo.enabled:
            continue
        sel = order[bounds[i] : bounds[i + 1]]
        ts, good, total = prepared.ts_us[sel], prepared.good[sel], prepared.total[sel]
        row: dict[str, object] = {
            "slo_id": slo.slo_id,
            "current": _result(backtest(objective, ts, good, total, span, now_us)),
        }
        if candidate is not None:
            row["candidate"] = _result(backtest(with_rules(slo, candidate), ts, good, total, span, now_us))
        rows.append(row)
    return {"from": isoformat_z(span.from_us), "to": isoformat_z(span.to_us), "at": isoformat_z(now_us), "slos": rows}
