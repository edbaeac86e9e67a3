"""SLO definition validation: every invalid field is named in InvalidDefinition.field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from app.core.windows import WINDOW_NAMES
from app.definitions import load_slos, parse_slo, parse_slos
from app.domain.enums import Severity, SLOType, TimePeriod
from app.domain.models import DEFAULT_SHORT_WINDOW, DUPLICATE_RULE, SLO, AlertRule, RuleSpec
from app.errors import InvalidDefinition
from tests.slo_fields import checkout_fields

valid = checkout_fields


def doc(*slos: dict[str, Any]) -> dict[str, Any]:
    return {"slos": list(slos)}


def field_of(document: Any) -> str:
    with pytest.raises(InvalidDefinition) as info:
        parse_slos(document)
    return info.value.field


def test_valid_definition_and_defaults() -> None:
    [slo] = parse_slos(doc(valid()))
    assert slo.slo_id == "checkout-availability"
    assert slo.slo_type is SLOType.AVAILABILITY
    assert slo.time_period is TimePeriod.ROLLING_30D
    assert slo.target_percentage == 99.9
    assert slo.enabled is True
    assert (slo.critical_budget_ratio, slo.warning_budget_ratio) == (0.10, 0.25)
    assert slo.burn_rate_rules is None
    assert [(r.severity, r.long_window, r.short_window, r.budget_fraction) for r in slo.rules()] == [
        (Severity.PAGE, "1h", "5m", 0.02),
        (Severity.PAGE, "6h", "30m", 0.05),
        (Severity.TICKET, "24h", "2h", 0.10),
        (Severity.TICKET, "3d", "6h", 0.10),
    ]


@pytest.mark.parametrize("period", [p.value for p in TimePeriod])
@pytest.mark.parametrize("slo_type", [t.value for t in SLOType])
def test_every_period_and_type_is_accepted(period: str, slo_type: str) -> None:
    [slo] = parse_slos(doc(valid(time_period=period, slo_type=slo_type)))
    assert (slo.time_period.value, slo.slo_type.value) == (period, slo_type)


@pytest.mark.parametrize("slo_id", ["a", "A9", "checkout.availability:v2_eu-west-1", "x" * 100, "9lives"])
def test_valid_slo_ids(slo_id: str) -> None:
    assert parse_slos(doc(valid(slo_id=slo_id)))[0].slo_id == slo_id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slo_id": "x" * 101}, "slo_id"),
        ({"slo_id": ""}, "slo_id"),
        ({"slo_id": "has space"}, "slo_id"),
        ({"slo_id": "slash/id"}, "slo_id"),
        ({"slo_id": "-leading-dash"}, "slo_id"),
        ({"slo_id": "ünïcode"}, "slo_id"),
        ({"slo_id": 42}, "slo_id"),
        ({"slo_name": "n" * 201}, "slo_name"),
        ({"slo_name": ""}, "slo_name"),
        ({"service_name": "s" * 101}, "service_name"),
        ({"service_name": ""}, "service_name"),
        ({"target_percentage": 0}, "target_percentage"),
        ({"target_percentage": 0.0}, "target_percentage"),
        ({"target_percentage": 100}, "target_percentage"),
        ({"target_percentage": 100.5}, "target_percentage"),
        ({"target_percentage": -1}, "target_percentage"),
        ({"target_percentage": float("nan")}, "target_percentage"),
        ({"target_percentage": float("inf")}, "target_percentage"),
        ({"target_percentage": "high"}, "target_percentage"),
        ({"target_percentage": None}, "target_percentage"),
        ({"target_percentage": True}, "target_percentage"),  # JSON Schema: a boolean is not a number
        ({"target_percentage": "99.9"}, "target_percentage"),  # nor is a numeric string
        ({"enabled": 1}, "enabled"),
        ({"enabled": "yes"}, "enabled"),
        ({"min_short_window_events": True}, "min_short_window_events"),
        ({"no_data_alert_after_s": "600"}, "no_data_alert_after_s"),
        ({"critical_budget_ratio": False}, "critical_budget_ratio"),
        ({"slo_name": "   "}, "slo_name"),
        ({"service_name": "\t"}, "service_name"),
        ({"time_period": "ROLLING_2D"}, "time_period"),
        ({"time_period": "rolling_30d"}, "time_period"),
        ({"slo_type": "SATURATION"}, "slo_type"),
        ({"sli_query": "q" * 4001}, "sli_query"),
        ({"description": "d" * 2001}, "description"),
        ({"critical_budget_ratio": 1.5}, "critical_budget_ratio"),
        ({"warning_budget_ratio": -0.1}, "warning_budget_ratio"),
        ({"burn_rate_rules": "none"}, "burn_rate_rules"),
        ({"owner": "team-a"}, "owner"),  # unknown field
    ],
)
def test_invalid_field_is_named(change: dict[str, Any], field: str) -> None:
    # the bad SLO is the second one, so the index must be 1
    assert field_of(doc(valid(slo_id="first"), valid(**change))) == f"slos[1].{field}"


@pytest.mark.parametrize(
    "missing", ["slo_id", "slo_name", "service_name", "slo_type", "target_percentage", "time_period"]
)
def test_missing_required_field_is_named(missing: str) -> None:
    slo = valid()
    del slo[missing]
    assert field_of(doc(slo)) == f"slos[0].{missing}"


def test_duplicate_slo_id() -> None:
    with pytest.raises(InvalidDefinition) as info:
        parse_slos(doc(valid(), valid(slo_name="other"), valid(slo_id="b")))
    assert info.value.field == "slos[1].slo_id"
    assert info.value.slo_id == "checkout-availability"
    assert "duplicate" in info.value.reason


def test_critical_above_warning_is_accepted() -> None:
    # The levels are tried in order (CRITICAL first), so WARNING is then reached only through
    # a firing ticket rule: a definition the schema allows, and one that means something.
    [slo] = parse_slos(doc(valid(critical_budget_ratio=0.5, warning_budget_ratio=0.2)))
    assert (slo.thresholds().critical_remaining_ratio, slo.thresholds().warning_remaining_ratio) == (0.5, 0.2)


def test_a_rule_name_used_twice_is_a_conflict_the_api_can_tell_apart() -> None:
    rule = {"severity": "page", "long_window": "1h", "short_window": "5m", "budget_fraction": 0.1}
    custom = {"rule_id": "page-1h-5m", "burn_rate_threshold": 2, "time_window": "1h", "severity": "page"}
    for change in ({"burn_rate_rules": [rule, {**rule, "budget_fraction": 0.2}]}, {"alert_rules": [custom]}):
        with pytest.raises(ValidationError) as info:
            SLO.model_validate(valid(**change))
        [error] = info.value.errors()
        assert error["type"] == DUPLICATE_RULE
        assert "'page-1h-5m' is used twice" in error["msg"]


@pytest.mark.parametrize(("long", "short"), list(DEFAULT_SHORT_WINDOW.items()))
def test_every_long_window_has_a_default_short_window(long: str, short: str) -> None:
    rule = AlertRule.model_validate({"burn_rate_threshold": 2, "time_window": long, "severity": "ticket"})
    assert (rule.short_window, rule.rule_id) == (short, f"custom-{long}-{short}-2")
    assert WINDOW_NAMES.index(short) < WINDOW_NAMES.index(long)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (
            {"severity": "page", "long_window": "5m", "short_window": "1h", "budget_fraction": 0.1},
            "burn_rate_rules[0].long_window",  # nothing is shorter than 5m
        ),
        (
            {"severity": "page", "long_window": "1h", "short_window": "1h", "budget_fraction": 0.1},
            "burn_rate_rules[0]",
        ),
        ({"severity": "page", "long_window": "1h", "short_window": "5m"}, "burn_rate_rules[0]"),
        (
            {
                "severity": "page",
                "long_window": "1h",
                "short_window": "5m",
                "budget_fraction": 0.1,
                "burn_rate_threshold": 2,
            },
            "burn_rate_rules[0]",
        ),
        (
            {"severity": "page", "long_window": "90m", "short_window": "5m", "budget_fraction": 0.1},
            "burn_rate_rules[0].long_window",
        ),
        (
            {"severity": "urgent", "long_window": "1h", "short_window": "5m", "budget_fraction": 0.1},
            "burn_rate_rules[0].severity",
        ),
        (
            {"severity": "page", "long_window": "1h", "short_window": "5m", "budget_fraction": 0},
            "burn_rate_rules[0].budget_fraction",
        ),
        (
            {"severity": "page", "long_window": "1h", "short_window": "5m", "budget_fraction": 1.5},
            "burn_rate_rules[0].budget_fraction",
        ),
        (
            {"severity": "page", "long_window": "1h", "short_window": "5m", "burn_rate_threshold": -1},
            "burn_rate_rules[0].burn_rate_threshold",
        ),
        (
            {"severity": "page", "long_window": "1h", "short_window": "5m", "budget_fraction": 0.1, "x": 1},
            "burn_rate_rules[0].x",
        ),
    ],
)
def test_invalid_rule_is_named(rule: dict[str, Any], field: str) -> None:
    assert field_of(doc(valid(burn_rate_rules=[rule]))) == f"slos[0].{field}"


def test_custom_rules_replace_defaults() -> None:
    rules = [
        {"severity": "ticket", "long_window": "6h", "short_window": "30m", "burn_rate_threshold": 2.5},
        {"severity": "page", "long_window": "1h", "short_window": "5m", "budget_fraction": 0.05},
    ]
    [slo] = parse_slos(doc(valid(burn_rate_rules=rules)))
    core = slo.rules()
    assert [(r.severity, r.long_window, r.short_window, r.budget_fraction, r.burn_rate_threshold) for r in core] == [
        (Severity.TICKET, "6h", "30m", None, 2.5),
        (Severity.PAGE, "1h", "5m", 0.05, None),
    ]
    assert core[1].threshold(30 * 86_400_000_000) == pytest.approx(36.0, rel=1e-12)  # 0.05 * 720h / 1h


@pytest.mark.parametrize("document", [None, [], "slos", {"slo": []}, {"slos": None}, {"slos": {"a": 1}}])
def test_document_shape(document: Any) -> None:
    assert field_of(document) == "slos"


def test_item_not_a_mapping() -> None:
    assert field_of(doc(valid(slo_id="a"), "b")) == "slos[1]"


def test_empty_list_is_valid() -> None:
    assert parse_slos(doc()) == []


def test_parse_slo_single() -> None:
    assert parse_slo(valid()).slo_id == "checkout-availability"
    with pytest.raises(InvalidDefinition) as info:
        parse_slo(valid(target_percentage=100))
    assert info.value.field == "slo.target_percentage"
    assert info.value.slo_id == "checkout-availability"
    assert "checkout-availability" in str(info.value)
    assert "target_percentage" in str(info.value)


def test_strings_are_taken_as_written() -> None:
    # What the published schema says is what is accepted: no stripping that would let a
    # padded id (against its pattern) or an over-long name (against maxLength) through.
    assert field_of(doc(valid(slo_id="  padded  "))) == "slos[0].slo_id"
    [slo] = parse_slos(doc(valid(slo_name=" Name ")))
    assert slo.slo_name == " Name "


def test_load_slos_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text(
        "slos:\n"
        "  - slo_id: a\n    slo_name: A\n    service_name: s\n    slo_type: LATENCY\n"
        "    target_percentage: 99.5\n    time_period: CALENDAR_QUARTER\n    enabled: false\n"
        "  - slo_id: b\n    slo_name: B\n    service_name: s\n    slo_type: CUSTOM\n"
        "    target_percentage: 95\n    time_period: ROLLING_1H\n",
        encoding="utf-8",
    )
    a, b = load_slos(path)
    assert (a.slo_id, a.target_percentage, a.time_period, a.enabled) == (
        "a",
        99.5,
        TimePeriod.CALENDAR_QUARTER,
        False,
    )
    assert (b.slo_id, b.target_percentage, b.time_period, b.enabled) == (
        "b",
        95.0,
        TimePeriod.ROLLING_1H,
        True,
    )


def test_load_slos_json_is_yaml(tmp_path: Path) -> None:
    path = tmp_path / "slos.json"
    path.write_text(json.dumps(doc(valid())), encoding="utf-8")
    assert [s.slo_id for s in load_slos(path)] == ["checkout-availability"]


def test_load_slos_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidDefinition, match="cannot read"):
        load_slos(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("slos: [a, b\n", encoding="utf-8")
    with pytest.raises(InvalidDefinition, match="not valid YAML"):
        load_slos(bad)
    bad.write_text("slos:\n  - slo_id: a\n    target_percentage: 100\n", encoding="utf-8")
    with pytest.raises(InvalidDefinition) as info:
        load_slos(bad)
    assert info.value.field.startswith("slos[0].")


def test_load_slos_not_utf8_is_an_invalid_definition(tmp_path: Path) -> None:
    """A definitions file that is not UTF-8 text is refused like any unreadable or
    invalid file (InvalidDefinition), not with a UnicodeDecodeError."""
    path = tmp_path / "slos.yaml"
    path.write_bytes(b"slos:\n  - slo_id: \xff\xfe\n")
    with pytest.raises(InvalidDefinition):
        load_slos(path)


RULE = {"severity": "page", "long_window": "1h", "short_window": "5m"}
CUSTOM = {"burn_rate_threshold": 3.5, "time_window": "6h", "severity": "ticket"}


@pytest.mark.parametrize(
    ("model", "body", "ok"),
    [
        (RuleSpec, {**RULE, "budget_fraction": 0.1}, True),
        (RuleSpec, {**RULE, "burn_rate_threshold": 9, "budget_fraction": None}, True),
        (RuleSpec, {**RULE, "budget_fraction": 0.1, "burn_rate_threshold": 9}, False),
        (RuleSpec, {**RULE, "budget_fraction": None, "burn_rate_threshold": None}, False),
        (RuleSpec, RULE, False),
        (RuleSpec, {**RULE, "short_window": "1h", "budget_fraction": 0.1}, False),
        (RuleSpec, {**RULE, "short_window": "6h", "budget_fraction": 0.1}, False),
        (RuleSpec, {**RULE, "long_window": "5m", "budget_fraction": 0.1}, False),
        (RuleSpec, {**RULE, "budget_fraction": True}, False),
        (AlertRule, CUSTOM, True),
        (AlertRule, {**CUSTOM, "time_window": "30d"}, True),
        (AlertRule, {**CUSTOM, "time_window": "30m", "short_window": None}, True),
        (AlertRule, {**CUSTOM, "short_window": "1h"}, True),
        (AlertRule, {**CUSTOM, "short_window": "6h"}, False),
        (AlertRule, {**CUSTOM, "short_window": "7d"}, False),
        (AlertRule, {**CUSTOM, "time_window": "5m"}, False),
        (AlertRule, {**CUSTOM, "labels": {"team": "a"}, "annotations": {"runbook": "x"}}, True),
        (AlertRule, {**CUSTOM, "labels": {"severity": "a"}}, False),
        (AlertRule, {**CUSTOM, "labels": {"not-a-label": "a"}}, False),
        (AlertRule, {**CUSTOM, "annotations": {"not a label": "a"}}, False),
        (AlertRule, {**CUSTOM, "burn_rate_threshold": "3.5"}, False),
        (SLO, checkout_fields(), True),
        (SLO, checkout_fields(critical_budget_ratio=0.9, warning_budget_ratio=0.1), True),
        (SLO, checkout_fields(slo_name=" x "), True),
        (SLO, checkout_fields(slo_name=" "), False),
        (SLO, checkout_fields(enabled=0), False),
        (SLO, checkout_fields(no_data_alert_after_s=False), False),
        (SLO, checkout_fields(burn_rate_rules=[{**RULE, "burn_rate_threshold": 2}]), True),
        (SLO, checkout_fields(alert_rules=[CUSTOM, {**CUSTOM, "burn_rate_threshold": 4}]), True),
    ],
)
def test_the_json_schema_says_what_validation_enforces(model: type[BaseModel], body: dict[str, Any], ok: bool) -> None:
    """The published schema (OpenAPI, AsyncAPI) and the validation agree, both ways."""
    schema_says = jsonschema.Draft202012Validator(model.model_json_schema()).is_valid(body)
    try:
        model.model_validate_json(json.dumps(body))
        accepted = True
    except ValidationError:
        accepted = False
    assert (schema_says, accepted) == (ok, ok)
