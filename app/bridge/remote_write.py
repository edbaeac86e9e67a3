"""Prometheus remote write 1.0: a snappy-compressed (block format) protobuf `WriteRequest`.

Decoded by hand: only the fields the bridge reads (a small, stable schema, from
prometheus/prompb types.proto and remote.proto):

    WriteRequest { repeated TimeSeries timeseries = 1; ... metadata = 3 (skipped) }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; exemplars = 3, histograms = 4 (skipped) }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in ms

Unknown fields are skipped by wire type, as protobuf requires. Staleness markers (the NaN
Prometheus writes when a series disappears) are dropped and counted, not treated as bad.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.errors import MissingExtra

STALE_NAN_BITS = 0x7FF0000000000002  # Prometheus' staleness marker (value.StaleNaN)
_DOUBLE = struct.Struct("<d")
_U64 = struct.Struct("<Q")


class DecodeError(ValueError):
    """The body is not a remote-write 1.0 request; `reason` says what is wrong."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Series:
    labels: list[tuple[str, str]]
    samples: list[tuple[float, int]]  # (value, timestamp ms)
    stale: int  # staleness markers dropped


def require_snappy() -> Any:
    """cramjam's snappy module; MissingExtra when the `bridge` extra is not installed."""
    try:
        import cramjam
    except ImportError:
        raise MissingExtra("bridge remote-write", "cramjam", "bridge") from None
    return cramjam.snappy


def decompress(body: bytes, max_bytes: int) -> bytes:
    """Snappy block format; DecodeError if corrupt or larger than `max_bytes` once decompressed."""
    snappy = require_snappy()
    try:
        size = snappy.decompress_raw_len(body)
    except Exception as exc:  # cramjam raises its own DecompressionError (not exported as a type)
        raise DecodeError(f"not snappy (block format): {exc}") from None
    if size > max_bytes:
        raise DecodeError(f"decompressed body of {size} bytes exceeds the limit of {max_bytes}")
    try:
        return bytes(snappy.decompress_raw(body))
    except Exception as exc:
        raise DecodeError(f"not snappy (block format): {exc}") from None


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint longer than 10 bytes")


def _skip(buf: bytes, pos: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, pos)[1]
    if wire == 1:
        return pos + 8
    if wire == 2:
        n, pos = _varint(buf, pos)
        return pos + n
    if wire == 5:
        return pos + 4
    raise DecodeError(f"unsupported protobuf wire type {wire}")


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of each field in buf[start:end];
    for varints the value end is the position after it."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 2:
            n, pos = _varint(buf, pos)
            value_end = pos + n
        else:
            value_end = _skip(buf, pos, wire)
        if value_end > end:
            raise DecodeError(f"field {field} runs past the end of its message")
        yield field, wire, pos, value_end
        pos = value_end


def _text(buf: bytes, start: int, end: int) -> str:
    try:
        return buf[start:end].decode()
    except UnicodeDecodeError:
        raise DecodeError("a label is not valid UTF-8") from None


def _label(buf: bytes, start: int, end: int) -> tuple[str, str]:
    name = value = ""
    for field, wire, s, e in _fields(buf, start, end):
        if wire == 2 and field == 1:
            name = _text(buf, s, e)
        elif wire == 2 and field == 2:
            value = _text(buf, s, e)
    if not name:
        raise DecodeError("a label without a name")
    return name, value


def _sample(buf: bytes, start: int, end: int) -> tuple[int, float, int]:
    """(value bits, value, timestamp ms)."""
    bits, ts = 0, 0
    for field, wire, s, _e in _fields(buf, start, end):
        if field == 1 and wire == 1:
            bits = _U64.unpack_from(buf, s)[0]
        elif field == 2 and wire == 0:
            ts = _varint(buf, s)[0]
            if ts >= 1 << 63:
                ts -= 1 << 64
    return bits, _DOUBLE.unpack(_U64.pack(bits))[0], ts


LABEL_CACHE_MAX = 200_000  # distinct encoded labels kept decoded (series repeat in every request)
_label_cache: dict[bytes, tuple[str, str]] = {}


def _cached_label(buf: bytes, start: int, end: int) -> tuple[str, str]:
    raw = buf[start:end]
    label = _label_cache.get(raw)
    if label is None:
        label = _label(buf, start, end)
        if len(_label_cache) >= LABEL_CACHE_MAX:
            _label_cache.clear()
        _label_cache[raw] = label
    return label


def _series(buf: bytes, start: int, end: int) -> Series:
    """One TimeSeries; a hand-rolled loop (the hot path: every series of every request)."""
    labels: list[tuple[str, str]] = []
    samples: list[tuple[float, int]] = []
    stale = 0
    pos = start
    while pos < end:
        key = buf[pos]
        pos += 1
        if key >= 0x80:
            key, pos = _varint(buf, pos - 1)
        wire = key & 7
        if wire != 2:
            pos = _skip(buf, pos, wire)
            continue
        n = buf[pos]
        pos += 1
        if n >= 0x80:
            n, pos = _varint(buf, pos - 1)
        value_end = pos + n
        if value_end > end:
            raise DecodeError(f"field {key >> 3} runs past the end of its message")
        field = key >> 3
        if field == 1:
            labels.append(_cached_label(buf, pos, value_end))
        elif field == 2:
            # Prometheus writes value (field 1, fixed64) then timestamp (field 2, varint)
            if n >= 11 and buf[pos] == 0x09 and buf[pos + 9] == 0x10:
                bits = _U64.unpack_from(buf, pos + 1)[0]
                ts, after = _varint(buf, pos + 10)
                if ts >= 1 << 63:
                    ts -= 1 << 64
                if after != value_end:
                    bits, _, ts = _sample(buf, pos, value_end)
            else:
                bits, _, ts = _sample(buf, pos, value_end)
            if bits == STALE_NAN_BITS:
                stale += 1
            else:
                samples.append((_DOUBLE.unpack(_U64.pack(bits))[0], ts))
        pos = value_end
    if pos != end:
        raise DecodeError("a time series runs past the end of its message")
    if not labels:
        raise DecodeError("a time series without labels")
    return Series(labels, samples, stale)


def decode_write_request(buf: bytes) -> list[Series]:
    """Every time series of a WriteRequest; DecodeError on malformed protobuf."""
    try:
        return [_series(buf, s, e) for field, wire, s, e in _fields(buf, 0, len(buf)) if field == 1 and wire == 2]
    except (IndexError, struct.error):
        raise DecodeError("truncated protobuf message") from None


# -- encoding: for tests and benchmarks (Prometheus encodes what the bridge receives) -----------
def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(field: int, payload: bytes) -> bytes:
    return _uvarint(field << 3 | 2) + _uvarint(len(payload)) + payload


def encode_write_request(series: list[tuple[dict[str, str], list[tuple[float | None, int]]]]) -> bytes:
    """A WriteRequest (not compressed) of (labels, [(value, timestamp ms)]) series; a value of
    None is a staleness marker."""
    out = bytearray()
    for labels, samples in series:
        ts_bytes = bytearray()
        for name, text in sorted(labels.items()):
            ts_bytes += _len_field(1, _len_field(1, name.encode()) + _len_field(2, text.encode()))
        for value, ts_ms in samples:
            bits = _U64.pack(STALE_NAN_BITS) if value is None else _DOUBLE.pack(value)
            sample = b"\x09" + bits + b"\x10" + _uvarint(ts_ms & ((1 << 64) - 1))
            ts_bytes += _len_field(2, sample)
        out += _len_field(1, bytes(ts_bytes))
    return bytes(out)


def compress(body: bytes) -> bytes:
    return bytes(require_snappy().compress_raw(body))
