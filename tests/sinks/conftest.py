from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.helpers import free_port
from tests.sinks.servers import Alertmanager, PulsarLite


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """An Alertmanager on a free loopback port, not started: the test starts (and stops) it."""
    directory = tmp_path / "alertmanager"
    directory.mkdir()
    server = Alertmanager(directory, free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pulsar_broker(tmp_path: Path) -> Iterator[PulsarLite]:
    """A pulsar-lite broker on a free loopback port, not started: the test starts (and stops) it."""
    directory = tmp_path / "pulsar"
    directory.mkdir()
    server = PulsarLite(directory, free_port())
    try:
        yield server
    finally:
        server.stop()
