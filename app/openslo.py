"""OpenSLO v1 <-> the engine's SLO definitions (see docs/openslo.md).

Pure: parsed YAML documents in, `SLO` models out, and back to plain dicts. What the
engine cannot honour (threshold metrics, timeslices, alert policies, windows it has no
period for, unknown fields) is refused with the document and field at fault, never
dropped; engine fields OpenSLO has no place for travel as `slo-engine/*` annotations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NoReturn

from pydantic import ValidationError

from app.core.promql import QueryRefused, parse_counter
from app.definitions import field_path
from app.domain.enums import TimePeriod
from app.domain.models import SLO
from app.errors import InvalidDefinition

API_VERSION = "openslo/v1"
PREFIX = "slo-engine/"  # annotation prefix of the engine fields OpenSLO has no place for
ENGINE_SOURCE = "slo-engine"  # metric source type of an SLI whose sli_query is free text
SKIPPED_KINDS = frozenset({"Service", "DataSource", "SLI"})  # no objective of their own
ALERT_KINDS = frozenset({"AlertPolicy", "AlertCondition", "AlertNotificationTarget"})
_CARRIED = frozenset(
    {"slo_id", "slo_name", "service_name", "target_percentage", "time_period", "sli_query", "description"}
)
ENGINE_FIELDS = tuple(f for f in SLO.model_fields if f not in _CARRIED)  # new SLO fields are annotated too

_DURATION = re.compile(r"([1-9][0-9]*)([mhdwMQY])")
_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_ROLLING = {3600: TimePeriod.ROLLING_1H, 86_400: TimePeriod.ROLLING_24H}
_ROLLING |= {604_800: TimePeriod.ROLLING_7D, 2_592_000: TimePeriod.ROLLING_30D, 7_776_000: TimePeriod.ROLLING_90D}
_CALENDAR = {"1M": TimePeriod.CALENDAR_MONTH, "1Q": TimePeriod.CALENDAR_QUARTER, "1Y": TimePeriod.CALENDAR_YEAR}
_CALENDAR_MONTHS = {TimePeriod.CALENDAR_MONTH: 1, TimePeriod.CALENDAR_QUARTER: 3, TimePeriod.CALENDAR_YEAR: 12}
_UTC = ("UTC", "Etc/UTC")
_SPEC_KEYS = ("description", "service", "indicator", "indicatorRef", "timeWindow", "budgetingMethod", "objectives")
_NAME = re.compile(r"[A-Za-z0-9][\w.:/-]*", re.ASCII)
_LINE = re.compile(r"(good|bad|total)(?: \(([^()]*)\))?: (.*)", re.DOTALL)
_UNSUPPORTED = {
    "thresholdMetric": "threshold metrics are not supported: the engine counts good and total events (use ratioMetric)",
    **dict.fromkeys(("raw", "rawType"), "precomputed ratios are not supported: the engine needs good/bad and total"),
    **dict.fromkeys(("op", "value"), "op/value compare a threshold metric; the engine's indicators are ratios"),
    **dict.fromkeys(("timeSliceTarget", "timeSliceWindow"), "timeslices are not supported, only Occurrences"),
}


def _fail(where: str, path: str, reason: str) -> NoReturn:
    raise InvalidDefinition(f"{where}: {path}" if path else where, reason)


def _map(value: Any, where: str, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(where, path, "required, as a mapping" if value is None else "expected a mapping")
    return value


def _keys(obj: dict[str, Any], allowed: Iterable[str], where: str, path: str) -> None:
    for key in obj:
        if key not in allowed:
            _fail(
                where,
                f"{path}.{key}" if path else str(key),
                _UNSUPPORTED.get(key, "unknown field: refused rather than dropped"),
            )


def import_documents(sources: Iterable[tuple[str, Iterable[Any]]]) -> list[SLO]:
    """SLOs from (source name, YAML documents) pairs. A document may also be a list of
    objects. SLI objects resolve `indicatorRef`; Service and DataSource carry no
    objective and are skipped; alerting objects and unknown kinds are refused."""
    objects: list[tuple[str, dict[str, Any]]] = []
    for source, stream in sources:
        items = [obj for doc in stream for obj in (doc if isinstance(doc, list) else [doc]) if obj is not None]
        for i, obj in enumerate(items):
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            name = meta.get("name") if isinstance(meta, dict) else None
            where = f"{source}#{i}" + (f" (metadata.name={name})" if isinstance(name, str) else "")
            if not isinstance(obj, dict):
                _fail(where, "", "expected a mapping (an OpenSLO object)")
            if obj.get("apiVersion") != API_VERSION:
                _fail(where, "apiVersion", f"{obj.get('apiVersion')!r} is not supported: only {API_VERSION}")
            objects.append((where, obj))
    slis: dict[str, tuple[str, dict[str, Any]]] = {}
    for where, obj in objects:
        if obj.get("kind") == "SLI":
            name = _map(obj.get("metadata"), where, "metadata").get("name")
            if not isinstance(name, str) or name in slis:
                _fail(where, "metadata.name", "duplicate SLI name" if name in slis else "required, as a string")
            slis[name] = (where, obj)
    slos: list[SLO] = []
    seen: dict[str, str] = {}
    for where, obj in objects:
        kind = obj.get("kind")
        if kind in ALERT_KINDS:
            _fail(where, "kind", f"{kind} is not imported: the engine alerts with its own burn-rate rules")
        if kind != "SLO" and kind not in SKIPPED_KINDS:
            _fail(where, "kind", f"unknown kind {kind!r}")
        if kind == "SLO":
            slo = _slo(where, obj, slis)
            if slo.slo_id in seen:
                _fail(where, "metadata.name", f"duplicate SLO name, also in {seen[slo.slo_id]}")
            seen[slo.slo_id] = where
            slos.append(slo)
    return slos


def _slo(where: str, obj: dict[str, Any], slis: dict[str, tuple[str, dict[str, Any]]]) -> SLO:
    _keys(obj, ("apiVersion", "kind", "metadata", "spec"), where, "")
    meta = _map(obj.get("metadata"), where, "metadata")
    _keys(meta, ("name", "displayName", "labels", "annotations"), where, "metadata")
    spec = _map(obj.get("spec"), where, "spec")
    _keys(spec, (*_SPEC_KEYS, "alertPolicies"), where, "spec")
    method = spec.get("budgetingMethod")
    if method != "Occurrences":
        reason = "required" if method is None else f"{method!r} is not supported"
        _fail(where, "spec.budgetingMethod", f"{reason}: only Occurrences (the engine counts good and total events)")
    sli_query, sli_path = _indicator(where, spec, slis)
    period = _period(where, spec.get("timeWindow"))
    target_path, target = _objective(where, spec.get("objectives"))
    if spec.get("alertPolicies"):
        _fail(where, "spec.alertPolicies", "not imported: the engine alerts with its burn-rate rules (docs/openslo.md)")
    data: dict[str, Any] = {"slo_type": "AVAILABILITY"} | _annotations(where, meta.get("annotations"))
    sources = {f: f"metadata.annotations.{PREFIX}{f}" for f in ENGINE_FIELDS}
    sources |= {"slo_id": "metadata.name", "slo_name": "metadata.displayName", "service_name": "spec.service"}
    sources |= {"description": "spec.description", "sli_query": sli_path, "target_percentage": target_path}
    name, display = meta.get("name"), meta.get("displayName")
    carried = {"slo_id": name, "slo_name": name if display is None else display, "service_name": spec.get("service")}
    carried |= {"description": spec.get("description"), "sli_query": sli_query, "target_percentage": target}
    data |= {k: v for k, v in carried.items() if v is not None} | {"time_period": period}
    if "sli" not in data:
        data |= _prometheus_sli(where, sli_path, sli_query)
    try:
        return SLO.model_validate(data)
    except ValidationError as exc:
        loc, msg = exc.errors()[0]["loc"], exc.errors()[0]["msg"]
        if not loc:  # a rule across fields (e.g. critical above warning budget ratio)
            _fail(where, "metadata.annotations", msg)
        _fail(where, field_path(sources.get(str(loc[0]), str(loc[0])), loc[1:]), msg)


def _annotations(where: str, annotations: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in ({} if annotations is None else _map(annotations, where, "metadata.annotations")).items():
        if not str(key).startswith(PREFIX):
            continue  # another implementation's metadata
        name = str(key)[len(PREFIX) :]
        if name not in ENGINE_FIELDS:
            _fail(where, f"metadata.annotations.{key}", f"unknown engine field; known: {', '.join(ENGINE_FIELDS)}")
        try:
            fields[name] = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            fields[name] = value  # a plain string, e.g. slo_type: LATENCY
    return fields


def _indicator(where: str, spec: dict[str, Any], slis: dict[str, tuple[str, dict[str, Any]]]) -> tuple[str, str]:
    inline, ref = spec.get("indicator"), spec.get("indicatorRef")
    if inline is not None and ref is not None:
        _fail(where, "spec.indicatorRef", "give indicator or indicatorRef, not both")
    if inline is not None:
        indicator = _map(inline, where, "spec.indicator")
        _keys(indicator, ("metadata", "spec"), where, "spec.indicator")
        return _ratio_query(where, "spec.indicator.spec", indicator.get("spec")), "spec.indicator"
    if ref is None:
        _fail(where, "spec.indicator", "required: an inline indicator or an indicatorRef")
    if not isinstance(ref, str) or ref not in slis:
        _fail(where, "spec.indicatorRef", f"no SLI named {ref!r} in the given files")
    sli_where, sli = slis[ref]
    try:
        _keys(sli, ("apiVersion", "kind", "metadata", "spec"), sli_where, "")
        return _ratio_query(sli_where, "spec", sli.get("spec")), "spec.indicatorRef"
    except InvalidDefinition as exc:
        raise InvalidDefinition(exc.field, f"{exc.reason} (the SLI of {where}, spec.indicatorRef)") from None


def _ratio_query(where: str, path: str, spec: Any) -> str:
    """The ratio metric as sli_query text: `good|bad (type, ref=name): query` lines, then
    `total ...`, then `counter: ...`; a source that is not one plain query is JSON."""
    _keys(_map(spec, where, path), ("description", "ratioMetric"), where, path)
    path += ".ratioMetric"
    ratio = _map(spec.get("ratioMetric"), where, path)
    _keys(ratio, ("counter", "good", "bad", "total"), where, path)
    engine = _engine_query(ratio)
    if engine is not None:
        return engine
    if ("good" in ratio) == ("bad" in ratio):
        _fail(where, path, "give good or bad (with total), not both" if "good" in ratio else "good or bad is required")
    if "total" not in ratio:
        _fail(where, f"{path}.total", "required")
    lines = [_source_line(where, path, role, ratio[role]) for role in ("good", "bad", "total") if role in ratio]
    if "counter" in ratio:
        if not isinstance(ratio["counter"], bool):
            _fail(where, f"{path}.counter", "must be true or false")
        lines.append(f"counter: {str(ratio['counter']).lower()}")
    return "\n".join(lines)


def _source_line(where: str, path: str, role: str, part: Any) -> str:
    path = f"{path}.{role}"
    _keys(_map(part, where, path), ("metricSource",), where, path)
    source = _map(part.get("metricSource"), where, f"{path}.metricSource")
    _keys(source, ("type", "metricSourceRef", "spec"), where, f"{path}.metricSource")
    kind, ref, spec = source.get("type"), source.get("metricSourceRef"), source.get("spec")
    query = spec.get("query") if isinstance(spec, dict) and set(spec) == {"query"} else None
    names = [v for v in (kind, ref) if v is not None]
    named = all(isinstance(v, str) and _NAME.fullmatch(v) for v in names)
    plain = isinstance(query, str) and query == query.strip() and "\n" not in query and query[:1] not in ("", "{")
    if plain and named:
        tags = ([f"{kind}"] if kind is not None else []) + ([f"ref={ref}"] if ref is not None else [])
        return role + (" (" + ", ".join(tags) + ")" if tags else "") + f": {query}"
    try:
        return f"{role}: {json.dumps(source, sort_keys=True, default=str)}"
    except (TypeError, ValueError) as exc:
        _fail(where, f"{path}.metricSource", f"cannot be recorded as sli_query text: {exc}")


def _prometheus_sli(where: str, path: str, sli_query: str) -> dict[str, Any]:
    """A ratio metric whose sources are all Prometheus queries maps to the `sli` field the
    bridge reads (each query a counter: a selector or sum(rate|increase(SEL[w])) or sum(SEL))."""
    ratio = _parse_query(sli_query) or {}
    roles = {r: v["metricSource"] for r, v in ratio.items() if r in ("good", "bad", "total")}
    if not roles or any(str(source.get("type", "")).lower() != "prometheus" for source in roles.values()):
        return {}
    sli = {}
    for role, source in roles.items():
        query = source.get("spec", {}).get("query")
        try:
            sli[role] = parse_counter(query if isinstance(query, str) else "").text()
        except QueryRefused as exc:
            _fail(where, f"{path}: ratioMetric.{role}.metricSource.spec.query", f"not a Prometheus counter: {exc}")
    return {"sli": sli}


def _engine_ratio(sli_query: str) -> dict[str, Any]:
    """Free-text sli_query: the counts come from the SLI events the engine receives."""
    return {
        role: {"metricSource": {"type": ENGINE_SOURCE, "spec": {"sliQuery": sli_query, "counts": f"{role}_events"}}}
        for role in ("good", "total")
    }


def _engine_query(ratio: dict[str, Any]) -> str | None:
    try:
        query = ratio["good"]["metricSource"]["spec"]["sliQuery"]
    except (KeyError, TypeError):
        return None
    return query if isinstance(query, str) and ratio == _engine_ratio(query) else None


def _period(where: str, windows: Any) -> TimePeriod:
    if not isinstance(windows, list) or len(windows) != 1:
        _fail(where, "spec.timeWindow", "exactly one time window is required")
    path = "spec.timeWindow[0]"
    window = _map(windows[0], where, path)
    _keys(window, ("duration", "isRolling", "calendar"), where, path)
    calendar, duration = window.get("calendar"), window.get("duration")
    rolling = window.get("isRolling", calendar is None)
    if not isinstance(rolling, bool):
        _fail(where, f"{path}.isRolling", "must be true or false")
    match = _DURATION.fullmatch(duration) if isinstance(duration, str) else None
    if match is None:
        _fail(where, f"{path}.duration", f"{duration!r} is not an OpenSLO duration (number + m, h, d, w, M, Q or Y)")
    if rolling:  # a calendar on a rolling window aligns nothing: accepted, as it means nothing
        period = _ROLLING.get(int(match[1]) * _SECONDS.get(match[2], 0))
        if period is None:
            engine_periods = "1h, 1d, 7d (1w), 30d or 90d"
            _fail(where, f"{path}.duration", f"rolling {duration} is not an engine period: use {engine_periods}")
        return period
    if duration not in _CALENDAR:
        _fail(where, f"{path}.duration", f"calendar {duration} is not an engine period: use 1M, 1Q or 1Y")
    period = _CALENDAR[duration]
    if calendar is not None:
        _calendar(where, f"{path}.calendar", _map(calendar, where, f"{path}.calendar"), period)
    return period


def _calendar(where: str, path: str, calendar: dict[str, Any], period: TimePeriod) -> None:
    _keys(calendar, ("startTime", "timeZone"), where, path)
    if calendar.get("timeZone", "UTC") not in _UTC:
        _fail(where, f"{path}.timeZone", "the engine's calendar periods are UTC: only UTC is supported")
    start = calendar.get("startTime")
    if start is None:
        return
    if isinstance(start, date) and not isinstance(start, datetime):
        start = datetime.combine(start, time())
    elif isinstance(start, str):
        try:
            start = datetime.fromisoformat(start)
        except ValueError:
            _fail(where, f"{path}.startTime", f"{start!r} is not a date and time")
    months = _CALENDAR_MONTHS[period]
    if not (
        isinstance(start, datetime)
        and start.utcoffset() in (None, timedelta(0))
        and (start.day, start.time(), (start.month - 1) % months) == (1, time(), 0)
    ):
        unit = {1: "month", 3: "quarter", 12: "year"}[months]
        _fail(where, f"{path}.startTime", f"the engine's periods start at 00:00 UTC on the first day of a {unit}")


def _objective(where: str, objectives: Any) -> tuple[str, float]:
    if not isinstance(objectives, list) or len(objectives) != 1:
        _fail(where, "spec.objectives", "exactly one objective is required: an engine SLO has one target")
    path = "spec.objectives[0]"
    objective = _map(objectives[0], where, path)
    _keys(objective, ("displayName", "target", "targetPercent"), where, path)
    if ("target" in objective) == ("targetPercent" in objective):
        _fail(where, path, "give target or targetPercent, not both" if "target" in objective else "target is required")
    key = "target" if "target" in objective else "targetPercent"
    value = objective[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(where, f"{path}.{key}", "must be a number")
    if not -1e6 < value < 1e6:  # also keeps float() from overflowing on a huge integer
        _fail(where, f"{path}.{key}", "out of range")
    percent = float(Decimal(repr(float(value))) * 100) if key == "target" else float(value)
    return f"{path}.{key}", percent


def export_slo(slo: SLO) -> dict[str, Any]:
    """One OpenSLO v1 SLO object; import_documents gives `slo` back field for field."""
    dumped = slo.model_dump(mode="json", exclude_defaults=True)
    annotations = {f"{PREFIX}slo_type": slo.slo_type.value}  # always: the reader need not know the default
    for f in ENGINE_FIELDS:
        if f in dumped and f != "slo_type":
            annotations[PREFIX + f] = json.dumps(dumped[f], separators=(",", ":"))
    spec: dict[str, Any] = {"description": slo.description} if slo.description else {}
    spec["service"] = slo.service_name
    ratio = _parse_query(slo.sli_query) or _engine_ratio(slo.sli_query)
    spec["indicator"] = {"metadata": {"name": slo.slo_id}, "spec": {"ratioMetric": ratio}}
    if slo.time_period.is_calendar:
        duration = next(k for k, v in _CALENDAR.items() if v is slo.time_period)
        calendar = {"startTime": "2020-01-01 00:00:00", "timeZone": "UTC"}
        spec["timeWindow"] = [{"duration": duration, "isRolling": False, "calendar": calendar}]
    else:
        spec["timeWindow"] = [{"duration": slo.time_period.rolling_window, "isRolling": True}]
    spec["budgetingMethod"] = "Occurrences"
    target = float(Decimal(repr(slo.target_percentage)) / 100)
    exact = float(Decimal(repr(target)) * 100) == slo.target_percentage
    spec["objectives"] = [{"target": target} if exact else {"targetPercent": slo.target_percentage}]
    metadata = {"name": slo.slo_id, "displayName": slo.slo_name, "annotations": annotations}
    return {"apiVersion": API_VERSION, "kind": "SLO", "metadata": metadata, "spec": spec}


def _parse_query(text: str) -> dict[str, Any] | None:
    """The ratio metric an imported sli_query was rendered from, or None for free text."""
    ratio: dict[str, Any] = {}
    for line in text.split("\n"):
        match = _LINE.fullmatch(line)
        if line in ("counter: true", "counter: false") and "counter" not in ratio:
            ratio["counter"] = line == "counter: true"
        elif match is None or match[1] in ratio:
            return None
        elif match[3].startswith("{") and match[2] is None:
            try:
                ratio[match[1]] = {"metricSource": json.loads(match[3])}
            except ValueError:
                return None
        else:
            source: dict[str, Any] = {}
            for tag in match[2].split(", ") if match[2] is not None else []:
                source["metricSourceRef" if tag.startswith("ref=") else "type"] = tag.removeprefix("ref=")
            ratio[match[1]] = {"metricSource": source | {"spec": {"query": match[3]}}}
    try:  # only a canonical rendering round-trips exactly; anything else is free text
        return ratio if _ratio_query("sli_query", "", {"ratioMetric": ratio}) == text else None
    except InvalidDefinition:
        return None


def definitions_document(slos: Iterable[SLO]) -> dict[str, Any]:
    """A definitions file (`slos:`) as load_slos and topologies read it."""
    return {"slos": [slo.model_dump(mode="json", exclude_defaults=True) for slo in slos]}
