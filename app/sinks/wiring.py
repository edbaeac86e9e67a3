"""Which forwarders a topology asks for, built and run beside the worker's pipeline."""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from app.errors import MissingExtra
from app.sinks.alertmanager_sink import AlertmanagerForwarding
from app.sinks.backoff import Backoff
from app.sinks.forwarder import Forwarder
from app.stream.metrics import WorkerMetrics
from app.stream.settings import WorkerSettings
from app.topology import Topology

if TYPE_CHECKING:
    from app.sinks.pulsar_sink import PulsarForwarding


@dataclass
class SinkSet:
    forwarders: list[Forwarder] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    resending: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        for forwarder in self.forwarders:
            await forwarder.start()
        for closer in self.closers:
            if isinstance(closer, AlertmanagerForwarding):
                self.resending.append(closer.start_resending())

    def tasks(self) -> list[asyncio.Task[None]]:
        """The sinks' running tasks: the worker stops (non-zero) if one of them crashes."""
        return [t for t in (f.task for f in self.forwarders) if t is not None] + self.resending

    async def stop(self) -> None:
        for forwarder in self.forwarders:
            await forwarder.stop()
        for closer in self.closers:
            await closer.close()


class _GroupSettings(TypedDict):
    """A forwarder's consumer-group settings: the worker's own."""

    client_id: str
    fetch_max_wait_ms: int
    session_timeout_ms: int
    heartbeat_interval_ms: int


def _pulsar_forwarding() -> type[PulsarForwarding]:
    """The Pulsar sink, imported only when a topology configures it: pulsar-client is the
    optional extra `pulsar`."""
    try:
        importlib.import_module("pulsar")
    except ImportError as exc:
        raise MissingExtra("sinks.pulsar (topology)", "pulsar-client", "pulsar") from exc
    from app.sinks.pulsar_sink import PulsarForwarding

    return PulsarForwarding


def build_sinks(topology: Topology, bootstrap: str, metrics: WorkerMetrics, settings: WorkerSettings) -> SinkSet:
    sinks = topology.sinks
    group: _GroupSettings = {
        "client_id": settings.worker_id,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
    }
    topics = topology.topics
    pulsar_forwarding = _pulsar_forwarding() if sinks.pulsar is not None else None  # before any client exists
    out = SinkSet()

    def backoff() -> Backoff:
        return Backoff(sinks.retry_initial_s, sinks.retry_max_s)

    if sinks.alertmanager is not None:
        am = AlertmanagerForwarding(sinks.alertmanager, bootstrap, metrics)
        out.closers.append(am)
        out.forwarders.append(
            Forwarder(
                "alertmanager",
                bootstrap,
                f"{topology.name}.sink.alertmanager",
                [topics.alerts],
                am,
                backoff(),
                metrics,
                **group,
                on_assign=am.on_assign,
                on_revoke=am.on_revoke,
            )
        )
    if sinks.pulsar is not None and pulsar_forwarding is not None:
        pulsar = pulsar_forwarding(sinks.pulsar, topics.status, topics.alerts, metrics.sink_invalid.labels("pulsar"))
        out.closers.append(pulsar)
        out.forwarders.append(
            Forwarder(
                "pulsar",
                bootstrap,
                f"{topology.name}.sink.pulsar",
                [topics.status, topics.alerts],
                pulsar,
                backoff(),
                metrics,
                **group,
            )
        )
    return out
