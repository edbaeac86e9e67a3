"""Against a broker that enforces Apache Kafka's group.min.session.timeout.ms (6000 ms):
noida-db (PyPI `noida-db`, a Kafka-compatible broker in one binary; memory only). The
worker's default settings are accepted; a session timeout below the minimum is reported
in one line naming SLO_SESSION_TIMEOUT_MS, exit 2, no traceback."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.stream.broker import free_port
from tests.stream.helpers import ROOT, Ev, Producer, TopicReader, keyed, make_topology, slo_def
from tests.stream.test_startup import assert_one_error_line, run_cli

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def noida(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """noida-db's Kafka listener on a free loopback port; its bootstrap address."""
    exe = shutil.which("noida-db") or str(Path(sys.executable).parent / "noida-db")
    if not Path(exe).exists():
        pytest.fail("noida-db is not installed: pip install -e '.[test]'")
    directory = tmp_path_factory.mktemp("noida")
    port = free_port()
    argv = [exe, "start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port", str(port)]
    argv += ["--data-dir", str(directory / "data")]
    with open(directory / "noida.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"noida-db did not listen:\n{(directory / 'noida.log').read_text(errors='replace')}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # the wrapper and the binary it runs
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def default_env() -> dict[str, str]:
    """The environment without any SLO_* group setting: the worker's defaults apply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLO_", "KAFKA_", "REDIS_"))}
    return {**env, "SLO_API_PORT": "0", "PYTHONUNBUFFERED": "1"}


@pytest.mark.timeout(90)
def test_the_default_settings_are_accepted_by_a_broker_enforcing_the_minimum(noida: str, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def("stock-a")], partitions=1)
    out, err = tmp_path / "worker.out", tmp_path / "worker.err"
    argv = [sys.executable, "-m", "app", "run", "--bootstrap", noida, "--topology", str(topology.path), "--quiet"]
    with open(out, "wb") as out_f, open(err, "wb") as err_f:
        proc = subprocess.Popen(argv, cwd=ROOT, env=default_env(), stdout=out_f, stderr=err_f)
    try:

        async def scenario() -> None:
            deadline = time.monotonic() + 40
            while "ready" not in out.read_text():
                assert proc.poll() is None, f"worker exited {proc.returncode}:\n{err.read_text()}"
                assert time.monotonic() < deadline, f"worker not ready:\n{err.read_text()}"
                await asyncio.sleep(0.05)
            now = time.time()
            async with Producer(noida) as producer, TopicReader(noida, topology.status) as status:
                await producer.send(topology.metrics, keyed([Ev("stock-a", int(now * 1e6), 9, 10, now).to_bytes()]))
                await status.wait_until(lambda records: len(records) >= 1, 20, "a status event")

        asyncio.run(scenario())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "Traceback" not in err.read_text()


def test_a_session_timeout_below_the_minimum_is_one_line(noida: str, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def("stock-b")], partitions=1)
    argv = ["run", "--bootstrap", noida, "--topology", str(topology.path), "--quiet"]
    code, _, stderr, _ = run_cli(argv, {"SLO_SESSION_TIMEOUT_MS": "2000"})
    assert code == 2, stderr
    assert_one_error_line(stderr, "SLO_SESSION_TIMEOUT_MS=2000 refused by Kafka at", noida)
