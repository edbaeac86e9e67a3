"""The Prometheus bridge: remote-write ingest rate, and burn detection with Prometheus in the path.

`python benchmarks/bridge_bench.py ingest [--seconds 20] [--shards 4]`
    One bridge (`python -m app bridge remote-write`) on the embedded noida-db broker. 2,000
    counter series (10 SLOs x 100 instances x 2 codes); each request carries one sample of
    every series of its shard, as Prometheus' shards do (each shard: its own connection,
    samples in time order). Reports the samples/s the bridge applied (its own
    `slo_bridge_samples_total`) and the CPU per sample of decode + delta logic in-process.

`python benchmarks/bridge_bench.py detect [--services 5] [--scrape 5]`
    A counter exporter (prometheus_client) with `--services` services at 100 req/s each;
    Debian's prometheus scrapes it every `--scrape` s, evaluates Sloth-style multiwindow
    burn-rate rules on the same counters every `--scrape` s (`for: 0s`), and remote-writes
    (batch_send_deadline 1 s) to the bridge, which feeds one worker. Each service in turn
    starts burning (50% errors, after a minute of good traffic; each start at a random phase
    of the scrape cycle): the time from the burn's start to the worker's first alert event
    (read from the alerts topic), and to the `activeAt` of Prometheus' own alert.

Prints a markdown section to append to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter, start_http_server

from app.bridge.remote_write import compress, decode_write_request, encode_write_request
from app.core.counters import series_key
from app.core.promql import parse_sli_query
from app.core.sli_ingest import SliIngest
from app.stream.broker import NoidaBroker, free_port
from app.stream.kafka_io import ensure_topics
from app.stream.long_poll import LongPollConsumer
from app.topology import load_topology

ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}


def machine() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit.strip()}, {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.2f} at the end (a shared machine: other jobs ran meanwhile)"
    )


def topology_file(work: Path, slos: list[dict[str, Any]], name: str) -> Path:
    doc = {
        "name": name,
        "topics": {k: f"{name}.{k}" for k in ("metrics", "status", "definitions", "dead_letter", "alerts")},
        "partitions": 2,
        "timer_interval_s": 1,
        "slos": slos,
    }
    path = work / "topology.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def slo(slo_id: str, sli_query: str) -> dict[str, Any]:
    return {
        "slo_id": slo_id,
        "slo_name": slo_id,
        "service_name": slo_id,
        "slo_type": "AVAILABILITY",
        "target_percentage": 99.9,
        "time_period": "ROLLING_30D",
        "sli_query": sli_query,
    }


def start_bridge(argv: list[str], work: Path, label: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "bridge", *argv, "--log-level", "WARNING"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=open(work / f"{label}.err", "w"),  # noqa: SIM115
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("bridge listening on "):
            return proc, line.split()[3]
    raise SystemExit(f"bridge did not start: {(work / f'{label}.err').read_text()[-2000:]}")


# -- ingest -------------------------------------------------------------------------------
SLOS, INSTANCES = 10, 100


def shard_bodies(shard: int, shards: int, requests: int) -> list[bytes]:
    slo_ids = [k for k in range(SLOS) if k % shards == shard]
    bodies = []
    for r in range(requests):
        series = [
            (
                {"__name__": "bench_requests_total", "slo": f"s{k}", "instance": f"i{i}", "code": code},
                [(float(r * 7), 1000 * (r + 1))],
            )
            for k in slo_ids
            for i in range(INSTANCES)
            for code in ("200", "500")
        ]
        bodies.append(compress(encode_write_request(series)))
    return bodies


def in_process_cost_us() -> float:
    slis = {
        f"s{k}": parse_sli_query(
            f'sum(bench_requests_total{{slo="s{k}",code="200"}}) / sum(bench_requests_total{{slo="s{k}"}})'
        )
        for k in range(SLOS)
    }
    ingest = SliIngest(slis)
    bodies = [b for shard in range(1) for b in shard_bodies(shard, 1, 30)]
    from app.bridge.remote_write import decompress

    start = time.process_time()
    for body in bodies:
        for s in decode_write_request(decompress(body, 1 << 26)):
            ingest.add(series_key(s.labels), s.samples)
        ingest.drain()
    return (time.process_time() - start) / (len(bodies) * SLOS * INSTANCES * 2) * 1e6


async def post_all(url: str, bodies: list[bytes], deadline: float) -> int:
    sent = 0
    async with aiohttp.ClientSession() as http:
        for body in bodies:
            if time.monotonic() > deadline:
                break
            async with http.post(f"{url}/api/v1/write", data=body, headers=HEADERS) as response:
                assert response.status == 204, await response.text()
            sent += 1
    return sent


async def bridge_counter(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        text = await response.text()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def ingest(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bridge-ingest-"))
    broker = NoidaBroker(log_path=work / "noida.log").start()
    slos = [
        slo(f"s{k}", f'sum(bench_requests_total{{slo="s{k}",code="200"}}) / sum(bench_requests_total{{slo="s{k}"}})')
        for k in range(SLOS)
    ]
    path = topology_file(work, slos, f"bridge-ingest-{os.getpid()}")
    asyncio.run(ensure_topics(broker.bootstrap, load_topology(path)))
    argv = ["remote-write", "--listen", "127.0.0.1:0", "--bootstrap", broker.bootstrap, "--topology", str(path)]
    proc, url = start_bridge([*argv, "--state", str(work / "state.json")], work, "bridge")
    try:
        print("encoding...", file=sys.stderr)
        per_shard = [shard_bodies(s, args.shards, args.requests) for s in range(args.shards)]

        async def run() -> tuple[float, float]:
            before = await bridge_counter(url, "slo_bridge_samples_total{")
            start = time.monotonic()
            await asyncio.gather(*(post_all(url, b, start + args.seconds) for b in per_shard))
            elapsed = time.monotonic() - start
            return (await bridge_counter(url, "slo_bridge_samples_total{")) - before, elapsed

        samples, elapsed = asyncio.run(run())
        time.sleep(2)
        events = asyncio.run(bridge_counter(url, "slo_bridge_events_published_total"))
    finally:
        proc.terminate()
        proc.wait(30)
        broker.stop()
    cost = in_process_cost_us()
    print(f"## Prometheus bridge ingest: `benchmarks/bridge_bench.py ingest --shards {args.shards}`\n")
    print(f"{machine()}.\n")
    print("| what | result |\n|---|---|")
    print(
        f"| samples applied over HTTP (remote write 1.0, {args.shards} shards) | "
        f"**{samples / elapsed:,.0f} samples/s** ({samples:,.0f} in {elapsed:.1f} s) |"
    )
    print(f"| decode + delta logic in-process, CPU per sample | {cost:.2f} µs |")
    print(f"| SLI events published meanwhile | {events:,.0f} |")


# -- detect -------------------------------------------------------------------------------
class Traffic:
    def __init__(self, services: int) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("shop_requests", "Requests.", ["service", "code"], registry=self.registry)
        self.services = [f"svc{i}" for i in range(services)]
        for s in self.services:
            for code in ("200", "500"):
                self.requests.labels(s, code).inc(0)  # every series exists from the start
        self.burning: set[str] = set()
        self.stop = threading.Event()
        server, _thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.server = server
        self.port = int(server.server_port)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.1):  # 100 req/s per service
            for s in self.services:
                bad = 5 if s in self.burning else 0
                self.requests.labels(s, "200").inc(10 - bad)
                self.requests.labels(s, "500").inc(bad)


def sloth_rules(target: float) -> dict[str, Any]:
    """The multiwindow, multi-burn-rate rules Sloth generates (page: 1h/5m x14.4, 6h/30m x6)."""
    budget = 1 - target / 100
    rules = []
    for window in ("5m", "30m", "1h", "6h"):
        rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{window}",
                "expr": f'sum by (service) (rate(shop_requests_total{{code=~"5.."}}[{window}])) / '
                f"sum by (service) (rate(shop_requests_total[{window}]))",
            }
        )
    page = (
        f"(slo:sli_error:ratio_rate1h > (14.4 * {budget}) and slo:sli_error:ratio_rate5m > (14.4 * {budget})) or "
        f"(slo:sli_error:ratio_rate6h > (6 * {budget}) and slo:sli_error:ratio_rate30m > (6 * {budget}))"
    )
    rules.append({"alert": "SLOPageBurn", "expr": page, "for": "0s", "labels": {"severity": "page"}})
    return {"groups": [{"name": "sloth-style", "rules": rules}]}


async def detect_all(
    traffic: Traffic, bootstrap: str, alerts_topic: str, prom_url: str, warmup_s: float, scrape_s: float
) -> list[tuple[str, float, float]]:
    consumer = LongPollConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    out = []
    try:
        while not (parts := consumer.partitions_for_topic(alerts_topic)):
            await consumer.topics()
            await asyncio.sleep(0.1)
        tps = [TopicPartition(alerts_topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        await asyncio.sleep(warmup_s)
        async with aiohttp.ClientSession() as http:
            rng = random.Random(7)
            for service in traffic.services:
                # a random phase against the scrape and rule-evaluation ticks (one after another,
                # each burn would otherwise start at the same point of the cycle)
                await asyncio.sleep(rng.uniform(0, scrape_s))
                t0 = time.time()
                traffic.burning.add(service)
                engine = prom = None
                while engine is None or prom is None:
                    assert time.time() - t0 < 180, f"{service}: no detection after 180 s"
                    batch = await consumer.getmany(timeout_ms=200)
                    for record in (r for rs in batch.values() for r in rs):
                        event = json.loads(record.value)
                        if engine is None and event["slo_id"] == service and event["state"] == "firing":
                            engine = time.time() - t0
                    if prom is None:
                        async with http.get(f"{prom_url}/api/v1/alerts") as response:
                            alerts = (await response.json())["data"]["alerts"]
                        for a in alerts:
                            if a["labels"].get("service") == service and a["state"] == "firing":
                                prom = datetime.fromisoformat(a["activeAt"].replace("Z", "+00:00")).timestamp() - t0
                print(f"{service}: engine {engine}, prometheus {prom}", file=sys.stderr)
                out.append((service, engine, prom))
                traffic.burning.discard(service)
    finally:
        await consumer.stop()
    return out


def detect(args: argparse.Namespace) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        raise SystemExit("prometheus is not on PATH (apt-get install prometheus)")
    work = Path(tempfile.mkdtemp(prefix="bridge-detect-"))
    broker = NoidaBroker(log_path=work / "noida.log").start()
    traffic = Traffic(args.services)
    slos = [
        slo(
            s,
            f'1 - sum(rate(shop_requests_total{{service="{s}",code=~"5.."}}[5m])) / '
            f'sum(rate(shop_requests_total{{service="{s}"}}[5m]))',
        )
        for s in traffic.services
    ]
    name = f"bridge-detect-{os.getpid()}"
    path = topology_file(work, slos, name)
    env = {**os.environ, "SLO_API_PORT": "0", "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
    worker = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--quiet", "--topology", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(work / "worker.err", "w"),  # noqa: SIM115
        text=True,
    )
    assert worker.stdout is not None
    for line in worker.stdout:
        if " ready" in line:
            break
    bridge_port = free_port()
    argv = ["remote-write", "--listen", f"127.0.0.1:{bridge_port}", "--bootstrap", broker.bootstrap]
    bridge, url = start_bridge([*argv, "--topology", str(path), "--state", str(work / "state.json")], work, "bridge")
    (work / "rules.yml").write_text(yaml.safe_dump(sloth_rules(99.9)))
    config = {
        "global": {"scrape_interval": f"{args.scrape:g}s", "evaluation_interval": f"{args.scrape:g}s"},
        "rule_files": [str(work / "rules.yml")],
        "scrape_configs": [{"job_name": "shop", "static_configs": [{"targets": [f"127.0.0.1:{traffic.port}"]}]}],
        "remote_write": [{"url": f"{url}/api/v1/write", "queue_config": {"batch_send_deadline": "1s"}}],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom_port = free_port()
    prom = subprocess.Popen(
        [
            prometheus,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(work / "prometheus.log", "w"),  # noqa: SIM115
    )
    try:
        time.sleep(1)
        if prom.poll() is not None:
            raise SystemExit(f"prometheus exited: {(work / 'prometheus.log').read_text()[-2000:]}")
        results = asyncio.run(
            detect_all(
                traffic, broker.bootstrap, f"{name}.alerts", f"http://127.0.0.1:{prom_port}", args.warmup, args.scrape
            )
        )
    finally:
        traffic.stop.set()
        for p in (prom, bridge, worker):
            p.terminate()
            p.wait(30)
        broker.stop()
    engine = [r[1] for r in results]
    own = [r[2] for r in results]
    print(
        f"## Burn detection through the bridge: `benchmarks/bridge_bench.py detect --services {args.services} "
        f"--scrape {args.scrape:g}`\n"
    )
    print(f"{machine()}.\n")
    print("| from the burn's start (50% errors, target 99.9%) to | median | min | max |\n|---|---|---|---|")
    for label, values in (
        ("the worker's first alert event (Prometheus → bridge → worker)", engine),
        ("Prometheus' own Sloth-style alert (activeAt, rules every scrape interval)", own),
    ):
        print(f"| {label} | {statistics.median(values):.1f} s | {min(values):.1f} s | {max(values):.1f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    i = sub.add_parser("ingest")
    i.add_argument("--seconds", type=float, default=20)
    i.add_argument("--shards", type=int, default=4)
    i.add_argument("--requests", type=int, default=300, help="requests encoded per shard")
    i.set_defaults(func=ingest)
    d = sub.add_parser("detect")
    d.add_argument("--services", type=int, default=5)
    d.add_argument("--scrape", type=float, default=5)
    d.add_argument("--warmup", type=float, default=60)
    d.set_defaults(func=detect)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
