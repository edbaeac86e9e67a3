"""Worker settings: environment variables (pydantic-settings), overridable by flags.

Every setting is one field below with its variable and its meaning; `python -m app
settings` prints the table the README shows (a test keeps the two equal).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import InvalidSetting
from app.stream.broker import DEFAULT_BROKER, BrokerKind


def _env(name: str) -> Any:
    """The environment variable a field is read from."""
    return AliasChoices(name)


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", env_ignore_empty=True)

    bootstrap: str | None = Field(
        None,
        validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS"),
        description="the cluster to join; unset: start the embedded broker",
        json_schema_extra={"flag": "--bootstrap", "default_text": "unset: embedded broker"},
    )
    embedded_broker: BrokerKind = Field(
        DEFAULT_BROKER,
        validation_alias=_env("SLO_EMBEDDED_BROKER"),
        description="the embedded broker when none is configured: `noida` or `tansu`",
        json_schema_extra={"default_text": "`noida`"},
    )
    topology_path: Path | None = Field(
        None,
        validation_alias=_env("SLO_TOPOLOGY"),
        description="topology file",
        json_schema_extra={"flag": "--topology", "default_text": "`topologies/default.yaml`"},
    )
    kafka_start_timeout_ms: int = Field(
        15_000,
        ge=100,
        le=600_000,
        validation_alias=_env("SLO_KAFKA_START_TIMEOUT_MS"),
        description="how long the worker waits for Kafka at start before it exits (code 2)",
    )
    fetch_max_wait_ms: int = Field(
        5,
        ge=0,
        le=10_000,
        validation_alias=_env("SLO_FETCH_MAX_WAIT_MS"),
        description="longest a fetch waits for data (latency vs idle CPU)",
    )
    # Defaults a stock Kafka accepts (group.min.session.timeout.ms is 6000 there); faster
    # failover (2000 / 200) is an opt-in where the broker allows it (README, Scaling).
    session_timeout_ms: int = Field(
        10_000,
        ge=500,
        le=300_000,
        validation_alias=_env("SLO_SESSION_TIMEOUT_MS"),
        description="group session; a stock Kafka refuses less than 6000 ([failover times](#scaling))",
        json_schema_extra={"default_text": "10000 (embedded broker: 2000)"},
    )
    heartbeat_interval_ms: int = Field(
        1_000,
        ge=50,
        le=60_000,
        validation_alias=_env("SLO_HEARTBEAT_INTERVAL_MS"),
        description="group heartbeat, well below the session",
        json_schema_extra={"default_text": "1000 (embedded broker: 200)"},
    )
    commit_interval_ms: int = Field(
        100,
        ge=0,
        le=60_000,
        validation_alias=_env("SLO_COMMIT_INTERVAL_MS"),
        description="how often processed input offsets are committed (0: after every batch)",
    )
    max_batch: int = Field(
        2000, ge=1, le=100_000, validation_alias=_env("SLO_MAX_BATCH"), description="most records processed per poll"
    )
    worker_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        validation_alias=_env("SLO_WORKER_ID"),
        description="client id, in logs and Kafka metadata",
        json_schema_extra={"default_text": "host-pid"},
    )
    redis_url: str | None = Field(
        None,
        validation_alias=_env("REDIS_URL"),
        description="Redis read model (needed for correct reads with several workers; the `redis` extra)",
    )
    api_host: str = Field("127.0.0.1", validation_alias=_env("SLO_API_HOST"), description="HTTP API bind address")
    api_port: int = Field(
        8080, ge=0, le=65535, validation_alias=_env("SLO_API_PORT"), description="HTTP API port; 0 disables the API"
    )
    api_token: str | None = Field(
        None, validation_alias=_env("SLO_API_TOKEN"), description="bearer token required by mutating endpoints"
    )
    rate_limit_per_s: float = Field(
        50.0,
        ge=0,
        le=100_000,
        validation_alias=_env("SLO_RATE_LIMIT_PER_S"),
        description="API requests per second per client (bearer token, else address) once its burst is spent; "
        "0 disables the limit (the UI, event streams and /metrics are exempt)",
    )
    rate_limit_burst: int = Field(
        200,
        ge=1,
        le=1_000_000,
        validation_alias=_env("SLO_RATE_LIMIT_BURST"),
        description="API requests a client may make at once before the per-second rate applies (429 past it)",
    )
    events_buffer: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        validation_alias=_env("SLO_EVENTS_BUFFER"),
        description="status and alert events kept for clients resuming an event stream (`Last-Event-ID`)",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: Any) -> WorkerSettings:
        """Settings from the environment (or `env`, a mapping of variables), then the
        command-line `flags` that were given (None = not given)."""
        given = {k: v for k, v in flags.items() if v is not None}
        try:
            if env is None:
                return cls(**given)  # pydantic-settings reads the process environment
            values: dict[str, Any] = {}
            for name, field in cls.model_fields.items():  # every field given: nothing from os.environ
                variable = variable_of(name)
                values[name] = env[variable] if env.get(variable) else field.get_default(call_default_factory=True)
            return cls(**(values | given))
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "settings"
            variable = variable_of(name) if name in cls.model_fields else name
            raise InvalidSetting(variable, f"{first['msg']} (got {first.get('input')!r})") from exc


def variable_of(field_name: str) -> str:
    alias = WorkerSettings.model_fields[field_name].validation_alias
    assert isinstance(alias, AliasChoices)
    return str(alias.choices[0])


def settings_table() -> str:
    """The markdown table of every setting (the README's): variable, flag, default, meaning."""
    rows = ["| variable | flag | default | meaning |", "|---|---|---|---|"]
    for name, field in WorkerSettings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        flag = f"`{extra['flag']}`" if "flag" in extra else ""
        default = extra.get("default_text", "unset" if field.default is None else field.default)
        rows.append(f"| `{variable_of(name)}` | {flag} | {default} | {field.description} |")
    return "\n".join(rows) + "\n"
