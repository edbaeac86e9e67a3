"""The compose stack's Prometheus and Alertmanager configuration.

promtool (Debian's prometheus package) checks the config and the rule file it
loads; amtool (Debian's prometheus-alertmanager) checks Alertmanager's config and
its routing. The committed rule file must be what the app exports today.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.enums import Severity
from app.topology import load_topology
from tests.deploy.helpers import (
    AMTOOL,
    COMPOSE_TOPOLOGY,
    DEPLOY,
    K8S_TOPOLOGY,
    PROMTOOL,
    ROOT,
    compose,
    export_rules,
    load_yaml,
    run_tool,
)
from tests.promtool import page_alert_test, promtool_test

PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
RULES_YML = DEPLOY / "prometheus" / "slo-rules.yml"
ALERTMANAGER_YML = DEPLOY / "alertmanager" / "alertmanager.yml"

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool not installed (apt-get install prometheus-alertmanager)"
)


def without_comment_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def test_rule_file_is_the_current_export() -> None:
    committed = without_comment_header(RULES_YML.read_text())
    assert committed == export_rules(COMPOSE_TOPOLOGY), (
        "deploy/prometheus/slo-rules.yml is stale: run `python deploy/generate.py`"
    )


@pytest.mark.parametrize("topology", [COMPOSE_TOPOLOGY, K8S_TOPOLOGY], ids=["compose", "kubernetes"])
def test_exported_rules_do_not_depend_on_the_date(topology: Path) -> None:
    """The committed rules are exported without --at: right only while no SLO has
    a calendar period (whose thresholds follow the month's length)."""
    calendar = [s.slo_id for s in load_topology(topology).slos if s.time_period.is_calendar]
    assert not calendar, f"calendar-period SLOs {calendar}: use rolling periods in deploy topologies"
    february, july = (export_rules(topology, at) for at in ("2027-02-10T00:00:00Z", "2027-07-10T00:00:00Z"))
    assert february == july


@needs_promtool
def test_promtool_checks_the_config_and_its_rules() -> None:
    assert PROMTOOL is not None
    result = run_tool(PROMTOOL, "check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {RULES_YML}" in result.stdout or "slo-rules.yml" in result.stdout
    assert "rules found" in result.stdout  # promtool loaded and checked the rule file too


@needs_promtool
def test_the_rule_file_unit_test_folds_two_workers(tmp_path: Path) -> None:
    """The recording rules fold the two workers' series into one per SLO, and the
    page fires from the folded series (promtool test rules over the committed file)."""
    assert PROMTOOL is not None
    page = next(
        rule
        for group in load_yaml(RULES_YML)["groups"]
        for rule in group["rules"]
        if rule.get("labels", {}).get("rule") == "page-1h-5m" and rule["labels"]["slo_id"] == "checkout-availability"
    )
    series = 'slo_burn_rate{{slo_id="checkout-availability",service="checkout",window="{w}",instance="{i}"}}'
    assert PROMTOOL is not None
    test = {
        "input_series": [
            # worker-1 owned the SLO, then worker-2 took it over; around the
            # handover (2.5 to 5 minutes) both export it: the fold must not add.
            {"series": series.format(w="1h", i="worker-1:8080"), "values": "20x20 _x20"},
            {"series": series.format(w="5m", i="worker-1:8080"), "values": "20x20 _x20"},
            {"series": series.format(w="1h", i="worker-2:8080"), "values": "_x10 20x30"},
            {"series": series.format(w="5m", i="worker-2:8080"), "values": "_x10 20x30"},
        ],
        "promql_expr_test": [
            {
                "expr": 'slo:burn_rate:max{window="1h"}',
                "eval_time": "5m",
                "exp_samples": [
                    {
                        "labels": 'slo:burn_rate:max{slo_id="checkout-availability",service="checkout",window="1h"}',
                        "value": 20,
                    }
                ],
            }
        ],
        "alert_rule_test": [page_alert_test("5m", page["annotations"])],
    }
    promtool_test(PROMTOOL, tmp_path, RULES_YML, "15s", test)


def test_scrapes_both_workers_and_alerts_alertmanager() -> None:
    config = load_yaml(PROMETHEUS_YML)
    services = compose()["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    workers = sorted(name for name in services if name.startswith("worker-"))
    port = services["worker-1"]["environment"]["SLO_API_PORT"]
    job = jobs["slo-engine"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for static in job["static_configs"] for t in static["targets"]]
    assert sorted(targets) == [f"{name}:{port}" for name in workers]
    alertmanagers = [
        t for am in config["alerting"]["alertmanagers"] for static in am["static_configs"] for t in static["targets"]
    ]
    assert alertmanagers == ["alertmanager:9093"]
    assert "alertmanager" in services
    assert config["rule_files"] == ["slo-rules.yml"]  # resolved beside prometheus.yml, where compose mounts it


def test_scrape_interval_matches_grafanas_time_interval() -> None:
    interval = load_yaml(PROMETHEUS_YML)["global"]["scrape_interval"]
    datasource = load_yaml(ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    assert datasource["jsonData"]["timeInterval"] == interval


@needs_amtool
def test_amtool_checks_the_alertmanager_config() -> None:
    assert AMTOOL is not None
    result = run_tool(AMTOOL, "check-config", str(ALERTMANAGER_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_amtool
@pytest.mark.parametrize("severity", [s.value for s in Severity])
def test_every_severity_the_engine_uses_has_a_receiver(severity: str) -> None:
    """Severities come from the app (the exported rules' and the sink's labels)."""
    assert AMTOOL is not None
    result = run_tool(
        AMTOOL,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_YML}",
        "alertname=SLOBurnRateHigh",
        "slo_id=checkout-availability",
        f"severity={severity}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == severity
