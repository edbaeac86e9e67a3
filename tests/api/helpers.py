"""Helpers of the HTTP API tests: workers with their API on a free loopback port, a
real HTTP client (httpx2) against it, and comparisons with `python -m app replay`.

The API is served by the worker process itself (uvicorn on the worker's loop), so
every request here crosses a real socket into a real `python -m app run`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from app.stream.broker import free_port
from tests.stream.helpers import (
    US,
    Ev,
    Producer,
    Spawn,
    TopicReader,
    Topology,
    WorkerProcess,
    keyed,
    parse_instant_us,
    wait_caught_up,
)

API = "/api/v1/slos"
MINUTE_US = 60 * US
HOUR_US = 3600 * US


@dataclass
class ApiWorker:
    """A worker process and an HTTP client bound to its API."""

    process: WorkerProcess
    url: str
    http: httpx2.Client

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until GET /readyz answers 200 (partitions assigned and recovered)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            if not self.process.alive():
                raise AssertionError(f"worker exited before its API was ready\n{self.process.describe()}")
            try:
                response = self.http.get("/readyz")
                if response.status_code == 200:
                    return
                last = (response.status_code, response.text)
            except httpx2.TransportError as exc:  # not listening yet
                last = exc
            if time.monotonic() > deadline:
                raise AssertionError(f"/readyz not 200 after {timeout}s (last: {last!r})\n{self.process.describe()}")
            time.sleep(0.05)

    def close(self) -> None:
        self.http.close()


def worker_env(
    port: int, redis_url: str | None = None, token: str | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    # No rate limit unless a test sets one (tests/api/test_rate_limit.py): these tests fire requests fast.
    env = {"SLO_API_HOST": "127.0.0.1", "SLO_API_PORT": str(port), "SLO_RATE_LIMIT_PER_S": "0", **(extra or {})}
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    if token is not None:
        env["SLO_API_TOKEN"] = token
    return env


def start_api_worker(
    spawn: Spawn,
    bootstrap: str,
    topology: Topology,
    label: str,
    *,
    redis_url: str | None = None,
    token: str | None = None,
    wait: bool = True,
    env: dict[str, str] | None = None,
) -> ApiWorker:
    port = free_port()
    process = spawn(bootstrap, topology, label, worker_env(port, redis_url, token, env))
    url = f"http://127.0.0.1:{port}"
    worker = ApiWorker(process, url, httpx2.Client(base_url=url, timeout=30.0))
    if wait:
        worker.wait_ready()
    return worker


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- producing and waiting ---------------------------------------------------------------
def produce_and_wait(bootstrap: str, topology: Topology, messages: list[Any], timeout: float = 60.0) -> list[Any]:
    """Send the messages, wait until the worker group committed all of them (their status
    events, changelog records and read-model writes are done by then); returns every record
    of the status topic."""

    async def run() -> list[Any]:
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.metrics) as metrics,
            TopicReader(bootstrap, topology.status) as status,
        ):
            await producer.send(topology.metrics, messages)
            await wait_caught_up(bootstrap, topology, metrics, timeout=timeout)
            await status.read_to_end()
            return status.records

    return asyncio.run(run())


def wait_read_model_written(*workers: ApiWorker, timeout: float = 10.0) -> None:
    """Until every worker's Redis writes are confirmed (`slo_read_model_pending_keys` 0).
    The read model is written off the event path, so a committed batch may still have
    its writes pending for a moment."""
    deadline = time.monotonic() + timeout
    for worker in workers:
        while True:
            pending = sample(metric_samples(worker.http.get("/metrics").text), "slo_read_model_pending_keys")
            if pending == 0:
                break
            assert time.monotonic() < deadline, f"{worker.process.label}: {pending} read-model keys still pending"
            time.sleep(0.02)


def keyed_events(events: Iterable[Ev]) -> list[Any]:
    return keyed(e.to_bytes() for e in events)


# -- expected values -------------------------------------------------------------------
def bucket_counts(events: Iterable[Ev], slo_id: str, width_us: int) -> dict[int, tuple[int, int]]:
    """End of the bucket (epoch us) -> (good, total): a bucket ending at e holds (e - width, e]."""
    good: Counter[int] = Counter()
    total: Counter[int] = Counter()
    for e in events:
        if e.slo_id == slo_id:
            end = -(-e.ts_us // width_us) * width_us
            good[end] += e.good
            total[end] += e.total
    return {end: (good[end], total[end]) for end in total}


def history_counts(points: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """History points with data: end (epoch us) -> (good, total)."""
    return {
        parse_instant_us(p["timestamp"]): (p["good_events"], p["total_events"]) for p in points if p["total_events"]
    }


_INSTANTS = ("last_updated", "projected_exhaustion", "period_start", "timestamp")


def normalized(body: dict[str, Any]) -> dict[str, Any]:
    """A status or budget body with its instants as epoch microseconds (the API writes
    `...123456Z`, replay `...Z` without a zero fraction: the same instant)."""
    return {k: (parse_instant_us(v) if k in _INSTANTS and isinstance(v, str) else v) for k, v in body.items()}


def assert_status_equals_replay(status: dict[str, Any], replay: dict[str, Any]) -> None:
    """GET /status equals replay's line at the same instant: every field, exactly."""
    assert normalized(status) == normalized(replay), f"{status['slo_id']}:\n api    {status}\n replay {replay}"


def assert_budget_equals_replay(budget: dict[str, Any], replay: dict[str, Any], period_s: int | None) -> None:
    """GET /error-budget equals replay's figures at the same instant, exactly."""
    slo_id = budget["slo_id"]
    expected = {
        "total_budget": replay["total_budget"],
        "consumed_budget": replay["consumed_budget"],
        "remaining_budget": replay["remaining_budget"],
        "error_budget_remaining": replay["error_budget_remaining"],
        "error_budget_consumed": replay["error_budget_consumed"],
        "burn_rate_1h": replay["burn_rates"]["1h"],
        "burn_rate_24h": replay["burn_rates"]["24h"],
        "time_to_exhaustion_seconds": replay["time_to_exhaustion_seconds"],
        "projected_exhaustion": replay["projected_exhaustion"],
        "last_updated": replay["last_updated"],
    }
    got = normalized({k: budget[k] for k in expected})
    assert got == normalized(expected), f"{slo_id}:\n api      {got}\n expected {normalized(expected)}"
    if period_s is not None:  # a rolling period starts one period before the evaluation
        assert parse_instant_us(budget["period_start"]) == parse_instant_us(budget["last_updated"]) - period_s * US


# -- /metrics --------------------------------------------------------------------------
def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value, from the Prometheus text format."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels} in /metrics"
    return samples[key]
