"""Fixtures of the integration tests (tests/stream, tests/api).

One embedded Tansu broker (memory storage) serves each test module: `broker` /
`bootstrap` (Tansu keeps every record batch and its fetch cost grows with them: a
session-wide one made the last modules several times slower; it starts in ~20 ms).
Tansu is the broker for every test with several workers (failover, rebalances):
noida-db, the embedded default, never finishes the rebalance of a consumer joining
a group whose members are running (README, "The embedded broker"). Single-worker
tests run on the session's noida-db broker where they can: `noida_broker` /
`noida_bootstrap` (not those that SIGKILL a worker and start another: noida-db
never assigns the replacement while the dead member's session is open). Every test builds its own topology
(unique topic names and consumer group), so tests never see each other's
records. Workers are real `python -m app run` subprocesses, always killed at
teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.stream.broker import EmbeddedBroker, NoidaBroker, TansuBroker
from tests.stream.helpers import Spawn, WorkerPool


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
    embedded = TansuBroker(log_path=log_path).start()  # binds 127.0.0.1 only
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture
def bootstrap(broker: EmbeddedBroker) -> str:
    return broker.bootstrap


@pytest.fixture(scope="session")
def noida_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_path = tmp_path_factory.mktemp("noida-broker") / "noida-db.log"
    embedded = NoidaBroker(log_path=log_path).start()  # binds 127.0.0.1 only
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture
def noida_bootstrap(noida_broker: EmbeddedBroker) -> str:
    return noida_broker.bootstrap


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
