"""Retry delays for a sink that is down: doubling from `initial_s`, capped at `max_s`. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    initial_s: float
    max_s: float
    failures: int = 0

    def next_delay_s(self) -> float:
        """The delay before the next attempt, counting one more failure."""
        delay: float = min(self.max_s, self.initial_s * 2.0 ** min(self.failures, 60))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
