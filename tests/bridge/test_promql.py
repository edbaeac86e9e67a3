"""Selectors and sli_query forms: parsed exactly, anything else refused with the reason."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.promql import (
    PROMQL_RE,
    SELECTOR_PATTERN,
    QueryRefused,
    histogram_sli,
    parse_counter,
    parse_selector,
    parse_sli_query,
)
from app.domain.sli import SLI_QUERY_PATTERN, check_sli_query


def test_selector_matches_like_prometheus() -> None:
    sel = parse_selector('http_requests_total{service="checkout", code!~"5..", path=~"/api/.*",}')
    assert sel.metric == "http_requests_total"
    base = {"__name__": "http_requests_total", "service": "checkout", "path": "/api/x"}
    assert sel.matches(base | {"code": "200"})
    assert not sel.matches(base | {"code": "503"})
    assert not sel.matches(base | {"code": "200", "service": "cart"})
    assert not sel.matches(base | {"code": "200", "path": "/x/api/"})  # regexes are anchored
    assert not sel.matches({"__name__": "other_total", "service": "checkout", "code": "200", "path": "/api/x"})
    # a missing label is the empty string: != and !~ match it
    assert parse_selector('up{job!="x"}').matches({"__name__": "up"})


def test_selector_quoting_and_text_round_trip() -> None:
    sel = parse_selector("""m{a="it's", c='q"x', d=~"2..|3.+"}""")
    assert [(m.name, m.op, m.value) for m in sel.matchers[1:]] == [
        ("a", "=", "it's"),
        ("c", "=", 'q"x'),
        ("d", "=~", "2..|3.+"),
    ]
    assert parse_selector(sel.text()) == sel


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{code=~"5.."}', "starting with its metric name"),
        ("m{code=200}", "quoted with"),
        ('m{code="200"', "to close the selector"),
        ('m{code=~"(5|4).."}', "a regular expression here holds"),
        ('m{code=~"[45].."}', "a regular expression here holds"),
        ('m{code="a\\"b"}', "no backslash"),
        ("m{code=`raw`}", "quoted with"),
        ('m{code=="1"}', "quoted with"),
        ("", "expected a series selector"),
        ('m{a="1"} x', "after the end"),
    ],
)
def test_bad_selectors_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(QueryRefused, match=reason):
        parse_selector(text)


def test_good_over_total_forms() -> None:
    for fn in ("rate({}[5m])", "increase({}[1h30m])", "{}"):
        good = fn.format('http_requests_total{code!~"5.."}')
        total = fn.format("http_requests_total")
        sli = parse_sli_query(f"sum({good}) / sum({total})")
        assert re.fullmatch(PROMQL_RE, f"sum({good}) / sum({total})")
        assert sli.numerator == "good"
        assert sli.numerator_selector == parse_selector('http_requests_total{code!~"5.."}')
        assert sli.total == parse_selector("http_requests_total")


def test_one_minus_bad_over_total() -> None:
    sli = parse_sli_query('1 - (sum(rate(errors_total{svc="a"}[5m])) / sum(rate(requests_total{svc="a"}[5m])))')
    assert sli.numerator == "bad"
    assert sli.numerator_selector.metric == "errors_total"
    assert sli.total.metric == "requests_total"
    assert parse_sli_query("1.0 - sum(e)/sum(t)").numerator == "bad"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sum(rate(a[5m])) / sum(increase(b[5m]))", "numerator and denominator differ"),
        ("sum(rate(a[5m])) / sum(rate(b[1h]))", "numerator and denominator differ"),
        ("sum by (code) (rate(a[5m])) / sum(rate(b[5m]))", "sum by/without"),
        ("sum(rate(a[5m])) by (code) / sum(rate(b[5m]))", "sum by/without"),
        ("avg(rate(a[5m])) / sum(rate(b[5m]))", "expected sum"),
        ("sum(rate(a[5m]))", "between the two sums"),
        ("sum(rate(a)) / sum(rate(b))", "range"),
        ("sum(rate(a[5x])) / sum(rate(b[5x]))", "duration"),
        ("2 - sum(a)/sum(b)", "expected sum"),
        ("1 + sum(a)/sum(b)", "'-'"),
        ("sum(a)/sum(b) * 100", "after the end"),
        ("free text describing the SLI", "expected sum"),
        ("   ", "empty query"),
        ("((sum(a) / sum(b)))", "one pair of parentheses"),
    ],
)
def test_other_queries_are_refused_never_guessed(text: str, reason: str) -> None:
    with pytest.raises(QueryRefused, match=reason):
        parse_sli_query(text)


def test_counter_of_an_openslo_query() -> None:
    assert parse_counter('sum(rate(a{x="1"}[5m]))') == parse_selector('a{x="1"}')
    assert parse_counter('a{x="1"}') == parse_selector('a{x="1"}')
    assert parse_counter("summary_total") == parse_selector("summary_total")
    with pytest.raises(QueryRefused):
        parse_counter("rate(a[5m])")


def test_histogram_sli_matches_the_bucket_by_number() -> None:
    sli = histogram_sli("http_request_duration_seconds", 0.3, {"service": "checkout"})
    bucket = {"__name__": "http_request_duration_seconds_bucket", "service": "checkout"}
    assert sli.numerator_selector.matches(bucket | {"le": "0.3"})
    assert sli.numerator_selector.matches(bucket | {"le": "3e-01"})
    assert not sli.numerator_selector.matches(bucket | {"le": "0.5"})
    assert not sli.numerator_selector.matches(bucket | {"le": "0.3", "service": "cart"})
    assert sli.total.matches({"__name__": "http_request_duration_seconds_count", "service": "checkout"})
    with pytest.raises(QueryRefused, match="threshold_s"):
        histogram_sli("h", float("nan"), {})
    with pytest.raises(QueryRefused, match="label name"):
        histogram_sli("h", 0.3, {"le": "1"})


# -- the API's JSON Schema states exactly what is accepted -------------------------------
@settings(max_examples=300)
@given(st.from_regex(PROMQL_RE, fullmatch=True))
def test_every_query_the_pattern_allows_parses(query: str) -> None:
    parse_sli_query(query)
    assert check_sli_query(query) == query


@settings(max_examples=300)
@given(st.from_regex(SELECTOR_PATTERN))
def test_every_selector_the_pattern_allows_parses(text: str) -> None:
    parse_selector(text)


_TOKENS = [
    "sum",
    "rate",
    "increase",
    "(",
    ")",
    "[5m]",
    "[1h]",
    "[5x]",
    "a",
    "b_total",
    "{",
    "}",
    'x="1"',
    "y=~'5..'",
    'z!~"(x)"',
    "w!='q'",
    ",",
    "/",
    "1",
    "1.0",
    "-",
    " ",
    "\t",
    "by",
    "(code)",
    "\\",
    "`r`",
    "\u2003",
    "==",
]


@settings(max_examples=1500)
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=24).map("".join))
def test_parser_and_schema_pattern_agree(text: str) -> None:
    try:
        parse_sli_query(text)
        parsed = True
    except QueryRefused:
        parsed = False
    assert parsed == (re.fullmatch(PROMQL_RE, text) is not None)
    assert parsed == (re.search(SLI_QUERY_PATTERN, text) is not None)


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=10).map("".join))
def test_selector_parser_and_pattern_agree(text: str) -> None:
    try:
        parse_selector(text)
        parsed = True
    except QueryRefused:
        parsed = False
    assert parsed == (re.search(SELECTOR_PATTERN, text) is not None)
