"""Alerts to a real Alertmanager (Debian's prometheus-alertmanager) through a real worker:
down at first (the pipeline goes on, failures are counted), then up (delivery resumes,
nothing lost), re-sent while open, and resolved with endsAt."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from pathlib import Path

import msgspec
import pytest

from app.domain.enums import AlertState, Severity
from app.domain.messages import AlertEvent
from tests.api.helpers import free_port
from tests.sinks.servers import Alertmanager
from tests.stream.helpers import Msg, Producer, Spawn, TopicReader, event_bytes, keyed, make_topology, slo_def
from tests.waiting import eventually

pytestmark = pytest.mark.kafka

RULES = {"page-1h-5m", "page-6h-30m", "ticket-24h-2h", "ticket-3d-6h"}


def wait_api(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"the worker's API never answered on {port}"
            time.sleep(0.05)


def metric(port: int, name: str, labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.MULTILINE)
    return float(m[1]) if m else 0.0


@pytest.mark.timeout(120)
def test_alerts_reach_alertmanager_after_it_comes_up_and_resolve_there(
    bootstrap: str, spawn: Spawn, tmp_path: Path, alertmanager: Alertmanager
) -> None:
    slo = slo_def(
        "shop-api", 99.9, budget_policy=[]
    )  # burn-rate alerts only (budget-*: tests/stream/test_budget_alerts)
    sinks = {
        "alertmanager": {"url": alertmanager.url, "resend_interval_s": 1, "generator_url": "http://slo-engine/"},
        "retry_initial_s": 0.1,
        "retry_max_s": 0.5,
    }
    topology = make_topology(tmp_path, [slo], partitions=2, timer_interval_s=0.5, sinks=sinks)
    api_port = free_port()

    async def scenario() -> None:
        worker = spawn(bootstrap, topology, "am", env={"SLO_API_PORT": str(api_port)})
        await worker.ready()
        wait_api(api_port)
        async with Producer(bootstrap) as producer, TopicReader(bootstrap, topology.status) as status:
            # A record that is not an alert event (anyone may write to the topic): skipped, counted.
            await producer.send(topology.alerts, [Msg(b"shop-api", b'{"event_type": "something else"}')])
            # An alert event Alertmanager refuses (a label name it rejects): skipped and
            # counted, not retried forever ahead of every later alert.
            refused = AlertEvent(
                event_id="0000000000000000:1:firing",
                alert_id="0000000000000000",
                episode=1,
                timestamp="2026-01-01T00:00:00Z",
                slo_id="shop-api",
                slo_name="x",
                service_name="shop",
                rule="odd",
                severity=Severity.PAGE,
                long_window=None,
                short_window=None,
                threshold=None,
                burn_rate_long=None,
                burn_rate_short=None,
                error_budget_remaining=1.0,
                state=AlertState.FIRING,
                started_at="2026-01-01T00:00:00Z",
                resolved_at=None,
                labels={"not-a-label": "x"},
                annotations={},
            )
            await producer.send(topology.alerts, [Msg(b"shop-api", msgspec.json.encode(refused))])
            now = time.time()
            await producer.send(
                topology.metrics, keyed(event_bytes("shop-api", now - i / 100, 50, 100) for i in range(20))
            )
            # Alertmanager is down: deliveries fail and are counted, the pipeline goes on.
            await eventually(
                lambda: metric(api_port, "slo_sink_failures_total", 'sink="alertmanager"') >= 2, 20, "failures"
            )
            assert metric(api_port, "slo_sink_up", 'sink="alertmanager"') == 0.0
            await status.poll(500)
            assert status.records, "status events must flow while a sink is down"
            await producer.send(topology.metrics, keyed([event_bytes("shop-api", time.time(), 50, 100)]))

            alertmanager.start()
            alerts = await eventually(lambda: len(alertmanager.alerts()) == 4 and alertmanager.alerts(), 20, "4 alerts")
            by_rule = {a["labels"]["rule"]: a for a in alerts}
            assert set(by_rule) == RULES
            page = by_rule["page-1h-5m"]
            assert page["labels"] == {
                "alertname": "SLOBurnRate",
                "slo_id": "shop-api",
                "service": "shop",
                "rule": "page-1h-5m",
                "severity": "page",
            }
            assert page["annotations"]["summary"] == "SLO shop-api: error budget burning 500.0x over 1h"
            assert page["annotations"]["burn_rate_long"] == "500.000"
            assert page["generatorURL"] == "http://slo-engine/"
            assert page["status"]["state"] == "active"
            assert metric(api_port, "slo_sink_up", 'sink="alertmanager"') == 1.0
            assert metric(api_port, "slo_sink_delivered_total", 'sink="alertmanager"') >= 4
            # the garbage record once despite the retries, and the refused alert
            assert metric(api_port, "slo_sink_invalid_total", 'sink="alertmanager"') == 2

            # Open alerts are re-sent (resend_interval_s = 1): their endsAt moves on.
            ends_before = page["endsAt"]
            await eventually(
                lambda: (
                    next(a for a in alertmanager.alerts() if a["labels"]["rule"] == "page-1h-5m")["endsAt"]
                    > ends_before
                ),
                10,
                "a re-send with a later endsAt",
            )

            # A stricter policy ends the episodes: resolved alerts carry endsAt, and
            # Alertmanager no longer lists them as active.
            strict = {
                **slo,
                "burn_rate_rules": [
                    {"severity": "page", "long_window": "1h", "short_window": "5m", "burn_rate_threshold": 1000}
                ],
            }
            await producer.send(topology.definitions, [Msg(b"shop-api", json.dumps(strict).encode())])
            await eventually(lambda: alertmanager.alerts() == [], 20, "every alert resolved in Alertmanager")

    asyncio.run(scenario())
