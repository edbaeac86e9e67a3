"""The declarative topology a worker loads: topics, timing, and SLO definitions.

A topology file is YAML:

    name: slo-engine            # consumer group id and changelog prefix
    topics: {metrics: slo.metrics, status: slo.status, alerts: slo.alerts, ...}
    sinks: {kafka_alerts: true, pulsar: {service_url: ...}, alertmanager: {url: ...}}
    partitions: 8
    timer_interval_s: 10
    slos: [...]                  # initial definitions (GitOps source)
    adjustments: [...]           # initial budget adjustments (app/domain/adjustments)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.definitions import field_path, parse_adjustments, parse_slos, read_yaml
from app.domain.adjustments import AdjustmentDefinition
from app.domain.models import SLO
from app.errors import InvalidDefinition

DEFAULT_TOPOLOGY = Path(__file__).resolve().parent.parent / "topologies" / "default.yaml"

TopicName = str


class Topics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: TopicName = Field("slo.metrics", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    status: TopicName = Field("slo.status", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    definitions: TopicName = Field("slo.definitions", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    dead_letter: TopicName = Field("slo.dlq", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    alerts: TopicName = Field("slo.alerts", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    reports: TopicName = Field(
        "slo.reports",
        pattern=r"^[A-Za-z0-9._-]{1,249}$",
        description="Closed monthly and quarterly reports (app/stream/report_publisher); by default the "
        "metrics topic's prefix + `.reports` (`slo.metrics` -> `slo.reports`).",
    )
    adjustments: TopicName = Field(
        "slo.adjustments",
        pattern=r"^[A-Za-z0-9._-]{1,249}$",
        description="Budget adjustments (compacted, key adjustment_id); by default the metrics topic's "
        "prefix + `.adjustments`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _reports_beside_metrics(cls, data: Any) -> Any:
        """Unless named, the reports and adjustments topics sit beside the metrics topic:
        `<prefix>.reports`, `<prefix>.adjustments`."""
        if isinstance(data, dict) and isinstance(data.get("metrics"), str):
            prefix, dot, _ = data["metrics"].rpartition(".")
            if dot:
                beside = {k: f"{prefix}.{k}" for k in ("reports", "adjustments") if k not in data}
                return {**data, **beside}
        return data


class PulsarSink(BaseModel):
    """Status and alert events forwarded to Apache Pulsar, keyed by slo_id."""

    model_config = ConfigDict(extra="forbid")

    service_url: str = Field(pattern=r"^pulsar(\+ssl)?://\S+$", description="e.g. pulsar://pulsar:6650")
    status_topic: str = Field("persistent://public/default/slo-status", min_length=1, max_length=500)
    alerts_topic: str = Field("persistent://public/default/slo-alerts", min_length=1, max_length=500)
    send_timeout_s: float = Field(10.0, gt=0, le=300)


class AlertmanagerSink(BaseModel):
    """Alert events pushed to Alertmanager's v2 API (firing, then resolved with endsAt)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://\S+$", description="Alertmanager base URL, e.g. http://alertmanager:9093")
    resend_interval_s: float = Field(
        60.0, gt=0, le=3600, description="Active alerts are re-sent this often (Alertmanager expires silent ones)."
    )
    timeout_s: float = Field(5.0, gt=0, le=120)
    generator_url: str = Field("", max_length=2000, description="Link shown with each alert (e.g. the API).")


class Sinks(BaseModel):
    """Where alert and status events go besides Kafka's status topic.

    The Kafka alerts topic is the durable outbox: Pulsar and Alertmanager are fed
    from it by forwarders that commit only what was delivered, so a sink that is
    down stalls nothing and loses nothing."""

    model_config = ConfigDict(extra="forbid")

    kafka_alerts: bool = Field(True, description="Publish alert events on topics.alerts.")
    pulsar: PulsarSink | None = None
    alertmanager: AlertmanagerSink | None = None
    retry_initial_s: float = Field(0.2, gt=0, le=60, description="First retry delay of a failed delivery.")
    retry_max_s: float = Field(30.0, gt=0, le=3600, description="Longest delay between retries (doubling).")

    @model_validator(mode="after")
    def _outbox(self) -> Sinks:
        if not self.kafka_alerts and (self.pulsar is not None or self.alertmanager is not None):
            raise ValueError("the pulsar and alertmanager sinks read the Kafka alerts topic: keep kafka_alerts on")
        return self


class Topology(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("slo-engine", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    topics: Topics = Topics()
    partitions: int = Field(8, ge=1, le=1024, description="Partitions of the metrics topic.")
    replication_factor: int = Field(1, ge=1, le=7)
    timer_interval_s: float = Field(10.0, gt=0, le=3600, description="Wall-clock re-evaluation period.")
    max_skew_s: float = Field(300.0, ge=0, le=86_400, description="How far ahead a timestamp may lie.")
    dedup_horizon_s: float = Field(
        3600.0,
        ge=0,
        le=7 * 86_400,
        description=(
            "An event_id accepted for an SLO is refused again (duplicate_event) for this long; 0 turns "
            "dedup off (each id is kept, in memory and in the changelog, for the horizon)."
        ),
    )
    coalesce_ms: float = Field(
        2.0, ge=0, le=50, description="Longest a status event may wait to be merged with later ones."
    )
    report_delay_s: float = Field(
        300.0,
        ge=0,
        le=7 * 86_400,
        description="How long after a calendar month or quarter ends its closed report is published on "
        "topics.reports (events of the period arriving later are in the live report API only).",
    )
    sinks: Sinks = Sinks()
    slos: list[SLO] = Field(default_factory=list)
    adjustments: list[AdjustmentDefinition] = Field(default_factory=list)


def parse_topology(document: Any) -> Topology:
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise InvalidDefinition("topology", "expected a mapping")
    slos = parse_slos({"slos": document.get("slos", [])})
    adjustments = parse_adjustments(document)
    rest = {k: v for k, v in document.items() if k not in ("slos", "adjustments")}
    try:
        topology = Topology.model_validate(rest)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidDefinition(field_path("topology", first["loc"]), first["msg"]) from exc
    return topology.model_copy(update={"slos": slos, "adjustments": adjustments})


def load_topology(path: Path | None = None) -> Topology:
    return parse_topology(read_yaml(path or DEFAULT_TOPOLOGY))
