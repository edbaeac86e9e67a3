"""Prometheus recording and multiwindow burn-rate alerting rules over the worker's metrics.

For teams that want Prometheus to page too. Recording rules fold the series
of all workers into one per SLO (`max by` drops the `instance`/`pod` labels a
scrape adds; only the owning worker exports an SLO, so the max is its value):

    slo:burn_rate:max{slo_id, service, window}
    slo:error_budget_remaining:ratio{slo_id, service}

Alerting rules follow the SLO's policy (app/core/rules): a rule fires when
both its long and short window burn above its threshold. A calendar-month
SLO's thresholds depend on the month's length; they are computed for the
month of `now_us`, so re-export them monthly (or use a rolling period).
Pure: returns data; the CLI writes it as YAML.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.core.calendar import month_of, quarter_of, year_of
from app.core.windows import WINDOW_BY_NAME
from app.domain.enums import TimePeriod
from app.domain.models import SLO


def period_length_us(period: TimePeriod, now_us: int) -> int:
    rolling = period.rolling_window
    if rolling is not None:
        return WINDOW_BY_NAME[rolling].length_us
    calendars = {
        TimePeriod.CALENDAR_MONTH: month_of,
        TimePeriod.CALENDAR_QUARTER: quarter_of,
        TimePeriod.CALENDAR_YEAR: year_of,
    }
    return calendars[period](now_us).length_us


def _selector(slo: SLO, **extra: str) -> str:
    labels = {"slo_id": slo.slo_id, **extra}
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + inner + "}"


def _text(value: str) -> str:
    """Annotations are Go templates: a name holding `{{` must print literally."""
    return value.replace("{{", "{{ `{{` }}")


def recording_group() -> dict[str, Any]:
    return {
        "name": "slo-engine-recording",
        "rules": [
            {"record": "slo:burn_rate:max", "expr": "max by (slo_id, service, window) (slo_burn_rate)"},
            {
                "record": "slo:error_budget_remaining:ratio",
                "expr": "max by (slo_id, service) (slo_error_budget_remaining_ratio)",
            },
        ],
    }


def alerting_group(slos: Iterable[SLO], now_us: int) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for slo in slos:
        if not slo.enabled:
            continue
        period_us = period_length_us(slo.time_period, now_us)
        for rule in slo.rules():
            if not rule.applies_to(period_us):
                continue
            threshold = rule.threshold(period_us)
            long_sel = _selector(slo, window=rule.long_window)
            short_sel = _selector(slo, window=rule.short_window)
            rules.append(
                {
                    "alert": "SLOBurnRateHigh",
                    "expr": (  # `without (window)`: the alert is about both windows, not the long one
                        f"max without (window) (slo:burn_rate:max{long_sel} > {threshold:.6g}) "
                        f"and on (slo_id, service) "
                        f"max without (window) (slo:burn_rate:max{short_sel} > {threshold:.6g})"
                    ),
                    "labels": {"severity": rule.severity.value, "slo_id": slo.slo_id, "rule": rule.name},
                    "annotations": {
                        "summary": f"{_text(slo.slo_name)}: error budget burning "
                        f"{rule.long_window}/{rule.short_window} above {threshold:.3g}x",
                        "description": (
                            f"SLO {slo.slo_id} ({slo.target_percentage}% over {slo.time_period.value}) burns its "
                            f"error budget faster than {threshold:.3g}x in both the {rule.long_window} and "
                            f"{rule.short_window} windows."
                        ),
                    },
                }
            )
        rules.append(
            {
                "alert": "SLOErrorBudgetExhausted",
                "expr": f"slo:error_budget_remaining:ratio{_selector(slo)} <= 0",
                "for": "5m",
                "labels": {"severity": "page", "slo_id": slo.slo_id},
                "annotations": {"summary": f"{_text(slo.slo_name)}: error budget exhausted"},
            }
        )
    return {"name": "slo-engine-alerts", "rules": rules}


def prometheus_rules(slos: Iterable[SLO], now_us: int) -> dict[str, Any]:
    """A Prometheus rule file (as data): recording rules, then alerting rules."""
    return {"groups": [recording_group(), alerting_group(slos, now_us)]}
