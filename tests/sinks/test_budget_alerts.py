"""An EXHAUSTED ROLLING_1H SLO (which no burn-rate rule fits) raises budget-100 through
every sink of a real worker: the alerts topic, a real Alertmanager and Pulsar (pulsar-lite);
good traffic brings the consumed budget back down and every episode resolves there too."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from app.domain.models import DEFAULT_ACTIONS
from tests.api.helpers import free_port
from tests.sinks.servers import Alertmanager, PulsarLite
from tests.sinks.test_alertmanager import eventually, wait_api
from tests.sinks.test_pulsar import pulsar_client, receive, subscribe
from tests.stream.helpers import Producer, Spawn, TopicReader, event_bytes, keyed, make_topology, slo_def
from tests.stream.test_budget_alerts import BUDGET_RULES, alert_events

pytestmark = pytest.mark.kafka


@pytest.mark.timeout(150)
def test_an_exhausted_rolling_hour_raises_budget_100_through_every_sink(
    bootstrap: str, spawn: Spawn, tmp_path: Path, alertmanager: Alertmanager, pulsar_broker: PulsarLite
) -> None:
    slo_id = "edge-api"
    alerts_topic = "persistent://public/default/slo-alerts-budget"
    sinks = {
        "alertmanager": {"url": alertmanager.url, "resend_interval_s": 1},
        "pulsar": {"service_url": pulsar_broker.url, "alerts_topic": alerts_topic, "send_timeout_s": 2},
        "retry_initial_s": 0.1,
        "retry_max_s": 0.5,
    }
    topology = make_topology(
        tmp_path, [slo_def(slo_id, 99.0, "ROLLING_1H")], partitions=2, timer_interval_s=0.5, sinks=sinks
    )
    api_port = free_port()
    alertmanager.start()
    pulsar_broker.start()

    async def scenario() -> None:
        worker = spawn(bootstrap, topology, "budget", env={"SLO_API_PORT": str(api_port)})
        await worker.ready()
        wait_api(api_port)
        client = pulsar_client(pulsar_broker.url)
        try:
            sub = subscribe(client, alerts_topic)
            async with Producer(bootstrap) as producer, TopicReader(bootstrap, topology.alerts) as kafka:
                now = time.time()
                # 5 bad of 100 against a 1% budget: 500% consumed, EXHAUSTED
                await producer.send(topology.metrics, keyed([event_bytes(slo_id, now, 95, 100)]))
                await kafka.wait_until(lambda rs: len(rs) >= 3, 20, "the budget alerts on Kafka")
                fired = alert_events(kafka)
                assert [e["rule"] for e in fired] == BUDGET_RULES  # and no burn-rate rule: none fits 1h
                top = fired[-1]
                assert (top["state"], top["threshold"], top["error_budget_consumed"]) == ("firing", 1.0, 5.0)
                active = await eventually(
                    lambda: len(alertmanager.alerts()) == 3 and alertmanager.alerts(), 20, "3 alerts in Alertmanager"
                )
                page = next(a for a in active if a["labels"]["rule"] == "budget-100")
                assert page["labels"] == {
                    "alertname": "SLOErrorBudget",
                    "slo_id": slo_id,
                    "service": "edge",
                    "rule": "budget-100",
                    "severity": "page",
                }
                assert page["annotations"]["action"] == DEFAULT_ACTIONS[1.0]
                assert page["annotations"]["error_budget_consumed"] == "5.0000"
                assert page["annotations"]["summary"] == f"SLO {slo_id}: 500% of the error budget spent (policy: 100%)"
                got = await receive(sub, {top["event_id"]})
                assert (slo_id.encode(), top["event_id"]) in got

                # Good traffic brings the hour's consumed budget below every threshold:
                # 5 bad of 100,100 is 0.5% of the budget. Every episode resolves, everywhere.
                await producer.send(topology.metrics, keyed([event_bytes(slo_id, time.time(), 100_000, 100_000)]))
                await kafka.wait_until(lambda rs: len(rs) >= 6, 20, "the resolved events on Kafka")
                await eventually(lambda: alertmanager.alerts() == [], 20, "every budget alert resolved in Alertmanager")
                resolved = alert_events(kafka)[3:]
                assert {(e["rule"], e["state"]) for e in resolved} == {(r, "resolved") for r in BUDGET_RULES}
                last = next(e for e in resolved if e["rule"] == "budget-100")
                assert (last["alert_id"], last["started_at"]) == (top["alert_id"], top["started_at"])
                await receive(sub, {last["event_id"]})
        finally:
            client.close()

    asyncio.run(scenario())
