"""The Grafana dashboard (deploy/grafana/slo-engine.json) and its provisioning.

No Grafana here: the dashboard is checked structurally, every query is checked
against what the worker really exports (its metrics registry) and the recording
rules the app exports, and parsed as PromQL by promtool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from app.core.rules import DEFAULT_RULES
from app.core.windows import WINDOW_NAMES
from app.domain.models import SLO
from tests.deploy.helpers import (
    COMPOSE_TOPOLOGY,
    PROMTOOL,
    ROOT,
    compose,
    export_rules,
    exported_metric_names,
    load_yaml,
    promql_metric_names,
    recording_rule_names,
    run_tool,
)

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "slo-engine.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "slo-engine.yml"
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s", "__all"}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def targets() -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in panels(dashboard()):
        for target in panel.get("targets", []):
            yield panel["title"], target


def variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard()["templating"]["list"]}


def provisioned_datasource() -> dict[str, Any]:
    (source,) = load_yaml(DATASOURCES)["datasources"]
    assert isinstance(source, dict)
    return source


def used_variables(text: str) -> set[str]:
    return {braced or bare for braced, bare in re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", text)}


def label_values_selector(definition: str) -> str:
    """The series selector of `label_values(<selector>, <label>)`."""
    match = re.fullmatch(r"label_values\((.+),\s*\w+\)", definition.strip())
    assert match, f"not a label_values() query: {definition}"
    return match.group(1)


def as_promql(expr: str) -> str:
    """A query with Grafana's variables replaced by what they could expand to."""
    expr = re.sub(r"\$\{?__(rate_)?interval\}?|\$\{?__range\}?", "5m", expr)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


# -- structure -----------------------------------------------------------------------
def test_dashboard_identity() -> None:
    board = dashboard()
    assert board["uid"] == "slo-engine"
    assert board["title"]
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert "id" not in board or board["id"] is None, "a provisioned dashboard carries no database id"


def test_panel_ids_are_unique_and_panels_fit_the_grid() -> None:
    ids = [p["id"] for p in panels(dashboard())]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard()):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_every_panel_has_a_query_with_unique_ref_ids() -> None:
    for panel in panels(dashboard()):
        if panel["type"] == "row":
            continue
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]


def test_the_dashboard_shows_what_the_issue_asks() -> None:
    exprs = " ".join(t["expr"] for _, t in targets())
    for metric in (
        "slo_sli_ratio",  # SLI vs objective
        "slo_objective_ratio",
        "slo_error_budget_remaining_ratio",  # budget remaining
        "slo_burn_rate",  # burn rate per window
        "slo_alert_firing",  # firing alerts
        "slo_status",  # status counts
        "slo_worker_consumer_lag_records",  # worker health
        "slo_worker_events_rejected_total",
        "slo_worker_processing_latency_seconds_bucket",
    ):
        assert metric in exprs, f"no panel shows {metric}"


# -- queries -------------------------------------------------------------------------
def test_queries_name_only_metrics_the_worker_exports() -> None:
    known = exported_metric_names() | recording_rule_names(export_rules(COMPOSE_TOPOLOGY))
    for title, target in targets():
        unknown = promql_metric_names(target["expr"]) - known
        assert not unknown, f"{title!r} queries {sorted(unknown)}, which nothing exports"
    for name, variable in variables().items():
        if variable["type"] == "query":
            unknown = promql_metric_names(label_values_selector(variable["definition"])) - known
            assert not unknown, f"variable {name} queries {sorted(unknown)}"


def test_the_metric_name_extractor() -> None:
    assert promql_metric_names(
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{job=~"$job"}[$__rate_interval])))'
    ) == {"a_bucket"}
    assert promql_metric_names("count by (status) (max by (slo_id, status) (s{x='y'}) == 1) > bool 2") == {"s"}
    assert promql_metric_names('a / on (x) group_left (y) b{z="}"} * 1e3 offset 5m + slo:c:max') == {
        "a",
        "b",
        "slo:c:max",
    }


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
def test_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every query (as a recording rule), variables expanded."""
    assert PROMTOOL is not None
    rules = [
        {"record": f"dashboard:query_{i}:check", "expr": as_promql(target["expr"])}
        for i, (_, target) in enumerate(targets())
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_tool(PROMTOOL, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_variables_used_are_defined() -> None:
    defined = set(variables()) | BUILTIN_VARIABLES
    board_text = json.dumps(dashboard()["panels"]) + json.dumps(dashboard()["templating"])
    undefined = used_variables(board_text) - defined
    assert not undefined, f"undefined template variables: {sorted(undefined)}"


def test_window_variable_offers_the_engines_windows() -> None:
    window = variables()["window"]
    assert window["query"].split(",") == list(WINDOW_NAMES)
    assert set(window["current"]["value"]) <= set(WINDOW_NAMES)


def test_slo_variables_chain() -> None:
    assert "$service" in variables()["slo_id"]["definition"]
    for name in ("service", "slo_id"):
        assert variables()[name]["includeAll"] and variables()[name]["multi"]


# -- data source ---------------------------------------------------------------------
def test_queries_use_the_provisioned_datasource() -> None:
    source = provisioned_datasource()
    selector = variables()["datasource"]
    assert selector["type"] == "datasource" and selector["query"] == source["type"] == "prometheus"
    assert selector["current"]["value"] == source["uid"], "the dashboard must open on the provisioned source"
    allowed = {"${datasource}", source["uid"]}
    for panel in panels(dashboard()):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in allowed, panel["title"]
        assert panel["datasource"]["type"] == "prometheus", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in allowed, panel["title"]
    for variable in variables().values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] in allowed


def test_provisioned_datasource_is_the_compose_prometheus() -> None:
    source = provisioned_datasource()
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose()["services"]
    assert source["access"] == "proxy" and source["isDefault"]


def test_dashboard_provider_loads_the_mounted_dashboard() -> None:
    (provider,) = load_yaml(PROVIDERS)["providers"]
    assert provider["type"] == "file"
    grafana = compose()["services"]["grafana"]
    mounts = {spec.split(":")[1]: spec.split(":")[0] for spec in grafana["volumes"]}
    directory = PurePosixPath(provider["options"]["path"])
    dashboards = {target: source for target, source in mounts.items() if PurePosixPath(target).parent == directory}
    assert {(ROOT / source).resolve() for source in dashboards.values()} == {DASHBOARD}
    assert mounts["/etc/grafana/provisioning/dashboards"] == "./deploy/grafana/provisioning/dashboards"
    assert mounts["/etc/grafana/provisioning/datasources"] == "./deploy/grafana/provisioning/datasources"


# -- thresholds follow the engine ------------------------------------------------------
def steps(panel_title: str) -> dict[float, str]:
    panel = next(p for p in panels(dashboard()) if p["title"] == panel_title)
    return {
        s["value"]: s["color"]
        for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        if s["value"] is not None
    }


def test_budget_colours_follow_the_status_thresholds() -> None:
    defaults = SLO.model_fields
    critical = defaults["critical_budget_ratio"].default
    warning = defaults["warning_budget_ratio"].default
    for title in ("Error budget remaining", "Error budget remaining over time"):
        assert steps(title) == {0: "orange", critical: "yellow", warning: "green"}, title


def test_burn_rate_lines_are_the_default_policys_thresholds() -> None:
    thirty_days_us = 30 * 86_400 * 1_000_000
    thresholds = {round(rule.threshold(thirty_days_us), 6) for rule in DEFAULT_RULES}
    assert set(steps("Burn rate per window")) == thresholds
