"""A consumer whose fetches wait like long polls even when the broker answers at once.

A Kafka broker holds a fetch of an empty partition up to `fetch_max_wait_ms`
(long poll). noida-db, the embedded default, answers at once (0.3–5.7 ms, see
benchmarks/RESULTS.md "noida-db does not long-poll"), so aiokafka's fetcher,
which sends the next fetch as soon as one returns, spins: an idle worker used
0.64 of a core on its consumers alone. `LongPollConsumer` waits, after a fetch
that brought nothing, for the rest of `fetch_max_wait_ms`, as the broker would
have. A broker that does long-poll has already waited that long: nothing is
added. A record that arrives meanwhile is fetched at the end of the wait, as a
long-polling broker would deliver it no later; the wait only applies when the
fetch brought nothing, so a busy consumer is never slowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

FetchRequest = Callable[[Any, int, Any], Awaitable[bool]]


def paced(fetch: FetchRequest, max_wait_s: float, on_fetch: Callable[[], None] = lambda: None) -> FetchRequest:
    """`fetch` (aiokafka's per-node fetch: True when it brought records) that takes at
    least `max_wait_s` when it brings nothing; `on_fetch` is called for every fetch."""
    loop = asyncio.get_running_loop()

    async def fetch_like_a_long_poll(assignment: Any, node_id: int, request: Any) -> bool:
        on_fetch()
        started = loop.time()
        got_records = await fetch(assignment, node_id, request)
        if not got_records:
            rest_s = max_wait_s - (loop.time() - started)
            if rest_s > 0:
                try:
                    await asyncio.sleep(rest_s)
                except asyncio.CancelledError:  # close() or an unassignment: aiokafka's own fetch
                    return False  # answers a cancellation with "nothing fetched", never raises it
        return got_records

    return fetch_like_a_long_poll


class LongPollConsumer(AIOKafkaConsumer):  # type: ignore[misc]  # aiokafka ships no types
    """AIOKafkaConsumer with `paced` fetches (same arguments)."""

    def __init__(self, *topics: str, **kwargs: Any) -> None:
        super().__init__(*topics, **kwargs)
        self._max_wait_s = kwargs.get("fetch_max_wait_ms", 500) / 1000
        self.fetches = 0  # fetch requests sent (what an idle consumer's cost is made of)

    async def start(self) -> None:
        await super().start()
        fetcher = self._fetcher  # its fetch loop looks this method up for every fetch
        fetcher._proc_fetch_request = paced(fetcher._proc_fetch_request, self._max_wait_s, self._count_fetch)

    def _count_fetch(self) -> None:
        self.fetches += 1
