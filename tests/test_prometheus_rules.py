"""`python -m app export prometheus-rules`, checked and unit-tested by the real promtool
(Debian's prometheus package; .ci/run installs it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.promtool import page_alert_test, promtool_test

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
ROOT = Path(__file__).resolve().parent.parent
AT = "2026-11-23T10:00:00Z"


def export(tmp_path: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "app", "export", "prometheus-rules", "--at", AT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    path = tmp_path / "rules.yml"
    path.write_text(result.stdout)
    return path


def test_promtool_accepts_the_export(tmp_path: Path) -> None:
    rules = export(tmp_path)
    check = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    groups = yaml.safe_load(rules.read_text())["groups"]
    alerts = [r for r in groups[1]["rules"] if r["alert"] == "SLOBurnRateHigh"]
    # default topology: 3 SLOs x 4 default rules (all apply to 30d, a 30-day month and 7d periods)
    assert len(alerts) == 12
    thresholds = sorted(
        {
            float(a["expr"].split(" > ")[1].split(")")[0])
            for a in alerts
            if a["labels"]["slo_id"] == "checkout-availability"
        }
    )
    assert thresholds == [1.0, 3.0, 6.0, 14.4]


def test_fast_burn_pages_and_slow_burn_does_not(tmp_path: Path) -> None:
    rules = export(tmp_path)
    series = 'slo_burn_rate{{slo_id="checkout-availability",service="checkout",window="{w}",instance="w1"}}'
    assert PROMTOOL is not None
    annotations = {
        "summary": "Checkout availability: error budget burning 1h/5m above 14.4x",
        "description": (
            "SLO checkout-availability (99.9% over ROLLING_30D) burns its error budget "
            "faster than 14.4x in both the 1h and 5m windows."
        ),
    }
    test = {
        "input_series": [
            {"series": series.format(w="1h"), "values": "20x10"},
            {"series": series.format(w="5m"), "values": "20x10"},
            {"series": series.format(w="6h"), "values": "2x10"},
            {"series": series.format(w="30m"), "values": "20x10"},
        ],
        "alert_rule_test": [page_alert_test("5m", annotations)],
    }
    promtool_test(PROMTOOL, tmp_path, rules, "1m", test)
