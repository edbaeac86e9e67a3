"""Batch decoding of newline-delimited SLI events into columns (replay, backfill).

msgspec decodes a whole chunk of lines in one call; a chunk that holds a line
it cannot type-check is decoded again line by line so that every bad line
gets its number and reason. Checks that need values (timestamps, good <=
total) run once over whole columns. Pure: the caller reads the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.enums import RejectReason
from app.core.ring import Int64Array
from app.domain.events import DECODE_ERRORS, WIRE_DECODER, TimestampCache, WireEvent, explain

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Rejection:
    line_no: int
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Columns:
    """Valid events in input order, one array (or list) per field."""

    line_no: Int64Array
    slo_id: list[str]
    ts_us: Int64Array
    good: Int64Array
    total: Int64Array
    event_id: list[str | None]


class _Builder:
    """Accumulates type-checked events chunk by chunk."""

    def __init__(self, ts_of: TimestampCache) -> None:
        self.ts_of = ts_of
        self.line_no: list[int] = []
        self.slo_id: list[str] = []
        self.ts_us: list[int] = []
        self.good: list[int] = []
        self.total: list[int] = []
        self.event_id: list[str | None] = []
        self.rejections: list[Rejection] = []

    def extend(self, line_nos: range | list[int], wires: list[WireEvent]) -> None:
        stamps = [w.timestamp for w in wires]
        ts_us, bad = self.ts_of.many(stamps)
        if bad:
            keep = [i for i in range(len(wires)) if i not in bad]
            for i, exc in bad.items():
                self.rejections.append(Rejection(line_nos[i], exc.reason, exc.detail))
            wires = [wires[i] for i in keep]
            line_nos = [line_nos[i] for i in keep]
            ts_us = [ts_us[i] for i in keep]
        self.line_no.extend(line_nos)
        self.slo_id.extend([w.slo_id for w in wires])
        self.ts_us.extend(ts_us)
        self.good.extend([w.good for w in wires])
        self.total.extend([w.total for w in wires])
        self.event_id.extend([w.event_id for w in wires])

    def finish(self) -> tuple[Columns, list[Rejection]]:
        line_no = np.asarray(self.line_no, dtype=np.int64)
        ts_us = np.asarray(self.ts_us, dtype=np.int64)
        good = np.asarray(self.good, dtype=np.int64)
        total = np.asarray(self.total, dtype=np.int64)
        slo_id, event_id = self.slo_id, self.event_id
        over = good > total
        if over.any():
            for i in np.flatnonzero(over).tolist():
                detail = f"good {good[i]} > total {total[i]}"
                self.rejections.append(Rejection(int(line_no[i]), RejectReason.GOOD_EXCEEDS_TOTAL, detail))
            keep = ~over
            kept = keep.tolist()
            slo_id = [s for s, k in zip(slo_id, kept, strict=True) if k]
            event_id = [e for e, k in zip(event_id, kept, strict=True) if k]
            line_no, ts_us, good, total = line_no[keep], ts_us[keep], good[keep], total[keep]
        self.rejections.sort(key=lambda r: r.line_no)
        return Columns(line_no, slo_id, ts_us, good, total, event_id), self.rejections


def _chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """Pieces of about CHUNK_BYTES ending at a newline: (first line number, lines, bytes)."""
    out: list[tuple[int, int, bytes]] = []
    start, line_no = 0, 1
    while start < len(data):
        end = data.find(b"\n", start + CHUNK_BYTES)
        end = len(data) if end < 0 else end + 1
        piece = data[start:end]
        newlines = piece.count(b"\n")
        out.append((line_no, newlines + (not piece.endswith(b"\n")), piece))
        line_no += newlines
        start = end
    return out


def _one_object_per_line(piece: bytes, n_lines: int) -> bool:
    """True when every line starts with `{` and ends with `}`.

    JSON strings cannot hold a raw newline, so then no value spans two lines
    and each line holds at least one whole object; with as many values as
    lines, each line holds exactly one. (Anything else takes the slow path.)"""
    starts = piece.count(b"\n{") + piece.startswith(b"{") - piece.endswith(b"\n{")
    ends = piece.count(b"}\n") + piece.endswith(b"}")
    return starts == n_lines and ends == n_lines


def decode_lines(data: bytes, ts_of: TimestampCache | None = None) -> tuple[Columns, list[Rejection]]:
    """Valid events as columns, and a Rejection (1-based line, reason) for every bad line."""
    builder = _Builder(ts_of or TimestampCache())
    for first_line, n_lines, piece in _chunks(data):
        try:
            wires: list[WireEvent] | None = WIRE_DECODER.decode_lines(piece)
        except DECODE_ERRORS:
            wires = None
        if wires is not None and len(wires) == n_lines and _one_object_per_line(piece, n_lines):
            builder.extend(range(first_line, first_line + n_lines), wires)
        else:
            _line_by_line(builder, first_line, piece)
    return builder.finish()


def _line_by_line(builder: _Builder, first_line: int, piece: bytes) -> None:
    line_nos, wires = [], []
    for i, line in enumerate(piece.split(b"\n")):
        if not line.strip():
            continue  # blank lines are not events
        try:
            wires.append(WIRE_DECODER.decode(line))
            line_nos.append(first_line + i)
        except DECODE_ERRORS:
            exc = explain(line)
            builder.rejections.append(Rejection(first_line + i, exc.reason, exc.detail))
    builder.extend(line_nos, wires)
