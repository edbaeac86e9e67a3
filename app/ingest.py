"""Batch decoding of newline-delimited SLI events into columns (replay, backfill).

msgspec decodes a whole chunk of lines in one call; a chunk that holds a bad
line is decoded again line by line so every bad line gets its number and
reason. Pure: the caller reads the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import numpy as np

from app.core.ring import Int64Array
from app.domain.events import (
    WIRE_DECODER,
    RejectReason,
    TimestampCache,
    WireEvent,
    explain,
    reject,
)

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Rejection:
    line_no: int
    reason: str
    detail: str


@dataclass(slots=True)
class Columns:
    """Decoded, schema-valid events in input order."""

    line_no: list[int] = field(default_factory=list)
    slo_id: list[str] = field(default_factory=list)
    ts_us: list[int] = field(default_factory=list)
    good: list[int] = field(default_factory=list)
    total: list[int] = field(default_factory=list)

    def arrays(self) -> tuple[Int64Array, Int64Array, Int64Array, Int64Array]:
        return (
            np.asarray(self.line_no, dtype=np.int64),
            np.asarray(self.ts_us, dtype=np.int64),
            np.asarray(self.good, dtype=np.int64),
            np.asarray(self.total, dtype=np.int64),
        )


def _chunks(data: bytes) -> list[tuple[int, bytes]]:
    """Split at newlines into pieces of about CHUNK_BYTES, with each piece's first line number."""
    out: list[tuple[int, bytes]] = []
    start, line_no = 0, 1
    while start < len(data):
        end = data.find(b"\n", start + CHUNK_BYTES)
        end = len(data) if end < 0 else end + 1
        piece = data[start:end]
        out.append((line_no, piece))
        line_no += piece.count(b"\n")
        start = end
    return out


def decode_lines(data: bytes, ts_of: TimestampCache | None = None) -> tuple[Columns, list[Rejection]]:
    ts_of = ts_of or TimestampCache()
    cols, rejections = Columns(), list[Rejection]()
    for first_line, piece in _chunks(data):
        n_lines = piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)
        try:
            wires: list[WireEvent] | None = WIRE_DECODER.decode_lines(piece)
        except msgspec.DecodeError:
            wires = None
        if wires is not None and len(wires) == n_lines:
            _extend(cols, rejections, range(first_line, first_line + n_lines), wires, ts_of)
        else:
            _line_by_line(cols, rejections, first_line, piece, ts_of)
    return cols, rejections


def _line_by_line(
    cols: Columns, rejections: list[Rejection], first_line: int, piece: bytes, ts_of: TimestampCache
) -> None:
    line_nos, wires = [], []
    for i, line in enumerate(piece.split(b"\n")):
        if not line.strip():
            continue  # blank lines are not events
        try:
            wires.append(WIRE_DECODER.decode(line))
            line_nos.append(first_line + i)
        except msgspec.DecodeError:
            exc = explain(line)
            rejections.append(Rejection(first_line + i, exc.reason, exc.detail))
    _extend(cols, rejections, line_nos, wires, ts_of)


def _extend(
    cols: Columns,
    rejections: list[Rejection],
    line_nos: range | list[int],
    wires: list[WireEvent],
    ts_of: TimestampCache,
) -> None:
    """Append type-checked events, rejecting bad timestamps and good > total."""
    slo_ids = [w.slo_id for w in wires]
    stamps = [w.timestamp for w in wires]
    goods = [w.good for w in wires]
    totals = [w.total for w in wires]
    ts_us, bad = ts_of.many(stamps)
    for i in np.flatnonzero(np.asarray(goods, dtype=np.int64) > np.asarray(totals, dtype=np.int64)).tolist():
        bad.setdefault(
            i, reject(RejectReason.GOOD_EXCEEDS_TOTAL, f"good {goods[i]} > total {totals[i]}", "good")
        )
    if not bad:
        cols.line_no.extend(line_nos)
        cols.slo_id.extend(slo_ids)
        cols.ts_us.extend(ts_us)
        cols.good.extend(goods)
        cols.total.extend(totals)
        return
    for i in range(len(wires)):
        if i in bad:
            rejections.append(Rejection(line_nos[i], bad[i].reason, bad[i].detail))
            continue
        cols.line_no.append(line_nos[i])
        cols.slo_id.append(slo_ids[i])
        cols.ts_us.append(ts_us[i])
        cols.good.append(goods[i])
        cols.total.append(totals[i])
