"""Real sink servers started on loopback for the tests: Debian's prometheus-alertmanager
and the pulsar-lite embedded Pulsar broker. Each can be stopped and started again on
the same port, to prove a sink that goes down loses nothing."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import free_port

AM_CONFIG = """\
route:
  receiver: blackhole
  group_wait: 0s
receivers:
  - name: blackhole
"""


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{proc.args[0]} did not listen on {port}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


class Server:
    """A server process on a fixed loopback port; start() / stop() any number of times."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = directory / "server.log"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Server:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(), stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, start_new_session=True
            )
        _wait_port(self.port, self.proc, self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class Alertmanager(Server):
    def __init__(self, directory: Path, port: int) -> None:
        super().__init__(directory, port)
        exe = shutil.which("prometheus-alertmanager")
        if exe is None:
            pytest.fail("prometheus-alertmanager is not on PATH: install Debian's prometheus-alertmanager")
        self.exe = exe
        (directory / "alertmanager.yml").write_text(AM_CONFIG)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [
            self.exe,
            f"--config.file={self.directory / 'alertmanager.yml'}",
            f"--storage.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds now (GET /api/v2/alerts: resolved ones are left out)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as response:
            alerts: list[dict[str, Any]] = json.loads(response.read())
            return alerts


class PulsarLite(Server):
    def __init__(self, directory: Path, port: int) -> None:
        super().__init__(directory, port)
        from pulsar_lite.binary_finder import find_pulsar_lite_binary

        self.exe = str(find_pulsar_lite_binary())
        (directory / "pulsar-lite.toml").write_text(f'[metrics]\naddr = "127.0.0.1:{free_port()}"\n')

    @property
    def url(self) -> str:
        return f"pulsar://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [
            self.exe,
            "--config",
            str(self.directory / "pulsar-lite.toml"),
            "--addr",
            f"127.0.0.1:{self.port}",
            "--db-path",
            str(self.directory / "db"),
        ]
