"""Time for the adapters: the composition root injects one clock; tests inject a fake.

The core never reads a clock (time is passed in); the worker reads this one
for processing time and waits on it between timer ticks, so a test can move
time forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now_us(self) -> int:
        """Wall-clock time, microseconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` of this clock's time have passed."""
        ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to (`advance`, `set`): sleepers wake when
    its time reaches theirs. For tests and simulations driven step by step."""

    def __init__(self, now_us: int) -> None:
        self._now_us = now_us
        self._moved = asyncio.Condition()

    def now_us(self) -> int:
        return self._now_us

    async def sleep(self, seconds: float) -> None:
        until = self._now_us + round(seconds * 1_000_000)
        async with self._moved:
            await self._moved.wait_for(lambda: self._now_us >= until)

    async def set(self, now_us: int) -> None:
        async with self._moved:
            self._now_us = max(self._now_us, now_us)
            self._moved.notify_all()

    async def advance(self, seconds: float) -> None:
        await self.set(self._now_us + round(seconds * 1_000_000))
