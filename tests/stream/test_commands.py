"""The newcomer's commands: produce-demo feeds a worker, tail-status prints what it publishes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stream.helpers import Spawn, make_topology, slo_def

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_produce_demo_then_tail_status(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def("demo-a"), slo_def("demo-b", period="CALENDAR_MONTH")], partitions=2)
    worker = spawn(bootstrap, topology, "demo")
    asyncio.run(worker.ready())
    base = [sys.executable, "-m", "app"]
    flags = ["--bootstrap", bootstrap, "--topology", str(topology.path)]
    demo = subprocess.run(
        [*base, "produce-demo", *flags, "--duration", "3"], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert demo.returncode == 0, demo.stderr
    assert "producing demo traffic for 2 SLOs" in demo.stdout
    tail = subprocess.Popen(
        [*base, "tail-status", *flags, "--from-beginning"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        seen: dict[str, str] = {}
        assert tail.stdout is not None
        for line in tail.stdout:  # one line per status event: time, slo_id, status, sli, burn, budget
            fields = line.split()
            seen[fields[1]] = fields[2]
            if {"demo-a", "demo-b"} <= seen.keys():
                break
    finally:
        tail.terminate()
        tail.wait(10)
    # a day of backfill at 0.02% errors, then live traffic: both healthy, nothing firing
    assert seen == {"demo-a": "HEALTHY", "demo-b": "HEALTHY"}
