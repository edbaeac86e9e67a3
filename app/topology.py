"""The declarative topology a worker loads: topics, timing, and SLO definitions.

A topology file is YAML:

    name: slo-engine            # consumer group id and changelog prefix
    topics: {metrics: slo.metrics, status: slo.status, ...}
    partitions: 8
    timer_interval_s: 10
    slos: [...]                  # initial definitions (GitOps source)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.definitions import field_path, parse_slos, read_yaml
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


class Topology(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("slo-engine", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    topics: Topics = Topics()
    partitions: int = Field(8, ge=1, le=1024, description="Partitions of the metrics topic.")
    replication_factor: int = Field(1, ge=1, le=7)
    timer_interval_s: float = Field(10.0, gt=0, le=3600, description="Wall-clock re-evaluation period.")
    max_skew_s: float = Field(300.0, ge=0, le=86_400, description="How far ahead a timestamp may lie.")
    coalesce_ms: float = Field(
        2.0, ge=0, le=50, description="Longest a status event may wait to be merged with later ones."
    )
    slos: list[SLO] = Field(default_factory=list)


def parse_topology(document: Any) -> Topology:
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise InvalidDefinition("topology", "expected a mapping")
    slos = parse_slos({"slos": document.get("slos", [])})
    rest = {k: v for k, v in document.items() if k != "slos"}
    try:
        topology = Topology.model_validate(rest)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidDefinition(field_path("topology", first["loc"]), first["msg"]) from exc
    return topology.model_copy(update={"slos": slos})


def load_topology(path: Path | None = None) -> Topology:
    return parse_topology(read_yaml(path or DEFAULT_TOPOLOGY))
