"""The published contracts: docs/asyncapi.yaml is what `python -m app export asyncapi` writes
from the types, and every message a real worker puts on its topics validates against it."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.cli import main
from app.domain.events import RejectReason
from app.export.asyncapi import asyncapi, to_yaml
from tests.stream.helpers import (
    ROOT,
    Msg,
    Producer,
    Spawn,
    TopicReader,
    event_bytes,
    keyed,
    make_topology,
    slo_def,
)

DOC_PATH = ROOT / "docs" / "asyncapi.yaml"
REGENERATE = "python -m app export asyncapi --out docs/asyncapi.yaml"
# Rejections the schema itself refuses (the others are about values the schema cannot know:
# an unknown SLO, good > total, a timestamp out of range).
SCHEMA_LEVEL = {RejectReason.INVALID_JSON, RejectReason.NOT_AN_OBJECT, RejectReason.MISSING_FIELD}


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == to_yaml(asyncapi()), f"stale: run `{REGENERATE}`"


def test_export_asyncapi_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.yaml"
    assert main(["export", "asyncapi", "--out", str(out)], out=io.StringIO(), err=io.StringIO()) == 0
    assert out.read_text(encoding="utf-8") == DOC_PATH.read_text(encoding="utf-8")


def test_every_channel_names_a_message_with_a_schema() -> None:
    doc = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))
    assert set(doc["channels"]) == {"metrics", "status", "alerts", "reports", "definitions", "deadLetters"}
    for name, channel in doc["channels"].items():
        refs = [m["$ref"] for m in channel["messages"].values()]
        assert len(refs) == (2 if name == "reports" else 1), name
        for ref in refs:
            message = resolve(doc, ref)
            assert message["payload"], name
            assert message["bindings"]["kafka"]["key"]["type"] == "string", name
    reports = doc["channels"]["reports"]["messages"]
    assert set(reports) == {"SloReportEvent", "ReportRollupEvent"}
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(schema)  # AsyncAPI's schema dialect: draft 7 and more


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


class Contract:
    """Validators for the messages of each channel, from the committed document."""

    def __init__(self) -> None:
        self.doc = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))

    def validator(self, channel: str, part: str = "payload") -> jsonschema.Draft7Validator:
        [ref] = [m["$ref"] for m in self.doc["channels"][channel]["messages"].values()]
        schema = resolve(self.doc, ref)[part]
        # The components ride along so that the schema's $refs resolve in this document.
        return jsonschema.Draft7Validator(
            {**schema, "components": self.doc["components"]}, format_checker=jsonschema.FormatChecker()
        )

    def errors(self, channel: str, value: object, part: str = "payload") -> list[str]:
        return [e.message for e in self.validator(channel, part).iter_errors(value)]


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_every_message_a_worker_produces_validates(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    contract = Contract()
    slos = [slo_def("burning-api", 99.9), slo_def("quiet-api", 99.0, no_data_alert_after_s=1)]
    topology = make_topology(tmp_path, slos, partitions=2, timer_interval_s=0.5)
    worker = spawn(bootstrap, topology, "contracts")

    async def scenario() -> dict[str, list[Any]]:
        await worker.ready()
        async with (
            Producer(bootstrap) as producer,
            TopicReader(bootstrap, topology.alerts) as alerts,
            TopicReader(bootstrap, topology.dead_letter) as dead,
        ):
            now = time.time()
            burning = [event_bytes("burning-api", now - i / 100, 50, 100) for i in range(20)]
            await producer.send(topology.metrics, keyed([*burning, event_bytes("quiet-api", now, 10, 10)]))
            bad = [
                Msg(b"burning-api", b"{not json"),
                Msg(b"burning-api", b"[1, 2]"),
                Msg(b"burning-api", json.dumps({"slo_id": "burning-api", "good": 1}).encode()),
                Msg(b"burning-api", event_bytes("burning-api", now, 5, 4)),  # good > total
                Msg(b"nobody", event_bytes("nobody", now, 1, 1)),  # unknown SLO
                Msg(None, event_bytes("quiet-api", now, 3, 3)),  # unkeyed: re-published under its slo_id
            ]
            await producer.send(topology.metrics, bad)
            await dead.wait_until(lambda records: len(records) >= 5, 30, "5 dead letters")
            # The burning SLO pages and tickets; the quiet one goes stale after a second.
            await alerts.wait_until(
                lambda records: any(json.loads(r.value)["rule"] == "SLIDataStale" for r in records),
                30,
                "the firing events, SLIDataStale among them",
            )
            # Deleting the burning SLO resolves its alerts at the next tick (a tombstone in definitions).
            await producer.send(topology.definitions, [Msg(b"burning-api", None, 0)])
            await alerts.wait_until(
                lambda records: sum(json.loads(r.value)["state"] == "resolved" for r in records) >= 7,
                30,
                "the resolved events",
            )
        out = {}
        for topic in (topology.metrics, topology.status, topology.alerts, topology.definitions, topology.dead_letter):
            async with TopicReader(bootstrap, topic) as reader:
                await reader.read_to_end()
                out[topic] = reader.records
        return out

    records = asyncio.run(scenario())
    for record in [*records[topology.status], *records[topology.alerts]]:
        assert record.key is not None

    status = records[topology.status]
    assert status and all(contract.errors("status", json.loads(r.value)) == [] for r in status)
    alerts = [json.loads(r.value) for r in records[topology.alerts]]
    assert {(a["rule"], a["state"]) for a in alerts} >= {
        ("page-1h-5m", "firing"),
        ("budget-100", "firing"),
        ("budget-100", "resolved"),
        ("SLIDataStale", "firing"),
    }
    assert {a["state"] for a in alerts} == {"firing", "resolved"}
    for alert in alerts:
        assert contract.errors("alerts", alert) == [], alert
    definitions = records[topology.definitions]
    assert [r.value for r in definitions].count(None) == 1  # the tombstone: null is in the schema too
    for r in definitions:
        assert contract.errors("definitions", None if r.value is None else json.loads(r.value)) == [], r.value

    dead = records[topology.dead_letter]
    rejected_at = set()
    for r in dead:
        headers = {k: v.decode() for k, v in r.headers}
        assert contract.errors("deadLetters", headers, part="headers") == [], headers
        rejected_at.add((int(headers["dlq.source.partition"]), int(headers["dlq.source.offset"])))
        reason = RejectReason(headers["dlq.reason"])
        try:
            refused = bool(contract.errors("metrics", json.loads(r.value)))
        except ValueError:
            refused = True
        assert refused == (reason in SCHEMA_LEVEL), (reason, r.value)
    assert {RejectReason(dict(r.headers)["dlq.reason"].decode()) for r in dead} == {
        RejectReason.INVALID_JSON,
        RejectReason.NOT_AN_OBJECT,
        RejectReason.MISSING_FIELD,
        RejectReason.GOOD_EXCEEDS_TOTAL,
        RejectReason.UNKNOWN_SLO,
    }
    accepted = [r for r in records[topology.metrics] if (r.partition, r.offset) not in rejected_at]
    assert len(accepted) == 23  # 21 counted, the unkeyed one and its re-published copy
    for r in accepted:
        assert contract.errors("metrics", json.loads(r.value)) == [], r.value
