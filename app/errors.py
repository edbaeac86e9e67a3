"""The project's one error root. Every error carries the data that explains it."""

from __future__ import annotations


class SloEngineError(Exception):
    """Root of every error this package raises on purpose."""


class InvalidDefinition(SloEngineError):
    """An SLO definition was refused; `field` names the part at fault."""

    def __init__(self, field: str, reason: str, slo_id: str | None = None) -> None:
        self.field = field
        self.reason = reason
        self.slo_id = slo_id
        where = f"SLO {slo_id!r}: " if slo_id else ""
        super().__init__(f"{where}{field}: {reason}")


class RejectedEvent(SloEngineError):
    """An SLI event was not applied. `reason` is a stable code (see RejectReason)."""

    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.field = field
        super().__init__(f"{reason}: {detail}")


class UsageError(SloEngineError):
    """Arguments or files a command cannot work with."""

    def __init__(self, argument: str, reason: str) -> None:
        self.argument = argument
        self.reason = reason
        super().__init__(f"{argument}: {reason}")


class Unavailable(SloEngineError):
    """A dependency (Kafka, Redis) did not answer in time; the request may be retried."""

    def __init__(self, dependency: str, reason: str) -> None:
        self.dependency = dependency
        self.reason = reason
        super().__init__(f"{dependency} unavailable: {reason}")


class DeliveryFailed(SloEngineError):
    """A sink (Alertmanager, Pulsar) did not take a delivery; the forwarder retries it."""

    def __init__(self, sink: str, reason: str) -> None:
        self.sink = sink
        self.reason = reason
        super().__init__(f"delivery to {sink} failed: {reason}")


class MissingExtra(SloEngineError):
    """A configured feature needs an optional package that is not installed."""

    def __init__(self, setting: str, package: str, extra: str) -> None:
        self.setting = setting
        self.package = package
        self.extra = extra
        super().__init__(
            f"{setting} is configured but the {package!r} package is not installed: pip install 'slo-engine[{extra}]'"
        )


class SettingRefused(SloEngineError):
    """A dependency refused a setting's value (e.g. a session timeout the broker does not allow)."""

    def __init__(self, setting: str, value: str, by: str, reason: str) -> None:
        self.setting = setting
        self.value = value
        self.by = by
        self.reason = reason
        super().__init__(f"{setting}={value} refused by {by}: {reason}")


class TopicConflict(SloEngineError):
    """A topic exists with a partition count the worker cannot work with."""

    def __init__(self, topic: str, partitions: int, expected: int, reason: str) -> None:
        self.topic = topic
        self.partitions = partitions
        self.expected = expected
        self.reason = reason
        super().__init__(f"topic {topic!r} has {partitions} partitions, {expected} needed: {reason}")


class InvalidSetting(SloEngineError):
    """A setting (environment variable or flag) with a value the worker cannot use."""

    def __init__(self, variable: str, reason: str) -> None:
        self.variable = variable
        self.reason = reason
        super().__init__(f"{variable}: {reason}")
