"""A counter exporter (prometheus_client, values set by the test) and a real Prometheus
(Debian's /usr/bin/prometheus) scraping it and remote-writing to the bridge."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Exporter:
    """`shop_requests_total{code}` and the histogram `shop_request_duration_seconds`, with values
    the test sets (a decrease is a counter reset, as after a process restart)."""

    BUCKETS = ("0.1", "0.25", "0.5", "+Inf")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, float] = {"200": 0.0, "500": 0.0}
        self.buckets: dict[str, float] = dict.fromkeys(self.BUCKETS, 0.0)  # cumulative
        self.registry = CollectorRegistry()
        self.registry.register(self)
        server, thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.server, self.thread = server, thread
        self.port = int(server.server_port)

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            c = CounterMetricFamily("shop_requests", "Requests.", labels=["code"])
            for code, v in self.requests.items():
                c.add_metric([code], v)
            yield c
            yield HistogramMetricFamily(
                "shop_request_duration_seconds", "Latency.", buckets=list(self.buckets.items()), sum_value=0.0
            )

    def add(self, ok: int, failed: int, fast: int, slow: int) -> None:
        """`ok` + `failed` requests; `fast` observations under 0.1 s, `slow` of 0.4 s."""
        with self.lock:
            self.requests["200"] += ok
            self.requests["500"] += failed
            for le in self.BUCKETS:
                self.buckets[le] += fast + (slow if le in ("0.5", "+Inf") else 0)

    def reset(self) -> None:
        with self.lock:
            self.requests = dict.fromkeys(self.requests, 0.0)
            self.buckets = dict.fromkeys(self.BUCKETS, 0.0)

    def values(self) -> dict[str, float]:
        with self.lock:
            return {f"shop_requests_total/{k}": v for k, v in self.requests.items()} | {
                "shop_request_duration_seconds_count/": self.buckets["+Inf"]
            }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PrometheusServer:
    def __init__(self, directory: Path, scrape_port: int, remote_write_url: str | None, scrape_s: float = 1) -> None:
        assert PROMETHEUS is not None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config: dict[str, Any] = {
            "global": {"scrape_interval": f"{scrape_s:g}s", "evaluation_interval": f"{scrape_s:g}s"},
            "scrape_configs": [{"job_name": "shop", "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}]}],
        }
        if remote_write_url:
            queue = {"batch_send_deadline": "1s", "min_backoff": "50ms", "max_backoff": "500ms"}
            config["remote_write"] = [{"url": remote_write_url, "queue_config": queue}]
        self.config_path = directory / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, extra: tuple[str, ...] = ()) -> PrometheusServer:
        self._log = open(self.directory / "prometheus.log", "wb")  # noqa: SIM115
        argv = [str(PROMETHEUS), f"--config.file={self.config_path}", f"--storage.tsdb.path={self.directory / 'data'}"]
        argv += [f"--web.listen-address=127.0.0.1:{self.port}", *extra]
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def log(self) -> str:
        return (self.directory / "prometheus.log").read_text(errors="replace")

    async def ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                assert self.proc is not None and self.proc.poll() is None, self.log()[-3000:]
                assert time.monotonic() < deadline, f"prometheus not ready\n{self.log()[-3000:]}"
                await asyncio.sleep(0.05)

    async def query(self, query: str, at_s: float | None = None) -> list[dict[str, Any]]:
        params = {"query": query, **({"time": f"{at_s:.3f}"} if at_s is not None else {})}
        async with httpx.AsyncClient(timeout=10) as http:
            doc = (await http.get(f"{self.url}/api/v1/query", params=params)).json()
        assert doc["status"] == "success", doc
        result: list[dict[str, Any]] = doc["data"]["result"]
        return result

    async def wait_scraped(self, values: dict[str, float], timeout: float = 30) -> None:
        """Until Prometheus' latest samples of the exporter's series equal `values`."""
        deadline = time.monotonic() + timeout
        while True:
            result = await self.query('{__name__=~"shop_requests_total|shop_request_duration_seconds_count"}')
            seen = {f"{r['metric']['__name__']}/{r['metric'].get('code', '')}": float(r["value"][1]) for r in result}
            if seen == values:
                return
            assert time.monotonic() < deadline, f"prometheus has {seen}, not {values}"
            await asyncio.sleep(0.1)

    async def raw_samples(self, selector: str, range_s: int = 3600) -> dict[tuple[tuple[str, str], ...], list[float]]:
        """Every raw sample of the series `selector` matches, in time order (a range selector:
        no rate, no extrapolation)."""
        out = {}
        for r in await self.query(f"{selector}[{range_s}s]"):
            out[tuple(sorted(r["metric"].items()))] = [float(v) for _ts, v in r["values"]]
        return out

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()


def raw_increase(values: list[float]) -> int:
    """What the counter increased by from its first sample to its last, resets counted from zero."""
    return int(sum(b if b < a else b - a for a, b in itertools.pairwise(values)))
