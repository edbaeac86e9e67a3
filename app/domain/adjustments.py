"""Budget adjustment definitions (maintenance windows, corrections) as the API, the
topology file, SLOS.yaml and the adjustments topic carry them.

`{adjustment_id, description, start, end | duration, rrule?, slo_ids?, service_name?}`:
RFC 3339 times; `duration` like `2h`, `90m`, `1h30m`; `rrule` an RFC 5545 RRULE,
bounded (app/core/adjustments: at least hourly, with a COUNT or an UNTIL). A bad
value is a validation error located at its field (a 422 naming it on the API).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.core.adjustments import Adjustment, BadAdjustment, check_rrule, parse_duration_us
from app.core.calendar import to_us
from app.domain.models import Name, SloId


class AdjustmentDefinition(BaseModel):
    """A time range of event time whose events count in no good/total of the SLOs named."""

    model_config = ConfigDict(extra="forbid")

    adjustment_id: SloId
    description: str = Field(default="", max_length=2000)
    start: AwareDatetime = Field(description="Start of the (first) range, RFC 3339 with an offset.")
    end: AwareDatetime | None = Field(default=None, description="End of a one-off range (exclusive); or duration.")
    duration: str | None = Field(
        default=None,
        validate_default=True,
        max_length=40,
        description="Length of each range, e.g. 2h, 90m, 1h30m (s, m, h, d, w).",
    )
    rrule: str | None = Field(
        default=None,
        max_length=500,
        description="RFC 5545 RRULE repeating the range from start (with duration): FREQ no finer than HOURLY, "
        "and a COUNT or an UNTIL, e.g. FREQ=WEEKLY;BYDAY=SU;COUNT=52.",
    )
    slo_ids: list[SloId] = Field(default_factory=list, max_length=1000, description="The SLOs it applies to.")
    service_name: Name | None = Field(
        default=None, validate_default=True, description="Or/and: every SLO of this service."
    )

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if end is not None and start is not None and end <= start:
            raise ValueError("end must be after start")
        return end

    # Fields validate in order (start, end, duration, rrule, slo_ids, service_name); the checks
    # across fields sit on the later field, validated even when absent, so the error names it.
    @field_validator("duration")
    @classmethod
    def _duration(cls, duration: str | None, info: ValidationInfo) -> str | None:
        if duration is not None:
            _reason(lambda: parse_duration_us(duration))
            if info.data.get("end") is not None:
                raise ValueError("give an end or a duration, not both")
        elif "end" in info.data and info.data["end"] is None:
            raise ValueError("give an end or a duration")
        return duration

    @field_validator("rrule")
    @classmethod
    def _rrule(cls, rule: str | None, info: ValidationInfo) -> str | None:
        start = info.data.get("start")
        if rule is not None and start is not None:
            _reason(lambda: check_rrule(rule, to_us(start)))
            if info.data.get("end") is not None:
                raise ValueError("a recurring adjustment takes a duration, not an end")
        return rule

    @field_validator("service_name")
    @classmethod
    def _applies_to_something(cls, service_name: str | None, info: ValidationInfo) -> str | None:
        if service_name is None and info.data.get("slo_ids") == []:
            raise ValueError("give slo_ids or service_name (the SLOs the adjustment applies to)")
        return service_name

    def to_core(self) -> Adjustment:
        start_us = to_us(self.start)
        if self.end is not None:
            duration_us = to_us(self.end) - start_us
        else:
            assert self.duration is not None  # _duration: one of end, duration
            duration_us = parse_duration_us(self.duration)
        return Adjustment(
            adjustment_id=self.adjustment_id,
            start_us=start_us,
            duration_us=duration_us,
            rrule=self.rrule,
            slo_ids=frozenset(self.slo_ids),
            service_name=self.service_name,
            description=self.description,
        )


def _reason(check: Any) -> None:
    """A core refusal as the validation error pydantic locates at the field."""
    try:
        check()
    except BadAdjustment as exc:
        raise ValueError(exc.reason) from None
