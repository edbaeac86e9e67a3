"""Worker settings: environment variables, overridable by command-line flags.

| variable | default | meaning |
|---|---|---|
| KAFKA_BOOTSTRAP_SERVERS | (unset) | join this cluster; unset = start the embedded broker |
| SLO_EMBEDDED_BROKER | noida | which embedded broker: noida (noida-db) or tansu (app/stream/broker.py) |
| SLO_TOPOLOGY | topologies/default.yaml | topology file |
| SLO_FETCH_MAX_WAIT_MS | 5 | longest a fetch waits for data (latency vs idle CPU) |
| SLO_SESSION_TIMEOUT_MS | 2000 | group session: a dead worker's partitions move after ~1.5x this |
| SLO_HEARTBEAT_INTERVAL_MS | 200 | group heartbeat |
| SLO_MAX_BATCH | 2000 | most records processed per poll |
| SLO_WORKER_ID | host-pid | client id, in logs and Kafka metadata |
| REDIS_URL | (unset) | Redis read model, so any worker answers for every SLO |
| SLO_API_HOST | 127.0.0.1 | HTTP API bind address |
| SLO_API_PORT | 8080 | HTTP API port; 0 disables the API |
| SLO_API_TOKEN | (unset) | bearer token required by mutating endpoints |
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from app.errors import UsageError
from app.stream.broker import DEFAULT_BROKER, BrokerKind


class WorkerSettings(BaseModel):
    bootstrap: str | None = None
    embedded_broker: BrokerKind = DEFAULT_BROKER
    topology_path: Path | None = None
    fetch_max_wait_ms: int = Field(5, ge=0, le=10_000)
    session_timeout_ms: int = Field(2000, ge=500, le=300_000)
    heartbeat_interval_ms: int = Field(200, ge=50, le=60_000)
    max_batch: int = Field(2000, ge=1, le=100_000)
    worker_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    redis_url: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=0, le=65535)
    api_token: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WorkerSettings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        names: dict[str, str] = {}
        for key, field in (
            ("KAFKA_BOOTSTRAP_SERVERS", "bootstrap"),
            ("SLO_EMBEDDED_BROKER", "embedded_broker"),
            ("SLO_TOPOLOGY", "topology_path"),
            ("SLO_FETCH_MAX_WAIT_MS", "fetch_max_wait_ms"),
            ("SLO_SESSION_TIMEOUT_MS", "session_timeout_ms"),
            ("SLO_HEARTBEAT_INTERVAL_MS", "heartbeat_interval_ms"),
            ("SLO_MAX_BATCH", "max_batch"),
            ("SLO_WORKER_ID", "worker_id"),
            ("REDIS_URL", "redis_url"),
            ("SLO_API_HOST", "api_host"),
            ("SLO_API_PORT", "api_port"),
            ("SLO_API_TOKEN", "api_token"),
        ):
            names[field] = key
            if env.get(key):
                values[field] = env[key]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = str(error["loc"][0]) if error["loc"] else ""
            raise UsageError(names.get(field, field), f"{error['msg']} (got {values.get(field)!r})") from None
