"""What the Redis read model keeps for compliance reports, and the report rows read back.

A report row needs, besides the daily and hourly buckets the read model already
copies for history (`:d`, `:h`), the SLO's report book (app/core/report_book)
and its time and pending events. The owner writes, per SLO:
`<prefix><slo_id>:book` (JSON: the book's changelog parts A, W, E), when the
book changed since the last copy (its `version`), and `:now` (JSON: the
state's time and its pending events) with every status event. Any worker then
computes the row with the live report's own function (app/core/live_report),
so every worker answers a report for every SLO alike.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from app.core.history import Buckets
from app.core.live_report import ReportSource
from app.core.report_book import BOOK_PARTS, ReportBook
from app.core.state import WindowState
from app.core.windows import DAY_TIER, HOUR_TIER, TIERS
from app.stream.read_model_writes import PendingWrites

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _book_json(book: ReportBook) -> str:
    return _encode({part: book.part_value(part) for part in BOOK_PARTS}).decode()


def _now_json(now_us: int, pending: list[tuple[int, int, int]]) -> str:
    return _encode([now_us, pending]).decode()


class BookCopies:
    """The owner's side: which book version each SLO's copy holds."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}

    def stage(self, pending: PendingWrites, key_of: Any, slo_id: str, state: WindowState, book: ReportBook) -> None:
        """Record the writes of an SLO's book (if changed) and time (the JSON is rendered by the writer)."""
        if self.versions.get(slo_id) != book.version:
            self.versions[slo_id] = book.version
            pending.set(key_of(slo_id, "book"), functools.partial(_book_json, book))
        pending.set(key_of(slo_id, "now"), functools.partial(_now_json, state.now_us, list(state.pending)))

    def behind(self, slo_id: str, book: ReportBook) -> bool:
        return self.versions.get(slo_id) != book.version

    def forget(self, pending: PendingWrites, key_of: Any, slo_id: str) -> None:
        self.versions.pop(slo_id, None)
        for suffix in ("book", "now"):
            pending.set(key_of(slo_id, suffix), None)


def _buckets(tier: int, head: bytes | None, raw: dict[bytes, bytes]) -> Buckets:
    counts = {int(k): (int(g), int(t)) for k, v in raw.items() for g, t in (v.split(b","),)}
    spec = TIERS[tier]

    def get(k: int) -> tuple[int, int]:
        return counts.get(k, (0, 0))

    # Without a head yet (no bucket written), nothing is held: a head far in the past.
    return Buckets(spec.bucket_us, spec.n_buckets, int(head) if head is not None else -(2**62), get)


def source_from(
    book_raw: bytes | None, now_raw: bytes | None, day: tuple[bytes | None, dict[bytes, bytes]], hour: tuple[Any, Any]
) -> ReportSource | None:
    """A report source from the values read back (None: the SLO has no copy: no data)."""
    if now_raw is None:
        return None
    now_us, pending = _decode(now_raw)
    book = ReportBook()
    if book_raw is not None:
        book.restore(_decode(book_raw).items())
    return ReportSource(
        _buckets(DAY_TIER, *day),
        _buckets(HOUR_TIER, *hour),
        book,
        [tuple(p) for p in pending],
        now_us,
    )
