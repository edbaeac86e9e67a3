"""Alert latency: from a burning SLI event to its alert event on Kafka and in Alertmanager.

What runs: the embedded broker, Debian's prometheus-alertmanager on a free port,
and ONE worker (`python -m app run --quiet`) whose topology has the Alertmanager
sink. For each of `--slos` fresh SLOs in turn, the script produces 20 events at
50% errors (every default rule fires: four alerts) and records

  * produce -> alert event: the send time to the receipt of the SLO's first
    alert event on the alerts topic (a plain consumer in this process);
  * produce -> Alertmanager: the send time to Alertmanager's `updatedAt` of the
    SLO's alert (Alertmanager's own receive time; same host, same clock).

Run: `python benchmarks/alert_latency.py [--slos 30]`. Needs prometheus-alertmanager
on PATH. Prints a markdown summary (machine, date, figures) to paste in RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import yaml
from aiokafka import AIOKafkaProducer, TopicPartition

from app.stream.broker import TansuBroker, free_port
from app.stream.long_poll import LongPollConsumer

ROOT = Path(__file__).resolve().parent.parent


def wait_port(port: int, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} after {timeout_s}s")


def am_alerts(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        return list(json.loads(response.read()))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    bootstrap: str, am_url: str, alerts_topic: str, metrics_topic: str, slo_ids: list[str]
) -> tuple[list[float], list[float]]:
    to_kafka, to_am = [], []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = LongPollConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    await producer.start()
    await consumer.start()
    try:
        parts = await producer.partitions_for(alerts_topic)
        tps = [TopicPartition(alerts_topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for slo_id in slo_ids:
            sent = time.time()
            futures = [
                await producer.send(
                    metrics_topic,
                    json.dumps({"slo_id": slo_id, "timestamp": sent - i / 100, "good": 50, "total": 100}).encode(),
                    key=slo_id.encode(),
                )
                for i in range(20)
            ]
            await asyncio.gather(*futures)
            seen_kafka = None
            while seen_kafka is None:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    if any(r.key == slo_id.encode() for r in records) and seen_kafka is None:
                        seen_kafka = time.time()
            to_kafka.append((seen_kafka - sent) * 1000)
            deadline = time.monotonic() + 20
            while True:
                mine = [a for a in am_alerts(am_url) if a["labels"].get("slo_id") == slo_id]
                if len(mine) == 4:
                    updated = min(datetime.fromisoformat(a["updatedAt"]).timestamp() for a in mine)
                    to_am.append((updated - sent) * 1000)
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{slo_id}: Alertmanager never got its 4 alerts")
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
    finally:
        await consumer.stop()
        await producer.stop()
    return to_kafka, to_am


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slos", type=int, default=30)
    args = parser.parse_args()
    exe = shutil.which("prometheus-alertmanager")
    if exe is None:
        raise SystemExit("prometheus-alertmanager is not on PATH (apt-get install prometheus-alertmanager)")
    work = Path(tempfile.mkdtemp(prefix="alert-latency-"))
    broker = TansuBroker(log_path=work / "tansu.log").start()
    am_port = free_port()
    (work / "am.yml").write_text("route: {receiver: none, group_wait: 0s}\nreceivers: [{name: none}]\n")
    am_argv = [
        exe,
        f"--config.file={work / 'am.yml'}",
        f"--storage.path={work / 'am'}",
        f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
    ]
    am = subprocess.Popen(am_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    am_url = f"http://127.0.0.1:{am_port}"
    slo_ids = [f"lat-{i:03d}" for i in range(args.slos)]
    name = f"alert-latency-{os.getpid()}"
    topology = {
        "name": name,
        "topics": {k: f"{name}.{k}" for k in ("metrics", "status", "definitions", "dead_letter", "alerts")},
        "partitions": 4,
        "sinks": {"alertmanager": {"url": am_url}},
        "slos": [
            {
                "slo_id": s,
                "slo_name": s,
                "service_name": "bench",
                "slo_type": "AVAILABILITY",
                "target_percentage": 99.9,
                "time_period": "ROLLING_30D",
            }
            for s in slo_ids
        ],
    }
    (work / "topology.yaml").write_text(yaml.safe_dump(topology))
    env = {**os.environ, "SLO_API_PORT": "0", "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
    worker = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--quiet", "--topology", str(work / "topology.yaml")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_port(am_port)
        assert worker.stdout is not None
        for line in worker.stdout:
            if " ready" in line:
                break
        time.sleep(6)  # the sink's consumer group joins after the worker's
        to_kafka, to_am = asyncio.run(
            measure(broker.bootstrap, am_url, topology["topics"]["alerts"], topology["topics"]["metrics"], slo_ids)
        )
    finally:
        worker.terminate()
        worker.wait(20)
        am.terminate()
        am.wait(10)
        broker.stop()
    cpu = platform.processor() or platform.machine()
    print(f"## Alert latency: `benchmarks/alert_latency.py --slos {args.slos}`\n")
    print(
        f"Machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.2f}.\n"
    )
    print("| from a burning event's send to | p50 | p90 | max | mean |")
    print("|---|---|---|---|---|")
    for label, values in (("its first alert event on Kafka", to_kafka), ("Alertmanager's updatedAt", to_am)):
        print(
            f"| {label} | {pct(values, 0.5):.1f} ms | {pct(values, 0.9):.1f} ms | {max(values):.1f} ms | "
            f"{statistics.mean(values):.1f} ms |"
        )


if __name__ == "__main__":
    main()
