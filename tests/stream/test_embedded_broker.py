"""The embedded brokers on their own (app/stream/broker.py, app/stream/trim.py) and
`python -m app run` on the embedded default, noida-db: its lifecycle, what bounds
its memory, and the README's first command."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from app.cli import main
from app.stream.broker import (
    MIB,
    NOIDA_DIR_PREFIX,
    EmbeddedBroker,
    NoidaBroker,
    remove_stale_data_dirs,
)
from app.stream.trim import trim_once

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


async def create_topic(bootstrap: str, topic: str, partitions: int, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs)])
    finally:
        await admin.close()


async def beginning(bootstrap: str, tp: TopicPartition) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        offsets: dict[TopicPartition, int] = await consumer.beginning_offsets([tp])
        return offsets[tp]
    finally:
        await consumer.stop()


def test_noida_starts_on_loopback_and_stop_removes_its_data_dir(tmp_path: Path) -> None:
    broker = NoidaBroker(log_path=tmp_path / "noida.log").start()
    try:
        assert broker.data_dir is not None and broker.data_dir.is_dir()
        data_dir = broker.data_dir
        assert broker.bootstrap == f"127.0.0.1:{broker.port}"

        async def topics() -> list[str]:
            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
            await admin.start()
            try:
                names: list[str] = await admin.list_topics()
                return names
            finally:
                await admin.close()

        assert "__consumer_offsets" in asyncio.run(topics())  # a Kafka API answered
        process = broker.process
        assert process is not None
    finally:
        broker.stop()
    assert process.poll() is not None
    assert not data_dir.exists()
    assert not accepts(broker.port)


def test_noida_deletes_output_segments_beyond_retention_bytes(noida_broker: EmbeddedBroker) -> None:
    """What bounds the status and dead-letter topics: 1 MiB per partition plus the
    active segment (256 KiB), whatever the rate."""
    configs = NoidaBroker.topic_configs.output
    assert configs == {"retention.bytes": str(MIB), "segment.bytes": str(MIB // 4)}
    topic = f"retention-{time.time_ns()}"
    tp = TopicPartition(topic, 0)
    value = b"x" * 1000
    n = 3000  # ~3 MiB

    async def run() -> int:
        await create_topic(noida_broker.bootstrap, topic, 1, configs)
        producer = AIOKafkaProducer(bootstrap_servers=noida_broker.bootstrap, linger_ms=5)
        await producer.start()
        try:
            for _ in range(n):
                await producer.send(topic, value, partition=0)
            await producer.flush()
        finally:
            await producer.stop()
        deadline = time.monotonic() + 30
        while (start := await beginning(noida_broker.bootstrap, tp)) == 0:
            assert time.monotonic() < deadline, "no segment deleted in 30 s"
            await asyncio.sleep(0.2)
        return start

    start = asyncio.run(run())
    kept = n - start  # records of ~1.07 KiB each (value, key-less record and batch overhead)
    assert 700 <= kept <= 1300, kept


def test_trim_deletes_only_committed_input(noida_broker: EmbeddedBroker) -> None:
    bootstrap = noida_broker.bootstrap
    topic, group = f"trim-{time.time_ns()}", f"trim-group-{time.time_ns()}"
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    async def run() -> None:
        await create_topic(bootstrap, topic, 2, {})
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for i in range(100):
                await producer.send(topic, b"%d" % i, partition=i % 2)
            await producer.flush()
        finally:
            await producer.stop()
        committer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await committer.start()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            committer.assign([tp0, tp1])
            await committer.commit({tp0: 30})  # partition 1: nothing committed
            trimmed: dict[TopicPartition, int] = {}
            assert await trim_once(admin, group, topic, trimmed) == {tp0: 30}
            assert await trim_once(admin, group, topic, trimmed) == {}  # nothing new committed
            assert (await beginning(bootstrap, tp0), await beginning(bootstrap, tp1)) == (30, 0)
            await committer.commit({tp0: 40, tp1: 10})  # each partition holds 50 records
            assert await trim_once(admin, group, topic, trimmed) == {tp0: 40, tp1: 10}
            committer.seek(tp0, 40)  # what was not committed is still there
            deadline = time.monotonic() + 10
            while not (batch := await committer.getmany(tp0, timeout_ms=500)):
                assert time.monotonic() < deadline, "nothing readable after the committed offset"
            assert [int(r.value) for r in batch[tp0]][:3] == [80, 82, 84]  # partition 0 got the even ones
        finally:
            await admin.close()
            await committer.stop()

    asyncio.run(run())


def test_stale_data_dirs_of_dead_noida_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    for name, pid in (("dead", dead.pid), ("alive", os.getpid())):
        (tmp_path / f"{NOIDA_DIR_PREFIX}{name}").mkdir()
        (tmp_path / f"{NOIDA_DIR_PREFIX}{name}" / "noida.control.json").write_text(json.dumps({"pid": pid}))
    (tmp_path / f"{NOIDA_DIR_PREFIX}starting").mkdir()  # no control file yet: left alone
    (tmp_path / "other-dead").mkdir()
    (tmp_path / "other-dead" / "noida.control.json").write_text(json.dumps({"pid": dead.pid}))

    assert remove_stale_data_dirs(tmp_path) == [tmp_path / f"{NOIDA_DIR_PREFIX}dead"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{NOIDA_DIR_PREFIX}alive", f"{NOIDA_DIR_PREFIX}starting", "other-dead"]
    )


def test_unknown_embedded_broker_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLO_EMBEDDED_BROKER", "kafka")
    out, err = StringIO(), StringIO()
    assert main(["run"], out, err) == 2
    assert err.getvalue() == "error: SLO_EMBEDDED_BROKER: Input should be 'noida' or 'tansu' (got 'kafka')\n"


def run_env(tmp_path: Path) -> dict[str, str]:
    drop = {"KAFKA_BOOTSTRAP_SERVERS", "SLO_EMBEDDED_BROKER", "SLO_SESSION_TIMEOUT_MS", "SLO_TOPOLOGY"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "TMPDIR": str(tmp_path), "SLO_API_PORT": "0", "PYTHONUNBUFFERED": "1"}


def start_run(tmp_path: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "run", *flags],
        cwd=tmp_path,
        env=run_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(process: subprocess.Popen[str], pattern: str, timeout_s: float) -> tuple[re.Match[str], list[str]]:
    """Lines of stdout until one matches (the process is killed if none does in time)."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if match := re.search(pattern, line):
            return match, lines
    process.kill()
    raise AssertionError(f"no line matching {pattern!r} in {timeout_s}s: {''.join(lines[-20:])}")


@pytest.mark.timeout(120)
def test_run_on_the_default_broker_bounds_topics_and_dies_with_the_worker(tmp_path: Path) -> None:
    first = start_run(tmp_path, "--quiet")
    try:
        match, _ = read_until(first, r"embedded Kafka-compatible broker \(noida-db\) at 127\.0\.0\.1:(\d+)", 30)
        port = int(match.group(1))
        read_until(first, r"worker \S+ ready: 3 SLOs", 60)
        (data_dir,) = tmp_path.glob(NOIDA_DIR_PREFIX + "*")

        async def configs() -> dict[str, dict[str, str]]:
            admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
            await admin.start()
            try:
                names = ["slo.metrics", "slo.status", "slo-engine-state-changelog"]
                resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
                out: dict[str, dict[str, str]] = {}
                for response in await admin.describe_configs(resources):
                    for _, _, _, name, entries in response.resources:
                        out[name] = {e[0]: e[1] for e in entries}
                return out
            finally:
                await admin.close()

        got = asyncio.run(configs())
        assert got["slo.status"]["retention.bytes"] == str(MIB)
        assert got["slo.status"]["segment.bytes"] == str(MIB // 4)
        assert got["slo.metrics"]["retention.bytes"] == "-1"  # input: deleted once committed, never by size
        assert got["slo-engine-state-changelog"]["cleanup.policy"] == "compact"
        assert got["slo-engine-state-changelog"]["segment.ms"] == "10000"
        assert got["slo-engine-state-changelog"]["delete.retention.ms"] == "60000"

        first.send_signal(signal.SIGKILL)
        first.wait(10)
        deadline = time.monotonic() + 10
        while accepts(port):  # the broker dies with the worker (PR_SET_PDEATHSIG)
            assert time.monotonic() < deadline, "the broker outlived its worker"
            time.sleep(0.05)
        assert data_dir.is_dir()  # a killed worker cannot remove it...
    finally:
        first.kill()
        first.wait(10)

    second = start_run(tmp_path, "--quiet")
    try:
        read_until(second, r"worker \S+ ready: 3 SLOs", 60)
        assert not data_dir.exists()  # ...the next start does
        assert len(list(tmp_path.glob(NOIDA_DIR_PREFIX + "*"))) == 1
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
        assert list(tmp_path.glob(NOIDA_DIR_PREFIX + "*")) == []  # a clean stop removes its own
    finally:
        second.kill()
        second.wait(10)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_readme_demo_pages_on_the_default_broker(tmp_path: Path) -> None:
    """The README's first command: statuses scroll, and about a minute in the
    scripted incident fires the checkout page."""
    demo = start_run(tmp_path, "--demo")
    try:
        read_until(demo, r"embedded Kafka-compatible broker \(noida-db\)", 30)
        _, lines = read_until(demo, r"checkout-availability +ALERT FIRING +page-1h-5m", 150)
        statuses = [ln for ln in lines if re.search(r" (HEALTHY|WARNING|CRITICAL|EXHAUSTED) +sli=", ln)]
        assert len(statuses) > 30
        demo.send_signal(signal.SIGINT)
        assert demo.wait(30) == 0
    finally:
        demo.kill()
        demo.wait(10)
