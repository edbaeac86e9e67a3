"""Enumerations of the service spec."""

from __future__ import annotations

from enum import StrEnum

from app.core.enums import AlertState, RejectReason, Severity, SLOStatus, TimePeriod

__all__ = ["AlertState", "RejectReason", "SLOStatus", "SLOType", "Severity", "TimePeriod"]


class SLOType(StrEnum):
    AVAILABILITY = "AVAILABILITY"
    LATENCY = "LATENCY"
    THROUGHPUT = "THROUGHPUT"
    ERROR_RATE = "ERROR_RATE"
    CUSTOM = "CUSTOM"
