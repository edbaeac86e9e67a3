"""The optional extras (`redis`, `pulsar`): a worker starts without them installed unless
it is configured to use them; configured and missing, one line names the extra to install.
"Not installed" is emulated by a None entry in sys.modules, which makes their import fail
as a missing package does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.stream.helpers import ROOT, WORKER_ENV, make_topology, slo_def
from tests.stream.test_startup import assert_one_error_line

WITHOUT_EXTRAS = (
    "import sys; sys.modules.update(redis=None, pulsar=None); from app.cli import main; sys.exit(main(sys.argv[1:]))"
)


def without_extras(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLO_", "KAFKA_", "REDIS_"))}
    full_env.update({**WORKER_ENV, **env, "PYTHONUNBUFFERED": "1"})
    return subprocess.Popen(
        [sys.executable, "-c", WITHOUT_EXTRAS, *argv],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.kafka
@pytest.mark.timeout(60)
def test_a_worker_starts_without_the_optional_packages(bootstrap: str, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def("lean-a")], partitions=1)
    proc = without_extras(["run", "--bootstrap", bootstrap, "--topology", str(topology.path), "--quiet"], {})
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        for line in proc.stdout:  # the process ends (and the loop with it) if it fails
            if " ready: " in line:
                break
            assert time.monotonic() < deadline
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_redis_configured_but_not_installed_names_the_extra(tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def("lean-b")])
    argv = ["run", "--bootstrap", "127.0.0.1:1", "--topology", str(topology.path), "--quiet"]
    proc = without_extras(argv, {"REDIS_URL": "redis://127.0.0.1:1/0"})
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert_one_error_line(stderr, "REDIS_URL is configured but the 'redis' package is not installed", "[redis]")


def test_a_pulsar_sink_configured_but_not_installed_names_the_extra(tmp_path: Path) -> None:
    sinks = {"pulsar": {"service_url": "pulsar://127.0.0.1:1", "status_topic": "s", "alerts_topic": "a"}}
    topology = make_topology(tmp_path, [slo_def("lean-c")], sinks=sinks)
    argv = ["run", "--bootstrap", "127.0.0.1:1", "--topology", str(topology.path), "--quiet"]
    proc = without_extras(argv, {})
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert_one_error_line(stderr, "sinks.pulsar (topology) is configured", "'pulsar-client'", "[pulsar]")
