"""SLI events: decoding raw bytes into validated events, or a reason why not.

The fast path decodes with msgspec into a typed struct (type checks in C); only
a message that fails it takes the slow path, which re-reads it generically to
name the precise reason. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec

from app.core.calendar import to_us
from app.core.enums import RejectReason
from app.errors import RejectedEvent

# Per-event count ceiling: keeps every bucket sum far inside int64 (2**23 maximal
# events in one bucket before overflow) while allowing a trillion events per interval.
MAX_COUNT = 2**40
# Timestamps outside [1970, 10000) cannot be real event times.
MAX_TS_US = 253_402_300_800 * 1_000_000


def reject(reason: RejectReason, detail: str, field: str | None = None) -> RejectedEvent:
    return RejectedEvent(reason.value, detail, field)


@dataclass(frozen=True, slots=True)
class SliEvent:
    slo_id: str
    ts_us: int
    good: int
    total: int
    event_id: str | None = None


class WireEvent(msgspec.Struct, gc=False, omit_defaults=True):
    """An SLI event on the metrics topic (key = slo_id): the counts of one interval.
    Beyond the types: good <= total, and the timestamp within the SLO's retention
    and at most max_skew_s ahead of the worker's clock (else a dead letter)."""

    # gc=False: it holds no containers, so the collector need not track millions of them.
    slo_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="The SLO the counts are for.")]
    timestamp: Annotated[
        str | int | float,
        msgspec.Meta(
            description="Event time, the end of the interval: an RFC 3339 string with an offset, "
            "or epoch seconds (integer or finite number), years 1970-9999."
        ),
    ]
    good: Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT, description="Good events in the interval (<= total).")]
    total: Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT, description="Events in the interval (a delta).")]
    event_id: Annotated[
        str | None, msgspec.Meta(description="Optional id; producers that retry send the same id for the same counts.")
    ] = None


WIRE_DECODER = msgspec.json.Decoder(WireEvent)
_WIRE_ENCODER = msgspec.json.Encoder()


def encode_event(
    slo_id: str, timestamp: str | int | float, good: int, total: int, event_id: str | None = None
) -> bytes:
    """An SLI event's bytes, as producers (the demo, tests) write them."""
    return _WIRE_ENCODER.encode(WireEvent(slo_id, timestamp, good, total, event_id))


# What msgspec raises for bytes that are not a valid event (bad UTF-8 included).
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_rfc3339_us(text: str) -> int:
    """Microseconds since the epoch of an RFC 3339 timestamp (offset required)."""
    if not _RFC3339.match(text):
        raise reject(RejectReason.INVALID_TIMESTAMP, f"not an RFC 3339 timestamp: {text[:64]!r}", "timestamp")
    try:
        dt = datetime.fromisoformat(text.upper().replace(" ", "T"))
    except ValueError as exc:
        raise reject(RejectReason.INVALID_TIMESTAMP, f"{text[:64]!r}: {exc}", "timestamp") from exc
    return _in_range(to_us(dt))


def epoch_seconds_us(value: float) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise reject(RejectReason.NON_FINITE_TIMESTAMP, f"timestamp is {value}", "timestamp")
    return _in_range(value * 1_000_000 if isinstance(value, int) else round(value * 1_000_000))


def _in_range(ts_us: int) -> int:
    if not 0 <= ts_us < MAX_TS_US:
        raise reject(RejectReason.INVALID_TIMESTAMP, "timestamp outside years 1970-9999", "timestamp")
    return ts_us


def timestamp_us(value: object) -> int:
    if isinstance(value, str):
        return parse_rfc3339_us(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise reject(
            RejectReason.INVALID_TIMESTAMP,
            "timestamp must be an RFC 3339 string or epoch seconds",
            "timestamp",
        )
    return epoch_seconds_us(value)


_BAD_TS = -1  # marks a value that failed conversion (valid timestamps are >= 0)


class _StampTable(dict[str | int | float, int]):
    """value -> microseconds; a miss converts once (C-speed hits, Python only on misses)."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str | int | float, RejectedEvent] = {}

    def __missing__(self, value: str | int | float) -> int:
        try:
            ts_us = timestamp_us(value)
        except RejectedEvent as exc:
            self.errors[value] = exc
            ts_us = _BAD_TS
        self[value] = ts_us
        return ts_us


class TimestampCache:
    """Memoizes timestamp conversion: producers of many SLOs stamp the same instants."""

    __slots__ = ("_limit", "_table")

    def __init__(self, limit: int = 200_000) -> None:
        self._table = _StampTable()
        self._limit = limit

    def _trim(self) -> None:
        if len(self._table) > self._limit:
            self._table = _StampTable()

    def __call__(self, value: str | int | float) -> int:
        """Microseconds of one timestamp; RejectedEvent if it is not one."""
        self._trim()
        ts_us = self._table[value]
        if ts_us == _BAD_TS:
            raise self._table.errors[value]
        return ts_us

    def many(self, values: list[str | int | float]) -> tuple[list[int], dict[int, RejectedEvent]]:
        """Convert a column; bad ones are reported by index (their slot holds -1)."""
        self._trim()
        table = self._table
        out = [table[v] for v in values]
        if _BAD_TS not in out:
            return out, {}
        errors = table.errors
        return out, {i: errors[values[i]] for i, ts_us in enumerate(out) if ts_us == _BAD_TS}


def from_wire(wire: WireEvent, ts_of: TimestampCache) -> SliEvent:
    """Finish validating a type-checked event: timestamp and good <= total."""
    if wire.good > wire.total:
        raise reject(RejectReason.GOOD_EXCEEDS_TOTAL, f"good {wire.good} > total {wire.total}", "good")
    return SliEvent(wire.slo_id, ts_of(wire.timestamp), wire.good, wire.total, wire.event_id)


def decode_event(raw: bytes, ts_of: TimestampCache) -> SliEvent:
    """One message's bytes to a valid event; RejectedEvent with the reason otherwise."""
    try:
        wire = WIRE_DECODER.decode(raw)
    except DECODE_ERRORS:
        raise explain(raw) from None
    return from_wire(wire, ts_of)


def explain(raw: bytes) -> RejectedEvent:
    """Name why `raw` is not a valid event (slow path, bad input only)."""
    try:
        obj: Any = json.loads(raw)  # stdlib: also reads NaN / Infinity, to name them
    except (ValueError, RecursionError) as exc:
        return reject(RejectReason.INVALID_JSON, f"not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return reject(RejectReason.NOT_AN_OBJECT, f"expected a JSON object, got {type(obj).__name__}")
    for name in ("slo_id", "timestamp", "good", "total"):
        if name not in obj:
            return reject(RejectReason.MISSING_FIELD, f"missing field {name!r}", name)
    slo_id = obj["slo_id"]
    if not isinstance(slo_id, str) or not 1 <= len(slo_id) <= 100:
        return reject(RejectReason.INVALID_SLO_ID, "slo_id must be a string of 1-100 characters", "slo_id")
    for name in ("good", "total"):
        count = obj[name]
        if isinstance(count, bool) or not isinstance(count, int):
            return reject(RejectReason.NON_INTEGER_COUNT, f"{name} must be an integer, got {count!r:.40}", name)
        if count < 0:
            return reject(RejectReason.NEGATIVE_COUNT, f"{name} is negative ({count})", name)
        if count > MAX_COUNT:
            return reject(RejectReason.COUNT_OUT_OF_RANGE, f"{name} exceeds {MAX_COUNT}", name)
    event_id = obj.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        return reject(RejectReason.INVALID_EVENT_ID, "event_id must be a string", "event_id")
    try:
        timestamp_us(obj["timestamp"])
    except RejectedEvent as exc:
        return exc
    return reject(RejectReason.INVALID_JSON, "message does not match the SLI event schema")
