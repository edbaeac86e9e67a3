"""Fixtures of the integration tests (tests/stream, tests/api).

One embedded broker (Tansu, memory storage) serves the whole session; every
test builds its own topology (unique topic names and consumer group), so tests
never see each other's records. Workers are real `python -m app run`
subprocesses, always killed at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.stream.broker import EmbeddedBroker
from tests.stream.helpers import Spawn, WorkerPool


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
    embedded = EmbeddedBroker(log_path=log_path).start()  # binds 127.0.0.1 only
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture
def bootstrap(broker: EmbeddedBroker) -> str:
    return broker.bootstrap


@pytest.fixture
def spawn(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Spawn]:
    """Start a worker subprocess: spawn(bootstrap, topology, label[, env]). All are killed at
    teardown; on failure their logs are printed (pytest shows them with the report)."""
    pool = WorkerPool(tmp_path)
    yield pool
    failed = getattr(request.node, "rep_call", None)
    pool.close(show_logs=failed is not None and failed.failed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
