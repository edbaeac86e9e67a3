from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.api.helpers import free_port
from tests.sinks.servers import Alertmanager, PulsarLite, Server

S = TypeVar("S", bound=Server)


def _server(kind: type[S], tmp_path: Path, name: str) -> Iterator[S]:
    """A server of `kind` on a free loopback port, not started: the test starts (and stops) it."""
    directory = tmp_path / name
    directory.mkdir()
    server = kind(directory, free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    yield from _server(Alertmanager, tmp_path, "alertmanager")


@pytest.fixture
def pulsar_broker(tmp_path: Path) -> Iterator[PulsarLite]:
    yield from _server(PulsarLite, tmp_path, "pulsar")
