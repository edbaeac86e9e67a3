"""Fixtures of the HTTP API tests: a real Redis server for the session.

The broker, `bootstrap` and `spawn` fixtures come from tests/conftest.py.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tests.api.helpers import free_port
from tests.stream.helpers import Spawn, WorkerPool


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`redis-server` on a free loopback port, in memory only; killed at teardown."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not on PATH: install Debian's redis-server (.ci/run does)")
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    argv = [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(directory)]
    with open(directory / "redis.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log_text = (directory / "redis.log").read_text(errors="replace")
                pytest.fail(f"redis-server did not answer on port {port}:\n{log_text}")
            time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def module_spawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawn]:
    """`spawn` for workers a whole module shares; killed when the module is done."""
    pool = WorkerPool(tmp_path_factory.mktemp("workers"))
    yield pool
    pool.close()
