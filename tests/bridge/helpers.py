"""The bridge as a real subprocess (`python -m app bridge ...`), its output in files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.stream.helpers import ROOT


class BridgeProcess:
    def __init__(self, argv: list[str], log_dir: Path, label: str) -> None:
        self.argv = argv
        self.out_path = log_dir / f"{label}.out"
        self.err_path = log_dir / f"{label}.err"
        self.proc: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []

    def start(self) -> BridgeProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        out, err = open(self.out_path, "ab"), open(self.err_path, "ab")  # noqa: SIM115
        self._files += [out, err]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "bridge", *self.argv],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        return self

    def text(self, stream: str = "out") -> str:
        path = self.out_path if stream == "out" else self.err_path
        return path.read_text(errors="replace") if path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait_for(self, pattern: str, timeout: float = 20.0, stream: str = "out", count: int = 1) -> re.Match[str]:
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            found = list(regex.finditer(self.text(stream)))
            if len(found) >= count:
                return found[count - 1]
            assert self.alive(), f"bridge exited waiting for {pattern!r}\n{self.text()}\n{self.text('err')[-3000:]}"
            assert time.monotonic() < deadline, f"no {pattern!r} after {timeout}s\n{self.text('err')[-3000:]}"
            await asyncio.sleep(0.02)

    async def url(self, count: int = 1) -> str:
        m = await self.wait_for(r"^bridge listening on (http://\S+) ", count=count)
        return m[1]

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait: the bridge flushes and exits 0."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        for f in self._files:
            f.close()
        self._files = []


@pytest.fixture
def bridges(tmp_path: Path) -> Iterator[list[BridgeProcess]]:
    started: list[BridgeProcess] = []
    yield started
    for b in started:
        b.close()
