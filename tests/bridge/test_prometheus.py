"""Against Debian's real Prometheus: it scrapes a counter exporter every second and
remote-writes to the bridge, which feeds a real worker. The worker's totals equal the raw
increases of the counters between the first and the last sample Prometheus sent (read
back through its API), across a counter reset and a restart of the bridge; and query mode
reads the same totals through the HTTP API."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bridge.helpers import BridgeProcess
from tests.bridge.servers import PROMETHEUS, Exporter, PrometheusServer, free_port, raw_increase
from tests.stream.helpers import Spawn, TopicReader, last_status, make_topology, slo_def

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (apt-get install prometheus)"),
]

AVAIL = 'sum(rate(shop_requests_total{code!~"5.."}[5m])) / sum(rate(shop_requests_total[5m]))'
LATENCY = {"histogram": "shop_request_duration_seconds", "threshold_s": 0.25, "matchers": {"job": "shop"}}


def shop_slos() -> list[dict[str, Any]]:
    return [
        slo_def("shop-avail", sli_query=AVAIL),
        slo_def("shop-latency", slo_type="LATENCY", sli=LATENCY),
    ]


async def metric_value(url: str, name: str) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{url}/metrics")).text
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")), 0.0)


async def wait_metric(url: str, name: str, at_least: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (value := await metric_value(url, name)) < at_least:
        assert time.monotonic() < deadline, f"{name} is {value}, not >= {at_least}"
        await asyncio.sleep(0.1)


async def expected_totals(prom: PrometheusServer) -> dict[str, tuple[int, int]]:
    """slo_id -> (good, total) from the raw samples Prometheus holds."""
    requests = await prom.raw_samples("shop_requests_total")
    by_code = {dict(k)["code"]: raw_increase(v) for k, v in requests.items()}
    [fast] = (await prom.raw_samples('shop_request_duration_seconds_bucket{le="0.25"}')).values()
    [count] = (await prom.raw_samples("shop_request_duration_seconds_count")).values()
    return {
        "shop-avail": (by_code["200"], by_code["200"] + by_code["500"]),
        "shop-latency": (raw_increase(fast), raw_increase(count)),
    }


def worker_totals(records: list[Any]) -> dict[str, tuple[int, int]]:
    return {
        slo_id: (e["slo_status_update"]["good_events"], e["slo_status_update"]["total_events"])
        for slo_id, e in last_status(records).items()
    }


def published_totals(records: list[Any]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for event in {e["event_id"]: e for e in (json.loads(r.value) for r in records)}.values():
        good, total = out.get(event["slo_id"], (0, 0))
        out[event["slo_id"]] = (good + event["good"], total + event["total"])
    return out


def test_remote_write_totals_equal_raw_increases_across_reset_and_restart(
    bootstrap: str, spawn: Spawn, tmp_path: Path, bridges: list[BridgeProcess]
) -> None:
    asyncio.run(remote_write_scenario(bootstrap, spawn, tmp_path, bridges))


async def remote_write_scenario(bootstrap: str, spawn: Spawn, tmp_path: Path, bridges: list[BridgeProcess]) -> None:
    exporter = Exporter()
    topology = make_topology(tmp_path, shop_slos(), partitions=2, timer_interval_s=1)
    worker = spawn(bootstrap, topology, "w")
    await worker.ready()
    port = free_port()
    argv = ["remote-write", "--listen", f"127.0.0.1:{port}", "--bootstrap", bootstrap]
    argv += ["--topology", str(topology.path), "--state", str(tmp_path / "bridge-state.json")]
    bridge = BridgeProcess(argv, tmp_path, "bridge-1").start()
    bridges.append(bridge)
    url = await bridge.url()
    (tmp_path / "prom").mkdir()
    prom = PrometheusServer(tmp_path / "prom", exporter.port, f"{url}/api/v1/write").start()
    try:
        await prom.ready()
        # the first samples Prometheus sends are the baselines: the 200 and 500 series, the le=0.25 bucket, _count
        await wait_metric(url, 'slo_bridge_samples_total{outcome="baseline"}', 4)

        async def step(ok: int, failed: int, fast: int, slow: int) -> None:
            exporter.add(ok, failed, fast, slow)
            await prom.wait_scraped(exporter.values())

        for i in range(3):
            await step(10 + i, i, 8, 2)
        exporter.reset()  # the exporter restarts: every counter from zero
        await prom.wait_scraped(exporter.values())
        await step(5, 1, 3, 1)
        assert bridge.stop() == 0  # the bridge restarts; Prometheus retries what it could not send
        await step(7, 2, 4, 2)
        await step(3, 3, 1, 1)
        second = BridgeProcess(argv, tmp_path, "bridge-2").start()
        bridges.append(second)
        await second.url()
        await step(9, 0, 5, 0)

        expected = await expected_totals(prom)
        assert expected["shop-avail"][1] == sum(10 + i + i for i in range(3)) + 6 + 9 + 6 + 9  # no sample lost
        async with TopicReader(bootstrap, topology.status) as status, TopicReader(bootstrap, topology.metrics) as m:
            await status.wait_until(lambda rs: worker_totals(rs) == expected, 60, f"worker totals {expected}")
            await m.read_to_end()
            assert published_totals(m.records) == expected
    finally:
        prom.close()
        exporter.close()


def test_query_mode_reads_the_same_totals(
    bootstrap: str, spawn: Spawn, tmp_path: Path, bridges: list[BridgeProcess]
) -> None:
    asyncio.run(query_scenario(bootstrap, spawn, tmp_path, bridges))


async def query_scenario(bootstrap: str, spawn: Spawn, tmp_path: Path, bridges: list[BridgeProcess]) -> None:
    exporter = Exporter()
    topology = make_topology(tmp_path, shop_slos(), partitions=2, timer_interval_s=1)
    worker = spawn(bootstrap, topology, "w")
    (tmp_path / "prom").mkdir()
    prom = PrometheusServer(tmp_path / "prom", exporter.port, None).start()
    try:
        await asyncio.gather(worker.ready(), prom.ready())
        await prom.wait_scraped(exporter.values())
        argv = ["query", "--prometheus", prom.url, "--interval", "1s", "--listen", "127.0.0.1:0"]
        argv += ["--bootstrap", bootstrap, "--topology", str(topology.path), "--state", str(tmp_path / "q.json")]
        bridge = BridgeProcess(argv, tmp_path, "query").start()
        bridges.append(bridge)
        url = await bridge.url()
        await wait_metric(url, 'slo_bridge_samples_total{outcome="baseline"}', 4)
        for ok, failed, fast, slow in ((10, 1, 8, 3), (4, 0, 2, 2)):
            exporter.add(ok, failed, fast, slow)
            await prom.wait_scraped(exporter.values())
        exporter.reset()
        await prom.wait_scraped(exporter.values())
        exporter.add(6, 2, 5, 3)
        await prom.wait_scraped(exporter.values())
        expected = await expected_totals(prom)
        assert expected["shop-avail"] == (20, 23)
        async with TopicReader(bootstrap, topology.status) as status:
            await status.wait_until(lambda rs: worker_totals(rs) == expected, 60, f"worker totals {expected}")
    finally:
        prom.close()
        exporter.close()
