"""Pydantic models of the service spec: SLO definitions and rules, status, error budget, history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.core.alerts import STALE_RULE
from app.core.budget import BudgetRatio, burn_rate, period_budget
from app.core.calendar import EPOCH
from app.core.policy import BUDGET_RULE_PREFIX, DEFAULT_POLICY, BudgetThreshold, budget_rule_name
from app.core.promql import CounterSli
from app.core.rules import DEFAULT_RULES, BurnRateRule
from app.core.status import StatusThresholds
from app.core.windows import WINDOW_NAMES
from app.domain.enums import Severity, SLOStatus, SLOType, TimePeriod
from app.domain.sli import SLI_QUERY_PATTERN, SliSpec, check_sli_query, counter_sli

SloId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Unique id; letters, digits and . _ : - (it is a Kafka key and a URL segment).",
    ),
]
WindowName = Literal["5m", "30m", "1h", "2h", "6h", "24h", "3d", "7d", "30d", "90d"]
assert set(WindowName.__args__) == set(WINDOW_NAMES)  # type: ignore[attr-defined]
# A rule's long window: every window but the shortest, which nothing is shorter than.
LongWindowName = Literal["30m", "1h", "2h", "6h", "24h", "3d", "7d", "30d", "90d"]
assert tuple(LongWindowName.__args__) == WINDOW_NAMES[1:]  # type: ignore[attr-defined]


def _json_number(v: object) -> object:
    """A number as JSON Schema has it: not a boolean, not a numeric string (pydantic's lax
    mode would convert both, accepting what the published schema refuses)."""
    if isinstance(v, bool | str):
        raise ValueError("must be a number")
    return v


# The number fields of the definitions: what their JSON Schema says is what is accepted.
JsonNumber = BeforeValidator(_json_number)
# Patterns use only ASCII classes: JSON Schema's regexes (ECMA-262) and pydantic's (Rust) differ
# on what \s and \d match beyond ASCII, and the schema must mean what validation does.
Name = Annotated[
    str, Field(pattern=r"[^\x00-\x20\x7f]", description="Not blank: some character besides ASCII spaces and controls.")
]


def _shorter_windows(long_key: str, short_key: str, optional: bool) -> dict[str, Any]:
    """JSON Schema: `short_key` names a window shorter than `long_key`'s (null allowed if optional)."""
    branches = []
    for i, long in enumerate(WINDOW_NAMES[1:], 1):
        shorter: dict[str, Any] = {"enum": list(WINDOW_NAMES[:i])}
        if optional:
            shorter = {"anyOf": [shorter, {"type": "null"}]}
        branches.append({"properties": {long_key: {"const": long}, short_key: shorter}})
    return {"anyOf": branches}


def _rule_spec_schema(schema: dict[str, Any]) -> None:
    schema["description"] = (
        f"{schema.get('description', '')} The short window is shorter than the long one; "
        "exactly one of budget_fraction and burn_rate_threshold is a number."
    ).strip()
    schema["allOf"] = [
        _shorter_windows("long_window", "short_window", optional=False),
        {
            "oneOf": [
                {"required": [name], "properties": {name: {"type": "number"}}}
                for name in ("budget_fraction", "burn_rate_threshold")
            ]
        },
    ]


class RuleSpec(BaseModel):
    """A multiwindow burn-rate rule. Give `budget_fraction` (threshold derived from
    the period, as the default policy does) or an explicit `burn_rate_threshold`."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_rule_spec_schema)

    severity: Severity
    long_window: LongWindowName
    short_window: WindowName
    budget_fraction: Annotated[float | None, JsonNumber] = Field(default=None, gt=0, le=1)
    burn_rate_threshold: Annotated[float | None, JsonNumber] = Field(default=None, gt=0, le=1e6)

    @model_validator(mode="after")
    def _one_threshold(self) -> RuleSpec:
        if (self.budget_fraction is None) == (self.burn_rate_threshold is None):
            raise ValueError("set exactly one of budget_fraction and burn_rate_threshold")
        if WINDOW_NAMES.index(self.short_window) >= WINDOW_NAMES.index(self.long_window):
            raise ValueError("short_window must be shorter than long_window")
        return self

    def to_core(self) -> BurnRateRule:
        return BurnRateRule(
            self.severity,
            self.long_window,
            self.short_window,
            budget_fraction=self.budget_fraction,
            burn_rate_threshold=self.burn_rate_threshold,
        )


# Alertmanager refuses an alert whose label or annotation names are not Prometheus label names.
LABEL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
LabelName = Annotated[str, Field(pattern=LABEL_NAME_PATTERN, max_length=100)]
RESERVED_LABELS = frozenset({"alertname", "slo_id", "service", "rule", "severity"})

# About long / 12, the nearest window (on a log scale) that is shorter.
DEFAULT_SHORT_WINDOW: dict[str, str] = {
    "30m": "5m",
    "1h": "5m",
    "2h": "5m",
    "6h": "30m",
    "24h": "2h",
    "3d": "6h",
    "7d": "24h",
    "30d": "3d",
    "90d": "7d",
}
assert tuple(DEFAULT_SHORT_WINDOW) == WINDOW_NAMES[1:]


def _alert_rule_schema(schema: dict[str, Any]) -> None:
    schema["allOf"] = [_shorter_windows("time_window", "short_window", optional=True)]
    for name in ("labels", "annotations"):  # every key is a label name (pydantic states it as patternProperties)
        keys = schema["properties"][name].setdefault("propertyNames", {})
        keys["pattern"] = LABEL_NAME_PATTERN
    schema["properties"]["labels"]["propertyNames"]["not"] = {"enum": sorted(RESERVED_LABELS)}


class AlertRule(BaseModel):
    """A custom burn-rate alert rule, added to an SLO's policy through the API."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_alert_rule_schema)

    rule_id: str | None = Field(
        default=None,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description=f"Assigned from the windows and threshold when omitted. Not starting with "
        f"`{BUDGET_RULE_PREFIX}` (the error-budget policy's rules are named so).",
        json_schema_extra={"not": {"type": "string", "pattern": f"^{BUDGET_RULE_PREFIX}"}},
    )
    burn_rate_threshold: Annotated[float, JsonNumber] = Field(gt=0, le=1e6)
    time_window: LongWindowName = Field(description="The long window.")
    short_window: WindowName | None = Field(
        default=None,
        validate_default=True,
        description="Shorter than time_window. Default: about time_window / 12 "
        + ", ".join(f"{k}: {v}" for k, v in DEFAULT_SHORT_WINDOW.items())
        + ".",
    )
    severity: Severity
    labels: dict[LabelName, str] = Field(
        default_factory=dict,
        max_length=20,
        description="Added to the alert's labels (Prometheus label names; not "
        + ", ".join(sorted(RESERVED_LABELS))
        + ": the engine sets those).",
    )
    annotations: dict[LabelName, str] = Field(default_factory=dict, max_length=20)
    runbook_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://[^\x00-\x20\x7f\[\]]+$",
        description="http(s), without ASCII spaces or control characters; [ and ] percent-encoded "
        "(no IPv6 literal host).",
    )

    @field_validator("short_window")
    @classmethod
    def _short_window(cls, v: str | None, info: ValidationInfo) -> str | None:
        """Defaulted from, and shorter than, time_window (the 422 names short_window)."""
        long = info.data.get("time_window")
        if long is None:
            return v  # time_window is invalid itself: its own error says so
        if v is None:
            return DEFAULT_SHORT_WINDOW[long]
        if WINDOW_NAMES.index(v) >= WINDOW_NAMES.index(long):
            raise ValueError("short_window must be shorter than time_window")
        return v

    @field_validator("rule_id")
    @classmethod
    def _not_budget(cls, v: str | None) -> str | None:
        if v is not None and v.startswith(BUDGET_RULE_PREFIX):
            raise ValueError(f"rule ids starting with {BUDGET_RULE_PREFIX!r} are the error-budget policy's")
        return v

    @field_validator("labels")
    @classmethod
    def _not_reserved(cls, v: dict[str, str]) -> dict[str, str]:
        taken = sorted(RESERVED_LABELS & v.keys())
        if taken:
            raise ValueError(f"labels {taken} are set by the engine")
        return v

    @model_validator(mode="after")
    def _rule_id(self) -> AlertRule:
        if self.rule_id is None:
            threshold = f"{self.burn_rate_threshold:g}".replace("+", "")  # 1e+06 -> 1e06: a valid id
            self.rule_id = f"custom-{self.time_window}-{self.short_window}-{threshold}"
        return self

    def to_core(self) -> BurnRateRule:
        assert self.short_window is not None and self.rule_id is not None
        return BurnRateRule(
            self.severity,
            self.time_window,
            self.short_window,
            burn_rate_threshold=self.burn_rate_threshold,
            name=self.rule_id,
        )


DEFAULT_ACTIONS: dict[float, str] = {
    0.5: "half of the error budget is spent: review recent changes and put reliability work first in planning",
    0.8: "80% of the error budget is spent: slow down risky releases; reliability work takes priority",
    1.0: "the error budget is spent: freeze feature releases (reliability fixes only) until it recovers",
}
assert tuple(DEFAULT_ACTIONS) == tuple(t.threshold for t in DEFAULT_POLICY)


class BudgetPolicyThreshold(BaseModel):
    """One threshold of an error-budget policy: when the period's consumed budget first
    reaches it, the budget alert `budget-<percent>` fires with this severity and action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: Annotated[float, JsonNumber] = Field(
        gt=0, le=10, description="Fraction of the period's error budget consumed, in (0, 10]: 0.8 = 80%."
    )
    severity: Severity
    action: str = Field(
        min_length=1,
        max_length=500,
        pattern=r"[^\x00-\x20\x7f]",
        description="What to do, for a person: in the alert event and the status event's recommendations.",
    )

    @field_validator("threshold")
    @classmethod
    def _finite(cls, v: float) -> float:
        if v != v:
            raise ValueError("must be a number")
        return v

    @property
    def name(self) -> str:
        return budget_rule_name(self.threshold)

    def to_core(self) -> BudgetThreshold:
        return BudgetThreshold(self.threshold, self.severity)


DEFAULT_BUDGET_POLICY: tuple[BudgetPolicyThreshold, ...] = tuple(
    BudgetPolicyThreshold(threshold=t.threshold, severity=t.severity, action=DEFAULT_ACTIONS[t.threshold])
    for t in DEFAULT_POLICY
)


DUPLICATE_RULE = "duplicate_rule_name"  # the error type the API answers 409 for


class SLO(BaseModel):
    """An SLO definition."""

    model_config = ConfigDict(extra="forbid")

    slo_id: SloId
    slo_name: Name = Field(min_length=1, max_length=200)
    service_name: Name = Field(min_length=1, max_length=100)
    slo_type: SLOType
    target_percentage: Annotated[float, JsonNumber] = Field(gt=0, lt=100, description="Objective, percent in (0, 100).")
    time_period: TimePeriod
    sli_query: str = Field(
        default="",
        max_length=4000,
        description="The SLI as PromQL, read by the Prometheus bridge: sum(rate(GOOD[w])) / sum(rate(TOTAL[w])) or "
        "1 - sum(rate(BAD[w])) / sum(rate(TOTAL[w])) (also increase(...) or a plain sum(SELECTOR)); any other "
        "query is refused. Empty: producers publish the counts. OpenSLO import records other sources' ratio "
        "metrics here as `good|bad (...): ...` lines.",
        json_schema_extra={"pattern": SLI_QUERY_PATTERN},
    )
    sli: SliSpec | None = Field(
        default=None, description="The SLI as Prometheus counters (takes precedence over sli_query for the bridge)."
    )
    description: str = Field(default="", max_length=2000)
    enabled: bool = Field(default=True, strict=True)
    critical_budget_ratio: Annotated[float, JsonNumber] = Field(
        default=0.10, ge=0, le=1, description="CRITICAL below this much budget remaining."
    )
    warning_budget_ratio: Annotated[float, JsonNumber] = Field(
        default=0.25,
        ge=0,
        le=1,
        description="WARNING below this much budget remaining (when it is not above critical_budget_ratio: "
        "otherwise only a firing ticket rule makes an SLO WARNING).",
    )
    burn_rate_rules: list[RuleSpec] | None = Field(
        default=None, max_length=32, description="Replaces the default policy when given."
    )
    min_short_window_events: Annotated[int, JsonNumber] = Field(
        default=10,
        ge=0,
        le=1_000_000_000,
        description="Low-traffic guard: a rule fires only if its short window holds at least this many events.",
    )
    alert_rules: list[AlertRule] = Field(
        default_factory=list,
        max_length=32,
        description="Custom rules, evaluated besides the policy. Rule names (policy rules are named "
        "<severity>-<long>-<short>, custom ones by rule_id, SLIDataStale is reserved) are unique in an SLO: "
        "a name used twice is a conflict (the API answers 409).",
    )
    budget_policy: list[BudgetPolicyThreshold] | None = Field(
        default=None,
        max_length=16,
        description="Error-budget policy: thresholds on the period's consumed budget, each alerting as rule "
        "`budget-<percent>` (unique thresholds; kept sorted). Null: the default policy, "
        + "; ".join(f"{t.threshold:g} {t.severity.value} '{t.action}'" for t in DEFAULT_BUDGET_POLICY)
        + ". An empty list: no budget alerts.",
    )
    no_data_alert_after_s: Annotated[int, JsonNumber] = Field(
        default=600,
        ge=0,
        le=90 * 86_400,
        description="SLIDataStale fires when no event arrived for this long (0 disables).",
    )

    _sli_query = field_validator("sli_query")(check_sli_query)

    @field_validator("target_percentage")
    @classmethod
    def _finite(cls, v: float) -> float:
        # gt/lt already exclude inf; NaN compares false with both and must be refused too.
        if v != v:
            raise ValueError("must be a number")
        return v

    @field_validator("budget_policy")
    @classmethod
    def _thresholds_unique(cls, v: list[BudgetPolicyThreshold] | None) -> list[BudgetPolicyThreshold] | None:
        if v is None:
            return v
        names = [t.name for t in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # a rule name used twice: a conflict (409) like any other, which no schema can state
            raise PydanticCustomError(
                DUPLICATE_RULE,
                "budget_policy: thresholds must be unique; {name} is given twice",
                {"name": twice[0]},
            )
        return sorted(v, key=lambda t: t.threshold)

    @model_validator(mode="after")
    def _rule_names_unique(self) -> SLO:
        """Alerts are kept and identified by rule name: two rules must not share one."""
        names = [r.name for r in self.rules()] + [t.name for t in self.policy()] + [STALE_RULE]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise PydanticCustomError(
                    DUPLICATE_RULE,
                    "rule name '{name}' is used twice (policy, alert_rules and SLIDataStale)",
                    {"name": name},
                )
            seen.add(name)
        return self

    def rules(self) -> tuple[BurnRateRule, ...]:
        policy = DEFAULT_RULES if self.burn_rate_rules is None else tuple(r.to_core() for r in self.burn_rate_rules)
        return policy + tuple(r.to_core() for r in self.alert_rules)

    def policy(self) -> tuple[BudgetPolicyThreshold, ...]:
        """The error-budget policy in force: the SLO's own, or the default one."""
        return DEFAULT_BUDGET_POLICY if self.budget_policy is None else tuple(self.budget_policy)

    def budget_action(self, rule: str) -> str | None:
        """The action text of a budget rule of the policy in force (None: no such rule)."""
        return next((t.action for t in self.policy() if t.name == rule), None)

    def thresholds(self) -> StatusThresholds:
        return StatusThresholds(self.critical_budget_ratio, self.warning_budget_ratio)

    def counter_sli(self) -> CounterSli | None:
        """The Prometheus counters of the SLI (None: producers publish the counts)."""
        return counter_sli(self.sli, self.sli_query)


class FiringAlert(BaseModel):
    name: str
    severity: Severity
    long_window: WindowName
    short_window: WindowName
    threshold: float
    burn_rate_long: float
    burn_rate_short: float


class BudgetAlert(BaseModel):
    """An error-budget policy threshold the period's consumed budget has reached."""

    name: str = Field(description="budget-<percent>, e.g. budget-80.")
    severity: Severity
    threshold: float = Field(description="Fraction of the period's budget consumed that fires it.")
    action: str


class SLOStatusReport(BaseModel):
    """The spec's `SLOStatus` model (renamed in Python: `SLOStatus` is the enum)."""

    model_config = ConfigDict(title="SLOStatus")

    slo_id: str
    slo_name: str
    service_name: str
    current_sli: float | None = Field(description="Percent good over the SLO period; null = no data.")
    target_sli: float
    status: SLOStatus
    error_budget_remaining: float = Field(description="Fraction of the budget left; may go negative.")
    error_budget_consumed: float = Field(description="Fraction of the budget spent; may exceed 1.")
    burn_rate: float = Field(description="Headline burn rate: the 1h window's.")
    burn_rates: dict[str, float]
    time_to_exhaustion_seconds: float | None
    time_to_exhaustion: str | None
    projected_exhaustion: datetime | None
    total_budget: float = Field(description="Allowed bad events in the period.")
    consumed_budget: int = Field(description="Bad events in the period.")
    remaining_budget: float
    firing_alerts: list[FiringAlert] = Field(description="The burn-rate rules firing.")
    budget_alerts: list[BudgetAlert] = Field(
        default_factory=list, description="The error-budget policy's thresholds reached, lowest first."
    )
    last_updated: datetime
    excluded_good: int = Field(default=0, description="Good events in the period excluded by budget adjustments.")
    excluded_total: int = Field(default=0, description="Events in the period excluded by budget adjustments.")


class ErrorBudget(BaseModel):
    slo_id: str
    time_period: TimePeriod
    period_start: datetime
    total_budget: float
    consumed_budget: int
    remaining_budget: float
    error_budget_remaining: float
    error_budget_consumed: float
    burn_rate_1h: float
    burn_rate_24h: float
    time_to_exhaustion_seconds: float | None
    projected_exhaustion: datetime | None
    last_updated: datetime
    excluded_good: int = Field(default=0, description="Good events in the period excluded by budget adjustments.")
    excluded_total: int = Field(default=0, description="Events in the period excluded by budget adjustments.")


class SLIMetric(BaseModel):
    """One history point: the counts of a bucket and the SLI they give."""

    slo_id: str
    timestamp: datetime = Field(description="End of the interval the point covers.")
    interval_seconds: int
    good_events: int
    total_events: int
    sli_value: float | None = Field(description="Percent good in the interval; null without events.")
    is_good: bool | None = Field(
        default=None,
        description="sli_value >= the SLO's target_percentage; null when sli_value is null (no events: "
        "neither good nor bad).",
    )
    error_budget_consumed: float | None = Field(
        default=None,
        description="bad / ((1 - target) * total) of the interval: the share of its own budget it spent "
        "(0 without events, as for a period).",
    )
    burn_rate: float | None = Field(
        default=None,
        description="(bad / total) / (1 - target) of the interval (0 without events, as for a window).",
    )

    @classmethod
    def of(
        cls, slo_id: str, end_us: int, interval_s: int, good: int, total: int, target_percentage: float | None = None
    ) -> SLIMetric:
        sli = 100.0 * good / total if total else None
        point = cls(
            slo_id=slo_id,
            timestamp=EPOCH + timedelta(microseconds=end_us),
            interval_seconds=interval_s,
            good_events=good,
            total_events=total,
            sli_value=sli,
        )
        return point if target_percentage is None else point.judged(target_percentage)

    def judged(self, target_percentage: float) -> SLIMetric:
        """This point with `is_good`, `error_budget_consumed` and `burn_rate` against the SLO's target."""
        budget_ratio = BudgetRatio.of(target_percentage)
        good, total = self.good_events, self.total_events
        return self.model_copy(
            update={
                "is_good": None if self.sli_value is None else self.sli_value >= target_percentage,
                "error_budget_consumed": period_budget(good, total, budget_ratio).consumed_ratio,
                "burn_rate": burn_rate(good, total, budget_ratio),
            }
        )
