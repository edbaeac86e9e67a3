"""The test seam: a worker running in the test's own event loop, on a clock the test drives.

The worker is the real one (real Kafka clients against the embedded broker, real
state, real topics); only its clock is a ManualClock, so its timer passes happen
when the test moves time forward, never on the machine's schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from app.clock import ManualClock
from app.compose import build_worker
from app.stream.settings import WorkerSettings
from app.stream.worker import Worker
from app.topology import load_topology
from tests.stream.helpers import Topology


@contextlib.asynccontextmanager
async def running_worker(
    bootstrap: str,
    topology: Topology,
    clock: ManualClock,
    *,
    redis_url: str | None = None,
    worker_id: str = "in-process",
    fast_sessions: bool = False,
) -> AsyncIterator[Worker]:
    """A started worker (partitions assigned and recovered); stopped and awaited on exit.
    `fast_sessions`: 2 s sessions, for tests with several workers (rebalances in ~1 s on Tansu)."""
    sessions = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 200} if fast_sessions else {}
    settings = WorkerSettings(
        bootstrap=bootstrap,
        topology_path=topology.path,
        api_port=0,
        worker_id=worker_id,
        redis_url=redis_url,
        **sessions,  # type: ignore[arg-type]
    )
    worker = build_worker(bootstrap, load_topology(topology.path), settings, clock=clock)
    await worker.start()
    running = asyncio.create_task(worker.run_until_stopped())
    try:
        await asyncio.wait_for(worker.ready.wait(), 30)
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(running, 30)


async def advance_and_tick(worker: Worker, clock: ManualClock, seconds: float, timeout: float = 10.0) -> None:
    """Move the clock forward and wait until the timer pass it wakes has completed."""
    ticks = worker.ticks
    await clock.advance(seconds)
    deadline = asyncio.get_running_loop().time() + timeout
    while worker.ticks <= ticks:
        assert asyncio.get_running_loop().time() < deadline, "the timer did not run after the clock moved"
        await asyncio.sleep(0.005)
