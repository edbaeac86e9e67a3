"""Prometheus series selectors and the `sli_query` forms the engine understands.

Pure: text in, matchers out. The parser is strict: a query is one of the forms below
or it is refused with the reason (`QueryRefused`, a ValueError so pydantic reports it
on the field), never guessed.

    SEL                          a series selector: name{label op "value", ...}
    sum(SEL)  sum(rate(SEL[w]))  sum(increase(SEL[w]))      a counter sum
    GOOD_SUM / TOTAL_SUM         good / total (both sums of the same form)
    1 - BAD_SUM / TOTAL_SUM      1 - bad / total (one pair of parentheses around the ratio allowed)

The accepted language is regular on purpose, so that the JSON Schema of the API states it
exactly (`SLI_QUERY_PATTERN`, `SELECTOR_PATTERN`): a selector starts with its metric name;
label values are quoted with " or ' and hold no backslash or newline; the values of =~ and
!~ hold letters, digits, `_ : / , space -`, `|` and `.` (optionally followed by * + or ?),
so every one is a valid regular expression; whitespace is space, tab, CR or LF.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]
Role = Literal["good", "bad", "total"]
Numerator = Literal["good", "bad"]

_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_OPS: tuple[Op, ...] = ("=~", "!~", "!=", "=")  # longest first
_WS = " \t\r\n"

# The grammar as one regular expression (ECMA-262 and Python agree on every construct used).
W = "[ \t\r\n]*"
_NAME_RE = "[a-zA-Z_:][a-zA-Z0-9_:]*"
_PLAIN_RE = """(?:"[^"\\\\\\n]*"|'[^'\\\\\\n]*')"""
_RX_CHARS = "(?:[A-Za-z0-9_:/ ,|-]|\\.[*+?]?)*"
_RX_RE = f"""(?:"{_RX_CHARS}"|'{_RX_CHARS}')"""
_MATCHER_RE = f"[a-zA-Z_][a-zA-Z0-9_]*{W}(?:!?={W}{_PLAIN_RE}|[=!]~{W}{_RX_RE})"
SELECTOR_RE = f"{_NAME_RE}(?:{W}\\{{{W}(?:{_MATCHER_RE}{W}(?:,{W}{_MATCHER_RE}{W})*(?:,{W})?)?\\}})?"
_DURATION_RE = "(?:[0-9]+(?:ms|s|m|h|d|w|y))+"


def _ratio_re(group: int) -> str:
    """A ratio of two sums of the same form; uses capture groups `group` and `group + 1`."""
    plain = f"sum{W}\\({W}{SELECTOR_RE}{W}\\)"
    ranged = f"sum{W}\\({W}<FN>{W}\\({W}{SELECTOR_RE}{W}\\[{W}<WINDOW>{W}\\]{W}\\){W}\\)"
    first = ranged.replace("<FN>", "(rate|increase)").replace("<WINDOW>", f"({_DURATION_RE})")
    second = ranged.replace("<FN>", f"\\{group}").replace("<WINDOW>", f"\\{group + 1}")
    return f"(?:{plain}{W}/{W}{plain}|{first}{W}/{W}{second})"


PROMQL_RE = f"{W}(?:1(?:\\.0*)?{W}-{W})?(?:\\({W}{_ratio_re(1)}{W}\\)|{_ratio_re(3)}){W}"
SELECTOR_PATTERN = f"^{W}{SELECTOR_RE}{W}$"


_RX_VALUE = re.compile(_RX_CHARS)


class QueryRefused(ValueError):
    """A selector or sli_query the engine does not accept; `reason` says why, `at` where."""

    def __init__(self, reason: str, at: int | None = None) -> None:
        self.reason = reason
        self.at = at
        super().__init__(reason if at is None else f"{reason} (at character {at + 1})")


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def of(name: str, op: Op, value: str) -> Matcher:
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(value, re.DOTALL)
            except re.error as exc:
                raise QueryRefused(f"label {name}: invalid regular expression {value!r}: {exc}") from None
        return Matcher(name, op, value, regex)

    def matches(self, value: str) -> bool:
        """`value` is the label's value, "" when the series lacks it (as Prometheus has it)."""
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self._regex is not None
        hit = self._regex.fullmatch(value) is not None  # Prometheus anchors regexes at both ends
        return hit if self.op == "=~" else not hit

    def text(self) -> str:
        quote = "'" if '"' in self.value else '"'  # a value holds at most one kind (no escapes)
        return f"{self.name}{self.op}{quote}{self.value}{quote}"


@dataclass(frozen=True, slots=True)
class Selector:
    """A series selector; `le` (histograms): the series' `le` label must equal this number."""

    matchers: tuple[Matcher, ...]
    le: float | None = None

    @property
    def metric(self) -> str | None:
        return next((m.value for m in self.matchers if m.name == "__name__" and m.op == "="), None)

    def matches(self, labels: Mapping[str, str]) -> bool:
        for m in self.matchers:
            if not m.matches(labels.get(m.name, "")):
                return False
        if self.le is not None:
            return le_value(labels.get("le", "")) == self.le
        return True

    def text(self) -> str:
        """PromQL text of the label matchers (without the numeric `le` test)."""
        name = self.metric
        rest = [m.text() for m in self.matchers if not (m.name == "__name__" and m.op == "=")]
        return (name or "") + ("{" + ",".join(rest) + "}" if rest or name is None else "")


def le_value(text: str) -> float | None:
    """A histogram bucket's `le` label as a number (None when it is not one)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


@dataclass(frozen=True, slots=True)
class CounterSli:
    """The counters an SLI is computed from: good (or bad) and total."""

    numerator: Numerator
    numerator_selector: Selector
    total: Selector

    def selectors(self) -> tuple[tuple[Role, Selector], tuple[Role, Selector]]:
        return (self.numerator, self.numerator_selector), ("total", self.total)


def histogram_sli(base: str, threshold_s: float, matchers: Mapping[str, str]) -> CounterSli:
    """Latency SLI: good = `<base>_bucket{le=threshold}`, total = `<base>_count`, both with `matchers`."""
    if not _METRIC.fullmatch(base):
        raise QueryRefused(f"histogram: {base!r} is not a metric name")
    for name in matchers:
        if not _LABEL.fullmatch(name) or name in ("__name__", "le"):
            raise QueryRefused(f"histogram matchers: {name!r} is not a label name other than __name__ and le")
    if not (math.isfinite(threshold_s) and threshold_s > 0):
        raise QueryRefused("histogram threshold_s must be a finite number > 0")
    common = tuple(Matcher.of(k, "=", v) for k, v in sorted(matchers.items()))
    bucket = Selector((Matcher.of("__name__", "=", f"{base}_bucket"), *common), le=threshold_s)
    count = Selector((Matcher.of("__name__", "=", f"{base}_count"), *common))
    return CounterSli("good", bucket, count)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def accept(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str, what: str) -> None:
        if not self.accept(token):
            raise QueryRefused(f"expected {token!r} {what}, found {self._found()}", self.pos)

    def word(self, pattern: re.Pattern[str]) -> str | None:
        self.skip()
        match = pattern.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group()

    def string(self, regex: bool) -> str:
        self.skip()
        quote = self.text[self.pos : self.pos + 1]
        if quote not in ('"', "'"):
            raise QueryRefused(f"expected a label value quoted with \" or ', found {self._found()}", self.pos)
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise QueryRefused("unterminated label value", self.pos)
        value = self.text[self.pos + 1 : end]
        if "\\" in value or "\n" in value:
            raise QueryRefused("a label value holds no backslash or newline", self.pos)
        if regex and not _RX_VALUE.fullmatch(value):
            raise QueryRefused(
                "a regular expression here holds letters, digits, _ : / , space -, | and . (optionally "
                f"followed by * + or ?) only, not {value!r}",
                self.pos,
            )
        self.pos = end + 1
        return value

    def end(self) -> None:
        self.skip()
        if self.pos != len(self.text):
            raise QueryRefused(f"unexpected {self._found()} after the end of the expression", self.pos)

    def _found(self) -> str:
        return repr(self.text[self.pos : self.pos + 12]) if self.pos < len(self.text) else "the end"


def _selector(s: _Scanner) -> Selector:
    start = s.pos
    name = s.word(_METRIC)
    matchers: list[Matcher] = [] if name is None else [Matcher.of("__name__", "=", name)]
    if name is not None and name in ("sum", "rate", "increase", "by", "without") and s.peek("("):
        raise QueryRefused(f"{name}(...) is not allowed here", start)
    if s.accept("{"):
        while not s.accept("}"):
            label = s.word(_LABEL)
            if label is None:
                raise QueryRefused(f"expected a label name, found {s._found()}", s.pos)
            op = next((o for o in _OPS if s.accept(o)), None)
            if op is None:
                raise QueryRefused(f"expected one of = != =~ !~ after {label}, found {s._found()}", s.pos)
            matchers.append(Matcher.of(label, op, s.string(regex=op in ("=~", "!~"))))
            if not s.accept(","):
                s.expect("}", "to close the selector")
                break
    if name is None:
        raise QueryRefused(f"expected a series selector starting with its metric name, found {s._found()}", start)
    return Selector(tuple(matchers))


def parse_selector(text: str) -> Selector:
    """One series selector, e.g. `http_requests_total{code!~"5.."}`."""
    s = _Scanner(text)
    selector = _selector(s)
    s.end()
    return selector


def _sum(s: _Scanner) -> tuple[str, Selector]:
    """`sum(SEL)`, `sum(rate(SEL[w]))` or `sum(increase(SEL[w]))`: (form, selector)."""
    at = s.pos
    if s.word(re.compile(r"sum\b")) is None:
        raise QueryRefused(f"expected sum(...), found {s._found()}", s.pos)
    if s.peek("by") or s.peek("without"):
        raise QueryRefused("sum by/without gives one ratio per group: use a plain sum(...)", s.pos)
    s.expect("(", "after sum")
    fn = s.word(re.compile(r"(rate|increase)(?=[ \t\r\n]*\()"))
    if fn is None:
        selector, form = _selector(s), "sum"
    else:
        s.expect("(", f"after {fn}")
        selector = _selector(s)
        s.expect("[", f"and a range after the selector of {fn}(...)")
        window = s.word(_DURATION)
        if window is None:
            raise QueryRefused(f"expected a duration such as 5m, found {s._found()}", s.pos)
        s.expect("]", "after the range")
        s.expect(")", f"to close {fn}(...)")
        form = f"{fn}[{window}]"
    s.expect(")", "to close sum(...)")
    if s.peek("by") or s.peek("without"):
        raise QueryRefused("sum by/without gives one ratio per group: use a plain sum(...)", at)
    return form, selector


def _ratio(s: _Scanner, nested: bool = False) -> tuple[Selector, Selector]:
    if s.accept("("):
        if nested:
            raise QueryRefused("one pair of parentheses around the ratio at most", s.pos - 1)
        pair = _ratio(s, nested=True)
        s.expect(")", "to close the parenthesis")
        return pair
    form_a, a = _sum(s)
    s.expect("/", "between the two sums")
    form_b, b = _sum(s)
    if form_a != form_b:
        raise QueryRefused(f"numerator and denominator differ ({form_a} vs {form_b}): use the same function and range")
    return a, b


def parse_sli_query(text: str) -> CounterSli:
    """`sum(rate(GOOD[w])) / sum(rate(TOTAL[w]))` or `1 - sum(rate(BAD[w])) / sum(rate(TOTAL[w]))`
    (also with `increase` or a plain `sum(SEL)`) as counters; QueryRefused otherwise."""
    s = _Scanner(text)
    if not text.strip():
        raise QueryRefused("empty query")
    if s.word(re.compile(r"1(?:\.0*)?(?![0-9.])")) is not None:
        s.expect("-", "after 1 (the form is 1 - bad / total)")
        bad, total = _ratio(s)
        s.end()
        return CounterSli("bad", bad, total)
    good, total = _ratio(s)
    s.end()
    return CounterSli("good", good, total)


def parse_counter(text: str) -> Selector:
    """One counter as an OpenSLO ratio metric's query gives it: a selector or one of the sums."""
    s = _Scanner(text)
    selector = _sum(s)[1] if re.match(r"[ \t\r\n]*sum[ \t\r\n]*\(", text) else _selector(s)
    s.end()
    return selector
