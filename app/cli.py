"""Command line: `python -m app <command>`. The edge where files and clocks live."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import msgspec

from app.definitions import load_slos
from app.domain.events import timestamp_us
from app.errors import RejectedEvent, SloEngineError, UsageError
from app.replay import prepare, replay_batch, replay_emit_all

_encode = msgspec.json.Encoder().encode


def _at(text: str) -> int:
    try:
        return timestamp_us(float(text) if text.replace(".", "", 1).isdigit() else text)
    except RejectedEvent as exc:
        raise argparse.ArgumentTypeError(exc.detail) from exc


def _read_events(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError("--events", f"cannot read {path}: {exc.strerror}") from exc


def cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    slos = load_slos(Path(args.slos))
    data = _read_events(args.events)
    prepared = prepare(
        slos,
        data,
        args.at,
        fallback_now_us=time.time_ns() // 1000,
        max_skew_us=round(args.max_skew * 1_000_000),
    )
    for r in prepared.rejections:
        err.write(f"line {r.line_no}: {r.reason}: {r.detail}\n")
    lines = replay_emit_all(prepared) if args.emit_all else replay_batch(prepared)
    write = out.buffer.write if hasattr(out, "buffer") else None
    for line in lines:
        if write is not None:
            write(_encode(line) + b"\n")
        else:
            out.write(_encode(line).decode() + "\n")
    reasons = Counter(r.reason for r in prepared.rejections)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
    err.write(
        f"replay: {prepared.ts_us.size} accepted, {len(prepared.rejections)} rejected"
        + (f" ({summary})" if summary else "")
        + "\n"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Real-time SLO engine.")
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="evaluate SLOs over a file of SLI events")
    rp.add_argument("--slos", required=True, help="YAML file with a top-level 'slos:' list")
    rp.add_argument("--events", required=True, help="JSON lines of SLI events ('-' = stdin)")
    rp.add_argument("--at", type=_at, default=None, help="evaluate at this RFC 3339 time or epoch seconds")
    rp.add_argument("--emit-all", action="store_true", help="one status line after every accepted event")
    rp.add_argument("--max-skew", type=float, default=300.0, help="seconds a timestamp may lie ahead (300)")
    rp.set_defaults(func=cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args, out, err)
    except SloEngineError as exc:
        err.write(f"error: {exc}\n")
        return 2
    out.flush()
    return code
