"""`promtool test rules` from Python: both rule tests (the export, the deploy rules) use it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

CHECKOUT_PAGE_LABELS = {
    "severity": "page",
    "slo_id": "checkout-availability",
    "service": "checkout",
    "rule": "page-1h-5m",
}


def page_alert_test(eval_time: str, annotations: dict[str, str]) -> dict[str, Any]:
    """An alert_rule_test: SLOBurnRateHigh fires for checkout's page-1h-5m rule at eval_time."""
    return {
        "eval_time": eval_time,
        "alertname": "SLOBurnRateHigh",
        "exp_alerts": [{"exp_labels": CHECKOUT_PAGE_LABELS, "exp_annotations": annotations}],
    }


def promtool_test(promtool: str, tmp_path: Path, rule_file: Path, interval: str, test: dict[str, Any]) -> None:
    """Run one promtool rule test case over `rule_file`; fail with promtool's output."""
    spec = {"rule_files": [str(rule_file)], "evaluation_interval": interval, "tests": [{"interval": interval, **test}]}
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
