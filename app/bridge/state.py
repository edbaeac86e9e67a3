"""The bridge's state file: what lets it restart without double counting or a gap.

Written atomically (temporary file, fsync, rename) at every flush, *before* the flush's
events are published:

- `series`: the last (value, time ms) of every series an SLO counts, as of the flush.
  After a restart the next sample of a series gives its delta against this value, so
  samples accepted but not yet flushed when the bridge stopped are counted then (no gap),
  and none is counted twice (the increase up to this value is already in events).
- `carry`: numerator counts waiting for their total (see app/core/counters.py).
- `pending`: the events of flushes not yet acknowledged by Kafka, with their event_id
  (`<run>:<flush>:<n>`). They are published again at start; a worker drops any it already
  accepted (dedup by event_id within its dedup horizon, 1 h by default).
- `run`: a random id drawn when the file is created, so event ids never repeat across
  state files.

The file is local to one bridge: run one bridge per state file (Prometheus sends each
series to every remote_write URL, so two bridges on one stream would count it twice).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.counters import SeriesKey
from app.errors import InvalidSetting

VERSION = 1


@dataclass
class BridgeState:
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    flush: int = 0
    series: dict[SeriesKey, tuple[float, int]] = field(default_factory=dict)
    carry: dict[str, int] = field(default_factory=dict)
    pending: list[tuple[str, bytes]] = field(default_factory=list)  # (slo_id, event bytes)


def dump(state: BridgeState) -> bytes:
    doc: dict[str, Any] = {
        "version": VERSION,
        "run": state.run,
        "flush": state.flush,
        "series": [[list(map(list, key)), value, ts_ms] for key, (value, ts_ms) in state.series.items()],
        "carry": state.carry,
        "pending": [[slo_id, raw.decode()] for slo_id, raw in state.pending],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def save(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path) -> BridgeState:
    """The saved state, or a new one when the file does not exist; InvalidSetting if unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return BridgeState()
    except OSError as exc:
        raise InvalidSetting("--state", f"cannot read {path}: {exc.strerror}") from exc
    try:
        doc = json.loads(raw)
        if doc.get("version") != VERSION:
            raise ValueError(f"version {doc.get('version')!r}, expected {VERSION}")
        series = {tuple((n, v) for n, v in key): (float(value), int(ts)) for key, value, ts in doc["series"]}
        return BridgeState(
            run=str(doc["run"]),
            flush=int(doc["flush"]),
            series=series,
            carry={str(k): int(v) for k, v in doc["carry"].items()},
            pending=[(str(slo_id), str(text).encode()) for slo_id, text in doc["pending"]],
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidSetting("--state", f"{path} is not a bridge state file: {exc}") from exc
