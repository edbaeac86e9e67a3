"""The messages the worker publishes, each typed once: status events and alert events.

The same Struct encodes (worker, replay) and decodes (sinks, `tail-status`, tests);
their JSON Schemas, generated from them, are the contract published in
docs/asyncapi.yaml. Structs rather than pydantic models: building and encoding
one per SLO touched per batch is the hot path (benchmarks/status_event_bench.py).
`event_type` is the tag: a decoder of `StatusEvent | AlertEvent` tells them apart.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from app.core.enums import RejectReason
from app.domain.enums import AlertState, Severity, SLOStatus, SLOType
from app.domain.models import WindowName

Instant = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z$",
        description="An instant, RFC 3339 in UTC with a `Z`: whole seconds, or microseconds when not whole.",
        extra_json_schema={"format": "date-time"},
    ),
]
# The service spec's duration text (app/domain/views.exhaustion_text writes it).
DURATION_TEXT_RULE = (
    "Whole minutes (rounded down) written as the largest non-zero unit of d, h, m and, when it is not zero, "
    "the unit right below it: '3d 4h', '3d', '12h', '1h 5m', '45m'. Under one minute, including an exhausted "
    "budget, it is '0m'. Null when the budget is not running out."
)
DURATION_TEXT_PATTERN = r"^([0-9]+d( [0-9]+h)?|[0-9]+h( [0-9]+m)?|[0-9]+m)$"
DurationText = Annotated[str, msgspec.Meta(pattern=DURATION_TEXT_PATTERN)]
Ratio = Annotated[float, msgspec.Meta(description="A fraction (1 = all of the budget).")]
Count = Annotated[int, msgspec.Meta(ge=0)]

# gc=False: these hold only strings, numbers and flat containers of them, never a
# reference cycle, so the collector need not track the thousands built per second.


# Built positionally on the hot path (app/domain/views.status_update): ~3x cheaper than
# keywords in msgspec; the field order is part of the code's contract, not of the wire's.
class StatusUpdate(msgspec.Struct, gc=False):
    """An SLO's figures at one evaluation (the contract: docs/semantics.md)."""

    slo_id: str
    slo_name: str
    service_name: str
    slo_type: SLOType
    target_percentage: Annotated[float, msgspec.Meta(gt=0, lt=100, description="The objective, in percent.")]
    current_sli: Annotated[
        float | None, msgspec.Meta(description="Percent of good events in the SLO period; null without data.")
    ]
    good_events: Annotated[Count, msgspec.Meta(description="Good events in the SLO period.")]
    total_events: Annotated[Count, msgspec.Meta(description="Events in the SLO period.")]
    status: SLOStatus
    error_budget_remaining: Annotated[
        float, msgspec.Meta(description="Fraction of the period's error budget left; negative once overspent.")
    ]
    error_budget_consumed: Annotated[
        float, msgspec.Meta(description="Fraction of the period's error budget spent; above 1 once overspent.")
    ]
    burn_rate: Annotated[float, msgspec.Meta(ge=0, description="The headline burn rate: the 1h window's.")]
    burn_rates: Annotated[dict[WindowName, float], msgspec.Meta(description="Burn rate of every rolling window.")]
    time_to_exhaustion: Annotated[DurationText | None, msgspec.Meta(description=DURATION_TEXT_RULE)]
    time_to_exhaustion_seconds: Annotated[
        Annotated[float, msgspec.Meta(ge=0)] | None,
        msgspec.Meta(
            description="Seconds until the budget is spent at the 1h burn rate; 0 when it is spent, "
            "null when nothing is burning or no budget is left to burn.",
        ),
    ]
    alert_triggered: Annotated[
        bool, msgspec.Meta(description="Some rule is firing (burn rate, error-budget policy or SLIDataStale).")
    ]
    firing_alerts: Annotated[
        list[str],
        msgspec.Meta(description="Names of the rules firing: burn-rate rules, budget-* thresholds, then SLIDataStale."),
    ]
    recommendations: Annotated[list[str], msgspec.Meta(description="Concrete advice; empty when all is well.")]


class StatusEvent(msgspec.Struct, tag_field="event_type", tag="slo_status_updated", gc=False):
    """Published on the status topic (key = slo_id) for every SLO a batch of input touched,
    and by the timer when an SLO's status or firing rules changed."""

    event_id: Annotated[
        str, msgspec.Meta(description="`<slo_id>:<sequence>`: the same after a republish, to drop duplicates by.")
    ]
    timestamp: Annotated[
        Instant,
        msgspec.Meta(
            description="The worker's wall clock when it processed the batch (replay: its simulated clock, "
            "the evaluation instant).",
        ),
    ]
    sequence: Annotated[
        int, msgspec.Meta(ge=1, description="Per SLO, strictly increasing from 1; a consumer drops what it saw.")
    ]
    evaluated_at: Annotated[
        Instant,
        msgspec.Meta(
            description="The instant the windows were evaluated at: the wall clock, or a later event time "
            "when an event was stamped ahead of it (within max_skew_s).",
        ),
    ]
    slo_status_update: StatusUpdate


class AlertEvent(msgspec.Struct, kw_only=True, tag_field="event_type", tag="slo_alert", gc=False):
    """Published on the alerts topic (key = slo_id) when a rule's episode opens (firing) and
    when it closes (resolved): one of each per episode. A resolved event keeps the identity
    (alert_id, names, service, rule, severity, labels, episode) of its firing event."""

    event_id: Annotated[str, msgspec.Meta(description="`<alert_id>:<episode>:<state>`: the same after a republish.")]
    alert_id: Annotated[
        str,
        msgspec.Meta(pattern="^[0-9a-f]{16}$", description="Fingerprint of (slo_id, rule), stable across episodes."),
    ]
    episode: Annotated[int, msgspec.Meta(ge=1, description="The rule's episode number, from 1.")]
    timestamp: Annotated[
        Instant,
        msgspec.Meta(
            description="The evaluation that made the transition (the resolution's for a resolved event).",
        ),
    ]
    slo_id: str
    slo_name: str
    service_name: str
    rule: Annotated[
        str,
        msgspec.Meta(
            description="`<severity>-<long>-<short>`, a custom rule's rule_id, `budget-<percent>` (an error-budget "
            "policy threshold, e.g. budget-80), or SLIDataStale."
        ),
    ]
    severity: Severity
    long_window: Annotated[WindowName | None, msgspec.Meta(description="Null for budget-* and SLIDataStale.")]
    short_window: Annotated[WindowName | None, msgspec.Meta(description="Null for budget-* and SLIDataStale.")]
    threshold: Annotated[
        Annotated[float, msgspec.Meta(gt=0)] | None,
        msgspec.Meta(
            description="Burn-rate threshold; for budget-* the fraction of the period's budget consumed that "
            "fires it (0.8 for budget-80); null for SLIDataStale."
        ),
    ]
    burn_rate_long: float | None
    burn_rate_short: float | None
    error_budget_remaining: Ratio
    error_budget_consumed: Annotated[
        Ratio | None,
        msgspec.Meta(
            description="Fraction of the period's budget spent at the evaluation (null only in events "
            "from before this field)."
        ),
    ] = None
    action: Annotated[
        str | None,
        msgspec.Meta(description="budget-*: the policy's action text for the threshold; null for other rules."),
    ] = None
    state: AlertState
    started_at: Annotated[Instant, msgspec.Meta(description="When the episode opened.")]
    resolved_at: Annotated[
        Instant | None,
        msgspec.Meta(description="When the episode closed; null while firing."),
    ]
    labels: Annotated[dict[str, str], msgspec.Meta(description="The rule's custom labels.")]
    annotations: Annotated[
        dict[str, str], msgspec.Meta(description="summary, description, the rule's own annotations and runbook_url.")
    ]


PeriodKind = Literal["month", "quarter"]
PeriodText = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-([0-9]{2}|Q[1-4])$", description="2026-11 or 2026-Q4.")]
ReportStatusText = Literal["met", "at_risk", "failed", "no_data"]
Percent = Annotated[float | None, msgspec.Meta(description="A percentage; null without data.")]


class SloReportEvent(msgspec.Struct, kw_only=True, tag_field="event_type", tag="slo_report", gc=False):
    """Published on the reports topic (key = slo_id) by the SLO's owner once a calendar month or
    quarter has closed (`report_delay_s` after its end): the SLO's row of the closed report,
    the figures of `python -m app report --period <period>` (docs/semantics.md, Reports)."""

    event_id: Annotated[str, msgspec.Meta(description="`<slo_id>:<period>`: the same if it is ever published again.")]
    period: PeriodText
    period_kind: PeriodKind
    from_: Instant = msgspec.field(name="from")
    to: Annotated[Instant, msgspec.Meta(description="The period's end (exclusive).")]
    at: Annotated[Instant, msgspec.Meta(description="The evaluation instant (after `to`: the report is closed).")]
    partition: Annotated[int, msgspec.Meta(ge=0, description="The SLO's partition (of the metrics topic).")]
    partition_slos: Annotated[
        int, msgspec.Meta(ge=1, description="How many SLOs of that partition the period's reports cover.")
    ]
    slo_id: str
    slo_name: str
    service_name: str
    good: Count
    total: Count
    sli: Percent
    target: float
    status: ReportStatusText
    error_budget_consumed: Ratio
    budget_minutes: float
    consumed_minutes: float
    worst_burn_rate_1h: float | None
    alert_minutes: Count
    pages: Count
    tickets: Count
    excluded_good: Count = 0  # events in the period that budget adjustments exclude
    excluded_total: Count = 0


class ReportRollupEvent(msgspec.Struct, kw_only=True, tag_field="event_type", tag="slo_report_rollup", gc=False):
    """Published on the reports topic (key = the service name, `*` for all SLOs) once every SLO
    it covers has its SloReportEvent for the period: their good and total summed and the
    count of SLOs per status (the rollups of `python -m app report`)."""

    event_id: Annotated[str, msgspec.Meta(description="`rollup:<service or *>:<period>`.")]
    period: PeriodText
    period_kind: PeriodKind
    from_: Instant = msgspec.field(name="from")
    to: Instant
    at: Annotated[Instant, msgspec.Meta(description="The latest evaluation instant of the SLOs' reports.")]
    scope: Literal["service", "all"]
    service_name: Annotated[str | None, msgspec.Meta(description="Null for the rollup of all SLOs.")]
    slo_ids: list[str]
    good: Count
    total: Count
    sli: Percent
    met: Count
    at_risk: Count
    failed: Count
    no_data: Count
    compliance_percentage: Annotated[
        float | None, msgspec.Meta(description="100 * met / (met + at_risk + failed); null if none.")
    ]


Digits = Annotated[str, msgspec.Meta(pattern="^[0-9]+$")]


class DeadLetterHeaders(msgspec.Struct, kw_only=True, gc=False):
    """The headers of a record on the dead-letter topic, UTF-8 text: why the record was not
    applied and where it came from. Its key and value are the rejected record's, unchanged."""

    reason: RejectReason = msgspec.field(name="dlq.reason")
    detail: Annotated[str, msgspec.Meta(description="What is wrong, for a person (at most 1000 bytes).")] = (
        msgspec.field(name="dlq.detail")
    )
    field: Annotated[str, msgspec.Meta(description="The field at fault; empty when none is.")] = msgspec.field(
        name="dlq.field"
    )
    source_topic: str = msgspec.field(name="dlq.source.topic")
    source_partition: Digits = msgspec.field(name="dlq.source.partition")
    source_offset: Digits = msgspec.field(name="dlq.source.offset")


STATUS_DECODER = msgspec.json.Decoder(StatusEvent)
ALERT_DECODER = msgspec.json.Decoder(AlertEvent)
OUTPUT_DECODER = msgspec.json.Decoder(StatusEvent | AlertEvent)  # the status and alerts topics, either
REPORTS_DECODER = msgspec.json.Decoder(SloReportEvent | ReportRollupEvent)  # the reports topic
