"""Worker settings: environment variables, overridable by command-line flags.

| variable | default | meaning |
|---|---|---|
| KAFKA_BOOTSTRAP_SERVERS | (unset) | join this cluster; unset = start the embedded broker |
| SLO_TOPOLOGY | topologies/default.yaml | topology file |
| SLO_KAFKA_START_TIMEOUT_MS | 15000 | how long the worker waits for Kafka at start before it exits |
| SLO_FETCH_MAX_WAIT_MS | 5 | longest a fetch waits for data (latency vs idle CPU) |
| SLO_SESSION_TIMEOUT_MS | 10000 | group session (stock Kafka: >= 6000); 2000 = fast failover |
| SLO_HEARTBEAT_INTERVAL_MS | 1000 | group heartbeat, well below the session (200 with 2000) |
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

from pydantic import BaseModel, Field


class WorkerSettings(BaseModel):
    bootstrap: str | None = None
    topology_path: Path | None = None
    kafka_start_timeout_ms: int = Field(15_000, ge=100, le=600_000)
    fetch_max_wait_ms: int = Field(5, ge=0, le=10_000)
    # Defaults a stock Kafka accepts (group.min.session.timeout.ms is 6000 there); faster
    # failover (2000 / 200) is an opt-in where the broker allows it (README, Scaling).
    session_timeout_ms: int = Field(10_000, ge=500, le=300_000)
    heartbeat_interval_ms: int = Field(1_000, ge=50, le=60_000)
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
        for key, field in (
            ("KAFKA_BOOTSTRAP_SERVERS", "bootstrap"),
            ("SLO_TOPOLOGY", "topology_path"),
            ("SLO_KAFKA_START_TIMEOUT_MS", "kafka_start_timeout_ms"),
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
            if env.get(key):
                values[field] = env[key]
        return cls.model_validate(values)
