"""The streaming commands: run, produce-demo, tail-status."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import stat
from collections.abc import Awaitable
from typing import Any, TextIO

import msgspec

from app.domain.messages import OUTPUT_DECODER, AlertEvent, StatusEvent
from app.stream.long_poll import LongPollConsumer

log = logging.getLogger("app")
FAST_SESSION_TIMEOUT_MS, FAST_HEARTBEAT_INTERVAL_MS = 2000, 200  # fast failover, where the broker allows it


def status_line(event: StatusEvent | AlertEvent) -> str:
    """One line per status event, or per alert event (ALERT FIRING / ALERT RESOLVED)."""
    if isinstance(event, AlertEvent):
        burn = "" if event.burn_rate_long is None else f" burn{event.long_window}={event.burn_rate_long:.2f}"
        return (
            f"{event.timestamp}  {event.slo_id:<28} ALERT {event.state.value.upper():<8} "
            f"{event.rule} ({event.severity.value}){burn} since {event.started_at}"
        )
    u = event.slo_status_update
    sli = "  n/a  " if u.current_sli is None else f"{u.current_sli:.4f}"
    firing = ",".join(u.firing_alerts) or "-"
    return (
        f"{event.timestamp}  {u.slo_id:<28} {u.status.value:<9} sli={sli} "
        f"burn1h={u.burn_rate:7.2f} budget={u.error_budget_remaining:7.2%} "
        f"#{event.sequence} {firing}"
    )


def tail_line(value: bytes | None, as_json: bool) -> str:
    """A record of the status or alerts topic as `tail-status` prints it; one that is not an
    event (anyone with write access can put anything there) is named, not fatal."""
    if value is None:
        return "(a record without a value)"
    if as_json:
        return value.decode(errors="replace")
    try:
        return status_line(OUTPUT_DECODER.decode(value))
    except msgspec.DecodeError as exc:
        return f"(not a status or alert event: {exc})"


def _on_signals(stop: Any) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


class _PipeFlow(asyncio.Protocol):
    """Flow control of a pipe transport: writable while the pipe takes more."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = False

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:  # the reader went away (EPIPE)
        self.lost = True
        self.writable.set()


class LineOutput:
    """Text to `out` without ever blocking the event loop: on a pipe (`tail-status | ...`)
    writes go through an asyncio pipe transport, so a reader that stops reading never
    keeps SIGTERM from ending the command, and one that leaves ends it quietly."""

    def __init__(self, out: TextIO, stop: asyncio.Event) -> None:
        self.out = out
        self.stop = stop
        self.transport: asyncio.WriteTransport | None = None
        self.flow = _PipeFlow()

    async def open(self) -> LineOutput:
        try:
            fd = self.out.fileno()
            is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode)
        except (OSError, ValueError, io.UnsupportedOperation):  # not a file (StringIO): plain writes
            return self
        if is_pipe:
            self.out.flush()
            pipe = os.fdopen(os.dup(fd), "wb", buffering=0)
            self.transport, _ = await asyncio.get_running_loop().connect_write_pipe(lambda: self.flow, pipe)
        return self

    async def write(self, text: str) -> bool:
        """Write `text`; False once the command should end (stopped, or the reader left)."""
        if self.transport is None:
            self.out.write(text)
            self.out.flush()
            return not self.stop.is_set()
        if self.flow.lost:
            return False
        self.transport.write(text.encode())
        if not self.flow.writable.is_set():  # the pipe is full: wait for the reader, or SIGTERM
            stopping = asyncio.ensure_future(self.stop.wait())
            writable = asyncio.ensure_future(self.flow.writable.wait())
            await asyncio.wait([stopping, writable], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            writable.cancel()
        return not (self.stop.is_set() or self.flow.lost)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.stop.is_set():
                self.transport.abort()  # what the reader did not take is dropped
            else:
                self.transport.close()


async def tail_status(bootstrap: str, topics: list[str], from_beginning: bool, as_json: bool, out: TextIO) -> int:
    consumer = LongPollConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    stop = asyncio.Event()
    _on_signals(stop.set)
    output = await LineOutput(out, stop).open()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            text = "".join(tail_line(r.value, as_json) + "\n" for records in batch.values() for r in records)
            if text and not await output.write(text):
                break
    finally:
        output.close()
        await consumer.stop()
    return 0


def run_async(coro: Awaitable[int]) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(coro)  # type: ignore[arg-type]
    return 130
