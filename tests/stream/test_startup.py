"""Dependencies unreachable at start, through the real CLI (`python -m app run`).

Kafka is required: the worker exits 2 with one line naming the address and how long it
waited. Redis (the read model) is optional: the worker starts without it, says so in one
warning line, and writes to it once it answers (tests/stream/test_read_model_outage.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stream.helpers import ROOT, WORKER_ENV, Ev, Producer, Spawn, TopicReader, keyed, make_topology, slo_def
from tests.stream.servers import SilentServer

_NOT_INHERITED = {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "SLO_API_PORT"}


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def run_cli(argv: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str, str, float]:
    """`python -m app ARGV`: (exit code, stdout, stderr, seconds it took)."""
    full_env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    full_env.update({**WORKER_ENV, **env})
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "app", *argv],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_kafka_unreachable_at_start_is_one_line_and_exit_2(kind: str, silent: SilentServer, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def("start-a")])
    address = f"127.0.0.1:{silent.port}"
    if kind == "refused":
        silent.close()  # nothing listens there any more
    argv = ["run", "--bootstrap", address, "--topology", str(topology.path), "--quiet"]
    code, _, stderr, took_s = run_cli(argv, {"SLO_KAFKA_START_TIMEOUT_MS": "2000"})
    assert code == 2, stderr
    assert_one_error_line(stderr, "kafka unavailable", address, "within 2s", "SLO_KAFKA_START_TIMEOUT_MS")
    if kind == "silent":
        assert "never answered" in stderr
    assert took_s < 15, f"took {took_s:.1f}s"


@pytest.mark.kafka
@pytest.mark.timeout(90)
def test_a_redis_that_never_answers_at_start_starts_the_worker_degraded(
    bootstrap: str, spawn: Spawn, silent: SilentServer, tmp_path: Path
) -> None:
    topology = make_topology(tmp_path, [slo_def("degraded-a")], partitions=1)
    redis_url = f"redis://127.0.0.1:{silent.port}/0"
    worker = spawn(bootstrap, topology, "degraded", env={"REDIS_URL": redis_url})

    async def scenario() -> None:
        await worker.ready()
        await worker.wait_for(rf"WARNING app\.stream\.read_model: read model: Redis at {redis_url} did not answer", 5)
        async with Producer(bootstrap) as producer, TopicReader(bootstrap, topology.status) as status:
            now = time.time()
            await producer.send(topology.metrics, keyed([Ev("degraded-a", int(now * 1e6), 9, 10, now).to_bytes()]))
            await status.wait_until(lambda records: len(records) == 1, 10, "a status event")

    asyncio.run(scenario())
    started = time.monotonic()
    worker.terminate()
    code = worker.wait_exit(30)
    stop_s = time.monotonic() - started
    err = worker.stderr()
    assert code == 0, worker.describe()
    assert stop_s < 10, f"SIGTERM took {stop_s:.1f}s"
    assert err.count("read model: Redis at") == 1, err  # one line, not one per retry
    assert "Traceback" not in err and "Unclosed" not in err, err
