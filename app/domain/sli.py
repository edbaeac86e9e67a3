"""An SLO's SLI as Prometheus counters: the structured `sli` field and the `sli_query` forms.

The bridge (`python -m app bridge ...`) reads these; both are validated on create and
update, so a definition the bridge cannot use is refused with the field at fault.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from app.core.promql import (
    PROMQL_RE,
    SELECTOR_PATTERN,
    CounterSli,
    QueryRefused,
    histogram_sli,
    parse_selector,
    parse_sli_query,
)

# sli_query text that records an OpenSLO ratio metric of another source (`python -m app
# openslo import`, docs/openslo.md): kept as a record, not a query the bridge runs.
_RECORD_RE = "(?:good|bad)(?: \\([^()\\n]*\\))?: [\\s\\S]*"
OPENSLO_RECORD = re.compile(_RECORD_RE)
_SLI_QUERY = re.compile(f"(?:{PROMQL_RE})|(?:{_RECORD_RE})")
# The JSON Schema states exactly what validation accepts (the API's schema is fuzzed against it).
SLI_QUERY_PATTERN = f"^(?:(?:{PROMQL_RE})|(?:{_RECORD_RE}))?$"
_SELECTOR = re.compile(SELECTOR_PATTERN)
LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_COUNTER_FIELDS = ("good", "bad", "total")
_LATENCY_FIELDS = ("histogram", "threshold_s")


def _sli_schema(schema: dict[str, Any]) -> None:
    """One of: good + total, bad + total, histogram + threshold_s (+ matchers); the others null."""
    none = {"type": "null"}

    def form(required: tuple[str, ...]) -> dict[str, Any]:
        props: dict[str, Any] = {f: none for f in (*_COUNTER_FIELDS, *_LATENCY_FIELDS) if f not in required}
        props |= {f: {"not": none} for f in required}
        if "histogram" not in required:
            props["matchers"] = {"maxProperties": 0}
        return {"required": list(required), "properties": props}

    schema["oneOf"] = [form(("good", "total")), form(("bad", "total")), form(_LATENCY_FIELDS)]
    matchers = schema["properties"]["matchers"]  # pydantic states the key pattern as patternProperties
    matchers["propertyNames"] = {"pattern": LABEL_NAME, "not": {"enum": ["le", "__name__"]}}
    matchers["additionalProperties"] = {"type": "string"}


def _number(v: object) -> object:
    if isinstance(v, bool | str):
        raise ValueError("must be a number")
    return v


def _selector(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_selector(value)
        except QueryRefused as exc:
            raise ValueError(f"not a series selector: {exc}") from None
        if not _SELECTOR.match(value):
            raise ValueError("not a series selector of the supported form (docs: SLIs from Prometheus)")
    return value


_SELECTOR_FIELD: dict[str, Any] = {"pattern": SELECTOR_PATTERN}


class SliSpec(BaseModel):
    """Give `good` (or `bad`) and `total`, series selectors of counters, e.g.
    `http_requests_total{service="checkout",code!~"5.."}`; or a latency SLI from a
    histogram: `histogram` (the metric's base name), `threshold_s` (a bucket boundary)
    and optional `matchers` (label = value): good = `<histogram>_bucket{le=threshold_s}`,
    total = `<histogram>_count`."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_sli_schema)

    good: str | None = Field(
        default=None, max_length=2000, description="Selector of good events.", json_schema_extra=_SELECTOR_FIELD
    )
    bad: str | None = Field(
        default=None, max_length=2000, description="Selector of bad events.", json_schema_extra=_SELECTOR_FIELD
    )
    total: str | None = Field(
        default=None, max_length=2000, description="Selector of all events.", json_schema_extra=_SELECTOR_FIELD
    )
    histogram: str | None = Field(
        default=None, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", max_length=200, description="Histogram base name."
    )
    threshold_s: Annotated[float | None, BeforeValidator(_number)] = Field(
        default=None, gt=0, le=1e9, description="Latency threshold in seconds: a bucket's `le`."
    )
    matchers: dict[Annotated[str, Field(pattern=LABEL_NAME, max_length=100)], str] = Field(
        default_factory=dict, max_length=20, description="Histogram: label = value on both series (not `le`)."
    )

    _selectors = field_validator("good", "bad", "total")(_selector)

    @field_validator("matchers")
    @classmethod
    def _not_le(cls, v: dict[str, str]) -> dict[str, str]:
        if "le" in v or "__name__" in v:
            raise ValueError("le and __name__ are set by the histogram form")
        return v

    @model_validator(mode="after")
    def _one_form(self) -> SliSpec:
        counters = [n for n in ("good", "bad", "total") if getattr(self, n) is not None]
        latency = [n for n in ("histogram", "threshold_s") if getattr(self, n) is not None]
        if counters and (latency or self.matchers):
            raise ValueError("give good/bad with total, or histogram with threshold_s (and matchers), not both")
        if latency or self.matchers:
            if len(latency) != 2:
                raise ValueError("a latency SLI needs histogram and threshold_s")
        elif self.total is None or (self.good is None) == (self.bad is None):
            raise ValueError("give total and exactly one of good and bad")
        if self.threshold_s is not None and math.isnan(self.threshold_s):
            raise ValueError("threshold_s must be a number")
        return self

    def counters(self) -> CounterSli:
        if self.histogram is not None and self.threshold_s is not None:
            return histogram_sli(self.histogram, self.threshold_s, self.matchers)
        assert self.total is not None
        total = parse_selector(self.total)
        if self.good is not None:
            return CounterSli("good", parse_selector(self.good), total)
        assert self.bad is not None
        return CounterSli("bad", parse_selector(self.bad), total)


_SUPPORTED = (
    "Supported: sum(rate(GOOD[w])) / sum(rate(TOTAL[w])), 1 - sum(rate(BAD[w])) / sum(rate(TOTAL[w])) "
    "(also increase(...) or a plain sum(SELECTOR)); or give the structured `sli` field"
)


def check_sli_query(v: str) -> str:
    """Empty, an OpenSLO record, or a query of a form `parse_sli_query` accepts (SLI_QUERY_PATTERN)."""
    if v and not _SLI_QUERY.fullmatch(v):
        try:
            parse_sli_query(v)
        except QueryRefused as exc:
            raise ValueError(f"not a supported query: {exc}. {_SUPPORTED}") from None
        raise ValueError(f"not a supported query: outside the grammar (docs: SLIs from Prometheus). {_SUPPORTED}")
    return v


def counter_sli(sli: SliSpec | None, sli_query: str) -> CounterSli | None:
    """The counters an SLO's SLI is read from: `sli` first, else a query-form `sli_query`."""
    if sli is not None:
        return sli.counters()
    if sli_query and not OPENSLO_RECORD.fullmatch(sli_query):
        return parse_sli_query(sli_query)
    return None
