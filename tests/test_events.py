"""The SLI event decoder: every bad-input class gets its reason; timestamps convert exactly."""

from __future__ import annotations

import json
import random

import pytest

import app.ingest
from app.domain.events import MAX_COUNT, RejectReason, SliEvent, TimestampCache, decode_event
from app.errors import RejectedEvent
from app.ingest import decode_lines

T0 = 1_773_144_000  # 2026-03-10T12:00:00Z in epoch seconds
T0_US = T0 * 1_000_000


def msg(**fields: object) -> bytes:
    base: dict[str, object] = {
        "slo_id": "checkout",
        "timestamp": "2026-03-10T12:00:00Z",
        "good": 9,
        "total": 10,
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not DROP}).encode()


DROP = object()


def decode(raw: bytes) -> SliEvent:
    return decode_event(raw, TimestampCache())


def ints(column: object) -> list[int]:
    """A decoded column (numpy array or list) as a list of ints."""
    return [int(v) for v in column]  # type: ignore[attr-defined]


def reason_of(raw: bytes) -> tuple[str, str | None]:
    with pytest.raises(RejectedEvent) as info:
        decode(raw)
    return info.value.reason, info.value.field


# -- good events --------------------------------------------------------------------------


def test_valid_event() -> None:
    ev = decode(msg(event_id="e-1"))
    assert ev == SliEvent("checkout", T0_US, 9, 10, "e-1")


def test_valid_event_edge_counts() -> None:
    assert decode(msg(good=0, total=0)) == SliEvent("checkout", T0_US, 0, 0)
    assert decode(msg(good=MAX_COUNT, total=MAX_COUNT)) == SliEvent("checkout", T0_US, MAX_COUNT, MAX_COUNT)
    assert MAX_COUNT >= 2**40  # "a trillion events per interval"


@pytest.mark.parametrize(
    ("timestamp", "expected_us"),
    [
        ("2026-03-10T12:00:00Z", T0_US),
        ("2026-03-10T12:00:00z", T0_US),
        ("2026-03-10t12:00:00Z", T0_US),
        ("2026-03-10 12:00:00Z", T0_US),
        ("2026-03-10T12:00:00+00:00", T0_US),
        ("2026-03-10T12:00:00-00:00", T0_US),
        ("2026-03-10T14:30:00+02:30", T0_US),
        ("2026-03-10T07:00:00-05:00", T0_US),
        ("2026-03-11T01:00:00+13:00", T0_US),
        ("2026-03-10T12:00:00.5Z", T0_US + 500_000),
        ("2026-03-10T12:00:00.123Z", T0_US + 123_000),
        ("2026-03-10T12:00:00.123456Z", T0_US + 123_456),
        ("2026-03-10T12:00:00.000001+01:00", T0_US - 3_600_000_000 + 1),
        ("1970-01-01T00:00:00Z", 0),
        ("2024-02-29T23:59:59.999999Z", 1_709_251_199_999_999),
        (T0, T0_US),
        (0, 0),
        (T0 + 0.25, T0_US + 250_000),
        (T0 + 0.123456, T0_US + 123_456),
        (float(T0), T0_US),
        (1_709_251_199.999999, 1_709_251_199_999_999),
    ],
)
def test_timestamp_forms(timestamp: object, expected_us: int) -> None:
    assert decode(msg(timestamp=timestamp)).ts_us == expected_us


def test_more_than_six_fractional_digits_are_accepted_to_the_microsecond() -> None:
    ts = decode(msg(timestamp="2026-03-10T12:00:00.1234567Z")).ts_us
    assert abs(ts - (T0_US + 123_456)) <= 1


def test_timestamp_cache_returns_same_values() -> None:
    cache = TimestampCache(limit=2)
    stamps = ["2026-03-10T12:00:00Z", T0, T0 + 0.5, "2026-03-10T12:00:00Z", T0]
    got = [decode_event(msg(timestamp=s), cache).ts_us for s in stamps]
    assert got == [T0_US, T0_US, T0_US + 500_000, T0_US, T0_US]


# -- bad events ----------------------------------------------------------------------------

BAD: list[tuple[str, bytes, RejectReason, str | None]] = [
    ("not json", b"not json", RejectReason.INVALID_JSON, None),
    ("truncated", b'{"slo_id": "checkout", "good": 1', RejectReason.INVALID_JSON, None),
    ("empty", b"", RejectReason.INVALID_JSON, None),
    ("not utf-8", b'{"slo_id": "\xff"}', RejectReason.INVALID_JSON, None),
    ("array", b"[1, 2]", RejectReason.NOT_AN_OBJECT, None),
    ("string", b'"event"', RejectReason.NOT_AN_OBJECT, None),
    ("number", b"42", RejectReason.NOT_AN_OBJECT, None),
    ("null", b"null", RejectReason.NOT_AN_OBJECT, None),
    ("no slo_id", msg(slo_id=DROP), RejectReason.MISSING_FIELD, "slo_id"),
    ("no timestamp", msg(timestamp=DROP), RejectReason.MISSING_FIELD, "timestamp"),
    ("no good", msg(good=DROP), RejectReason.MISSING_FIELD, "good"),
    ("no total", msg(total=DROP), RejectReason.MISSING_FIELD, "total"),
    ("good > total", msg(good=11, total=10), RejectReason.GOOD_EXCEEDS_TOTAL, "good"),
    ("good > total zero", msg(good=1, total=0), RejectReason.GOOD_EXCEEDS_TOTAL, "good"),
    ("negative good", msg(good=-1), RejectReason.NEGATIVE_COUNT, "good"),
    ("negative total", msg(good=0, total=-5), RejectReason.NEGATIVE_COUNT, "total"),
    ("float good", msg(good=5.0), RejectReason.NON_INTEGER_COUNT, "good"),
    ("float total", msg(total=10.0), RejectReason.NON_INTEGER_COUNT, "total"),
    ("fractional good", msg(good=5.5), RejectReason.NON_INTEGER_COUNT, "good"),
    (
        "exponent total",
        b'{"slo_id":"c","timestamp":1,"good":1,"total":1e3}',
        RejectReason.NON_INTEGER_COUNT,
        "total",
    ),
    ("bool good", msg(good=True), RejectReason.NON_INTEGER_COUNT, "good"),
    ("bool total", msg(good=0, total=False), RejectReason.NON_INTEGER_COUNT, "total"),
    ("string good", msg(good="9"), RejectReason.NON_INTEGER_COUNT, "good"),
    ("null total", msg(total=None), RejectReason.NON_INTEGER_COUNT, "total"),
    ("too large total", msg(total=MAX_COUNT + 1), RejectReason.COUNT_OUT_OF_RANGE, "total"),
    ("huge good", msg(good=10**30, total=10**30), RejectReason.COUNT_OUT_OF_RANGE, "good"),
    ("NaN timestamp", msg(timestamp=float("nan")), RejectReason.NON_FINITE_TIMESTAMP, "timestamp"),
    ("Infinity timestamp", msg(timestamp=float("inf")), RejectReason.NON_FINITE_TIMESTAMP, "timestamp"),
    ("-Infinity timestamp", msg(timestamp=float("-inf")), RejectReason.NON_FINITE_TIMESTAMP, "timestamp"),
    (
        "1e999 timestamp",
        b'{"slo_id":"c","timestamp":1e999,"good":1,"total":1}',
        RejectReason.NON_FINITE_TIMESTAMP,
        "timestamp",
    ),
    ("no offset", msg(timestamp="2026-03-10T12:00:00"), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    (
        "no offset fraction",
        msg(timestamp="2026-03-10T12:00:00.5"),
        RejectReason.INVALID_TIMESTAMP,
        "timestamp",
    ),
    ("date only", msg(timestamp="2026-03-10"), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("words", msg(timestamp="yesterday"), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("empty timestamp", msg(timestamp=""), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("Feb 30th", msg(timestamp="2026-02-30T00:00:00Z"), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("hour 24", msg(timestamp="2026-03-10T24:00:00Z"), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("numeric string", msg(timestamp="1773144000"), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("null timestamp", msg(timestamp=None), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("bool timestamp", msg(timestamp=True), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("list timestamp", msg(timestamp=[T0]), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("negative epoch", msg(timestamp=-1), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("epoch past 9999", msg(timestamp=10**12), RejectReason.INVALID_TIMESTAMP, "timestamp"),
    ("empty slo_id", msg(slo_id=""), RejectReason.INVALID_SLO_ID, "slo_id"),
    ("numeric slo_id", msg(slo_id=7), RejectReason.INVALID_SLO_ID, "slo_id"),
    ("long slo_id", msg(slo_id="x" * 101), RejectReason.INVALID_SLO_ID, "slo_id"),
    ("numeric event_id", msg(event_id=7), RejectReason.INVALID_EVENT_ID, "event_id"),
]


@pytest.mark.parametrize(("raw", "reason", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_event_reason(raw: bytes, reason: RejectReason, field: str | None) -> None:
    assert reason_of(raw) == (reason.value, field)


def test_python_json_writes_non_finite_timestamps_as_the_decoder_expects() -> None:
    # the samples above are what Python producers actually send
    assert msg(timestamp=float("nan")).count(b"NaN") == 1
    assert msg(timestamp=float("inf")).count(b"Infinity") == 1


# -- decode_lines ---------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "reason", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_decode_lines_gives_each_bad_line_the_same_reason(raw: bytes, reason: RejectReason, field: str | None) -> None:
    if b"\n" in raw:
        pytest.skip("a multi-line sample is not one line")
    good = msg()
    data = b"\n".join([good, raw, good, b"", good]) + b"\n"
    cols, rejections = decode_lines(data)
    if raw.strip() == b"":
        # an empty line is not an event at all
        assert ints(cols.line_no) == [1, 3, 5]
        assert rejections == []
        return
    assert [(r.line_no, r.reason) for r in rejections] == [(2, reason.value)]
    assert ints(cols.line_no) == [1, 3, 5]
    assert ints(cols.ts_us) == [T0_US] * 3
    assert (ints(cols.good), ints(cols.total), list(cols.slo_id)) == ([9] * 3, [10] * 3, ["checkout"] * 3)


def test_decode_lines_columns() -> None:
    data = b"\n".join(
        [
            msg(slo_id="a", timestamp=T0, good=1, total=2),
            msg(slo_id="b", timestamp="2026-03-10T12:00:01Z", good=3, total=4),
            msg(slo_id="a", timestamp=T0 + 0.5, good=0, total=0),
        ]
    )  # no final newline
    cols, rejections = decode_lines(data)
    assert rejections == []
    assert ints(cols.line_no) == [1, 2, 3]
    assert cols.slo_id == ["a", "b", "a"]
    assert ints(cols.ts_us) == [T0_US, T0_US + 1_000_000, T0_US + 500_000]
    assert ints(cols.good) == [1, 3, 0]
    assert ints(cols.total) == [2, 4, 0]


def test_decode_lines_empty_input() -> None:
    cols, rejections = decode_lines(b"")
    assert (ints(cols.line_no), rejections) == ([], [])
    cols, rejections = decode_lines(b"\n\n  \n")
    assert (ints(cols.line_no), rejections) == ([], [])


def _mixed_file(seed: int, n: int) -> tuple[bytes, list[int], list[tuple[int, str]], list[int]]:
    """Lines: good events, blank lines, and bad lines of every class, in random order.
    Returns the bytes, the expected good line numbers, the expected (line, reason)
    of bad lines, and the good lines' `good` values (unique, to check alignment)."""
    rng = random.Random(seed)
    # (the non-UTF-8 sample has its own tests: it would fail every numbering test here)
    singles = [b for b in BAD if b"\n" not in b[1] and b[1].strip() and b[0] != "not utf-8"]
    lines: list[bytes] = []
    good_lines: list[int] = []
    good_values: list[int] = []
    bad_lines: list[tuple[int, str]] = []
    for i in range(1, n + 1):
        kind = rng.random()
        if kind < 0.55:
            value = len(good_values)
            lines.append(msg(good=value, total=value + rng.randint(0, 5), timestamp=T0 + rng.randint(-99, 99)))
            good_lines.append(i)
            good_values.append(value)
        elif kind < 0.7:
            lines.append(rng.choice([b"", b"   ", b"\t", b"\r"]))
        else:
            _, raw, reason, _ = rng.choice(singles)
            lines.append(raw)
            bad_lines.append((i, reason.value))
    data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
    return data, good_lines, bad_lines, good_values


@pytest.mark.parametrize("chunk", [1, 7, 64, 300, 4096, 1 << 20])
@pytest.mark.parametrize("seed", range(4))
def test_decode_lines_line_numbers_across_chunks(monkeypatch: pytest.MonkeyPatch, chunk: int, seed: int) -> None:
    monkeypatch.setattr(app.ingest, "CHUNK_BYTES", chunk)
    data, good_lines, bad_lines, good_values = _mixed_file(seed, 150)
    cols, rejections = decode_lines(data)
    assert ints(cols.line_no) == good_lines
    assert ints(cols.good) == good_values
    assert [(r.line_no, r.reason) for r in rejections] == bad_lines


@pytest.mark.parametrize("chunk", [1, 50, 1 << 20])
def test_decode_lines_all_good_chunks(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(app.ingest, "CHUNK_BYTES", chunk)
    data = b"".join(msg(good=i, total=i) + b"\n" for i in range(200))
    cols, rejections = decode_lines(data)
    assert rejections == []
    assert ints(cols.line_no) == list(range(1, 201))
    assert ints(cols.good) == list(range(200))


def test_decode_lines_crlf_line_endings() -> None:
    data = msg(good=1) + b"\r\n" + b"oops\r\n" + msg(good=2) + b"\r\n"
    cols, rejections = decode_lines(data)
    assert ints(cols.line_no) == [1, 3]
    assert ints(cols.good) == [1, 2]
    assert [(r.line_no, r.reason) for r in rejections] == [(2, "invalid_json")]


def test_decode_lines_two_events_on_one_line_are_rejected() -> None:
    """One message per line: a line holding two JSON objects is not valid JSON.
    Here a blank line makes the count of decoded values equal the count of lines,
    which must not let the bad line through nor shift the line numbers."""
    data = msg(good=1) + b" " + msg(good=2) + b"\n\n" + msg(good=3) + b"\n"
    cols, rejections = decode_lines(data)
    assert [(r.line_no, r.reason) for r in rejections] == [(1, "invalid_json")]
    assert ints(cols.line_no) == [3]
    assert ints(cols.good) == [3]


def test_decode_lines_object_split_over_two_lines_is_rejected() -> None:
    """A JSON object spread over two lines is two bad messages, even when another
    line holding two objects makes the value count match the line count."""
    split = msg(good=1)
    cut = split.index(b",") + 1
    data = split[:cut] + b"\n" + split[cut:] + b"\n" + msg(good=2) + msg(good=3) + b"\n" + msg(good=4) + b"\n"
    cols, rejections = decode_lines(data)
    assert [r.line_no for r in rejections] == [1, 2, 3]
    assert {r.reason for r in rejections} == {"invalid_json"}
    assert ints(cols.line_no) == [4]
    assert ints(cols.good) == [4]
