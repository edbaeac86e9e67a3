"""Waiting on a condition in tests: poll a real value until it holds or a deadline passes.

Never a bare sleep: the predicate is what the test waits for, the timeout only bounds a failure,
and the failure names what did not happen and the value last seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], T], timeout_s: float, what: str, *, poll_s: float = 0.05) -> T:
    """The first truthy value of `check()`; fails after `timeout_s` naming `what` and the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what} (last: {value!r})"
        await asyncio.sleep(poll_s)


def eventually_sync(check: Callable[[], T], timeout_s: float, what: str, *, poll_s: float = 0.05) -> T:
    """`eventually` for tests that run no event loop."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what} (last: {value!r})"
        time.sleep(poll_s)
