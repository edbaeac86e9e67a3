"""OpenSLO v1 import/export (app/openslo.py, `python -m app openslo ...`).

The documents under tests/data/openslo/ are real OpenSLO examples, copied verbatim
(source in each file's header). Most use constructs the engine cannot honour, so they
are refusal tests; where a test edits one (to name a real SLI, or drop an alert policy
reference) the edit is spelled out in the test.
"""

from __future__ import annotations

import copy
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from app.definitions import load_slos
from app.domain.enums import Severity, SLOType, TimePeriod
from app.domain.models import RESERVED_LABELS, SLO, AlertRule, RuleSpec
from app.errors import InvalidDefinition
from app.openslo import ENGINE_SOURCE, definitions_document, export_slo, import_documents
from app.topology import load_topology

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "openslo"


def text(name: str) -> str:
    return (DATA / name).read_text()


def docs(source: str) -> list[Any]:
    return list(yaml.safe_load_all(source))


def import_texts(**files: str) -> list[SLO]:
    return import_documents([(name.replace("_", "-") + ".yaml", docs(body)) for name, body in files.items()])


def refusal(**files: str) -> InvalidDefinition:
    with pytest.raises(InvalidDefinition) as info:
        import_texts(**files)
    return info.value


def ratio_of(document: dict[str, Any]) -> dict[str, Any]:
    ratio: dict[str, Any] = document["spec"]["indicator"]["spec"]["ratioMetric"]
    return ratio


def yaml_round_trip(slos: list[SLO]) -> list[SLO]:
    """export -> YAML text -> import, as the CLI does it."""
    exported = yaml.safe_dump_all([export_slo(s) for s in slos], sort_keys=False, width=200)
    return import_documents([("exported.yaml", docs(exported))])


# --- real examples the engine supports --------------------------------------------


def slo_referring_to(sli: str) -> str:
    """The OpenSLO schema-test SLO, its `indicatorRef` pointed at one of the real SLIs of
    pkg/openslo/v1/examples/slis.yaml (the test file names an SLI nobody defines)."""
    return text("openslo-slo-indicatorref-rolling-no-alerts.yaml").replace("indicator-ref-string", sli)


def slogen_without_alert_policy() -> str:
    body = text("slogen-logs-req-rolling.yaml")
    assert "  alertPolicies:\n    - High-Burn-Rate\n" in body
    return body.replace("  alertPolicies:\n    - High-Burn-Rate\n", "")


def readme_with(window: str) -> str:
    """The README's inline-SLI example plus the two fields its snippet leaves out."""
    return text("openslo-readme-inline-slo.yaml") + f"  budgetingMethod: Occurrences\n  timeWindow:\n{window}"


def test_indicator_ref_to_a_real_good_total_sli() -> None:
    [slo] = import_texts(slo=slo_referring_to("search-availability"), slis=text("openslo-v1-slis.yaml"))
    assert slo.slo_id == "test-slo"
    assert slo.slo_name == "Test SLO"
    assert slo.service_name == "the-service-name"
    assert slo.description == "This is a great description"
    assert slo.slo_type is SLOType.AVAILABILITY  # no slo-engine/slo_type annotation: the default
    assert slo.target_percentage == 98.0
    assert slo.time_period is TimePeriod.ROLLING_24H  # 1d rolling
    assert slo.sli_query == (
        "good (Datadog, ref=my-datadog): sum:trace.http.request.hits.by_http_status{http.status_code:200}.as_count()\n"
        "total (Datadog, ref=my-datadog): sum:trace.http.request.hits.by_http_status{*}.as_count()\n"
        "counter: true"
    )
    assert (slo.enabled, slo.burn_rate_rules, slo.alert_rules) == (True, None, [])


def test_indicator_ref_to_a_real_bad_total_sli_keeps_bad_as_bad() -> None:
    [slo] = import_texts(slo=slo_referring_to("end-user-response"), slis=text("openslo-v1-slis.yaml"))
    bad, total, counter = slo.sli_query.split("\n")
    assert bad.startswith("bad: ") and total.startswith("total: ") and counter == "counter: false"
    # Not a single query: the whole metric source is kept, as JSON, so nothing is lost.
    assert json.loads(bad.removeprefix("bad: ")) == {
        "type": "AppDynamics",
        "metricSourceRef": "appdynamics",
        "spec": {"applicationName": "my-app", "metricPath": "End User Experience|App|Slow Requests"},
    }
    assert json.loads(total.removeprefix("total: "))["spec"]["metricPath"] == "End User Experience|App|Normal Requests"
    [exported] = [export_slo(slo)]
    assert set(ratio_of(exported)) == {"bad", "total", "counter"}  # bad stays bad: (total - bad) / total


def test_slogen_rolling_slo_without_its_alert_policy() -> None:
    [slo] = import_texts(slogen=slogen_without_alert_policy())
    assert (slo.slo_id, slo.slo_name, slo.service_name) == ("drift_gen_Rolling", "DriftGen SLO Rolling", "tsat")
    assert slo.description == "test slo created from slogen"
    assert slo.time_period is TimePeriod.ROLLING_7D
    assert slo.target_percentage == 98.0
    good = json.loads(slo.sli_query.split("\n")[0].removeprefix("good: "))
    assert good["type"] == "sumologic-logs" and good["metricSourceRef"] == "sumologic-datasource"
    assert good["spec"]["query"] == (
        '_sourceCategory=tsat-batcher \n  | where msg="DriftGen query completed" and duration_ms < 400\n'
    )


@pytest.mark.parametrize(
    ("window", "period"),
    [
        ("    - duration: 30d\n      isRolling: true\n", TimePeriod.ROLLING_30D),
        ("    - duration: 1h\n", TimePeriod.ROLLING_1H),  # no calendar, no isRolling: rolling
        ("    - duration: 1w\n      isRolling: true\n", TimePeriod.ROLLING_7D),
        ("    - duration: 1M\n      isRolling: false\n", TimePeriod.CALENDAR_MONTH),
        ("    - duration: 1Y\n      isRolling: false\n", TimePeriod.CALENDAR_YEAR),
        ("    - duration: 90d\n      isRolling: true\n", TimePeriod.ROLLING_90D),
        (
            "    - duration: 1Q\n      calendar:\n        startTime: 2024-04-01 00:00:00\n        timeZone: UTC\n",
            TimePeriod.CALENDAR_QUARTER,
        ),
    ],
)
def test_readme_example_with_each_window(window: str, period: TimePeriod) -> None:
    [slo] = import_texts(readme=readme_with(window))
    assert (slo.slo_id, slo.slo_name, slo.service_name, slo.time_period) == ("foo-slo", "Foo SLO", "foo", period)
    assert slo.target_percentage == 98.0
    assert slo.sli_query.startswith("good (Datadog, ref=datadog-datasource): sum:trace.http.request.hits")


SUPPORTED = [
    pytest.param({"slo": slo_referring_to("search-availability"), "slis": text("openslo-v1-slis.yaml")}, id="good"),
    pytest.param({"slo": slo_referring_to("end-user-response"), "slis": text("openslo-v1-slis.yaml")}, id="bad"),
    pytest.param({"slogen": slogen_without_alert_policy()}, id="slogen"),
    pytest.param({"readme": readme_with("    - duration: 30d\n      isRolling: true\n")}, id="readme"),
]


@pytest.mark.parametrize("files", SUPPORTED)
def test_real_examples_round_trip(files: dict[str, str]) -> None:
    slos = import_texts(**files)
    assert yaml_round_trip(slos) == slos
    # and the exported indicator is the original one, metric sources and all
    originals = [d for body in files.values() for d in docs(body) for d in (d if isinstance(d, list) else [d])]
    by_name = {d["metadata"]["name"]: d for d in originals}
    for slo in slos:
        spec = by_name[slo.slo_id]["spec"]
        indicator = by_name[spec["indicatorRef"]] if "indicatorRef" in spec else spec["indicator"]
        assert ratio_of(export_slo(slo)) == indicator["spec"]["ratioMetric"]


# --- real examples the engine refuses ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "field", "reason"),
    [
        ("openslo-timeslices-slo.yaml", "#0 (metadata.name=service-availability): spec.budgetingMethod", "Timeslices"),
        ("openslo-ratio-timeslices.yaml", "#0 (metadata.name=main-page): spec.budgetingMethod", "RatioTimeslices"),
        ("openslo-v1-slos.yaml", "#0 (metadata.name=web-availability): spec.budgetingMethod", "Timeslices"),
        ("openslo-readme-inline-slo.yaml", "#0 (metadata.name=foo-slo): spec.budgetingMethod", "required"),
        (
            "openslo-occurences-slo.yaml",
            "#0 (metadata.name=search-slo): spec.indicator.spec.thresholdMetric",
            "threshold metrics",
        ),
        (
            "openslo-slo-indicatorref-rolling-no-alerts.yaml",
            "#0 (metadata.name=test-slo): spec.indicatorRef",
            "no SLI named 'indicator-ref-string'",
        ),
        (
            "openslo-slo-no-indicatorref-rolling-no-alerts.yaml",
            "#0 (metadata.name=TestSLO): spec.timeWindow[0].duration",
            "rolling 1M",
        ),
        (
            "openslo-slo-no-indicatorref-calendar-no-alerts.yaml",
            "#0 (metadata.name=test-slo): spec.timeWindow[0].duration",
            "calendar 1d",
        ),
        ("slogen-logs-req-rolling.yaml", "#0 (metadata.name=drift_gen_Rolling): spec.alertPolicies", "not imported"),
        ("sloth-openslo-getting-started.yml", "#0 (metadata.name=sloth-slo-my-service): apiVersion", "v1alpha"),
        # the SLI document is at fault, and the message names the SLO that refers to it
        ("oslo-multi.yaml", "#1 (metadata.name=foo-sli): spec.thresholdMetric", "oslo-multi.yaml#0"),
    ],
)
def test_real_examples_refused_naming_document_and_field(name: str, field: str, reason: str) -> None:
    with pytest.raises(InvalidDefinition) as info:
        import_documents([(name, docs(text(name)))])
    assert info.value.field == name + field
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("sli", "field", "reason"),
    [
        (
            "wifi-client-satisfaction",
            "slis.yaml#2 (metadata.name=wifi-client-satisfaction): spec.ratioMetric.raw",
            "precomputed",
        ),
        ("annotator-throughput", "slis.yaml#3 (metadata.name=annotator-throughput): spec.thresholdMetric", "threshold"),
    ],
)
def test_indicator_ref_to_a_real_unsupported_sli(sli: str, field: str, reason: str) -> None:
    error = refusal(slo=slo_referring_to(sli), slis=text("openslo-v1-slis.yaml"))
    assert error.field.startswith(field)  # raw or rawType, whichever comes first
    assert reason in error.reason and "slo.yaml#0 (metadata.name=test-slo), spec.indicatorRef" in error.reason


def test_sli_service_and_datasource_objects_alone_give_no_slo() -> None:
    assert import_texts(slis=text("openslo-v1-slis.yaml")) == []
    service = "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: web}\nspec: {description: x}\n"
    source = "apiVersion: openslo/v1\nkind: DataSource\nmetadata: {name: p}\nspec: {type: Prometheus}\n"
    assert import_texts(objects=service + "---\n" + source) == []


# --- refusals, one construct at a time ----------------------------------------------

BASE = docs(readme_with("    - duration: 30d\n      isRolling: true\n"))[0]


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc[int(part)] if isinstance(doc, list) else doc.setdefault(part, {})
    if value is _DELETE:
        del doc[last]
    elif isinstance(doc, list):
        doc[int(last)] = value
    else:
        doc[last] = value


_DELETE = object()
RATIO = "spec.indicator.spec.ratioMetric"
SOURCE = {"metricSource": {"type": "Prometheus", "spec": {"query": "sum(errors)"}}}


@pytest.mark.parametrize(
    ("edits", "field", "reason"),
    [
        ({"spec.objectives": [{"target": 0.9}, {"target": 0.99}]}, "spec.objectives", "exactly one"),
        ({"spec.objectives": [{"target": 0.9, "targetPercent": 90}]}, "spec.objectives[0]", "not both"),
        ({"spec.objectives": [{"displayName": "x"}]}, "spec.objectives[0]", "target is required"),
        ({"spec.objectives": [{"target": "0.9"}]}, "spec.objectives[0].target", "number"),
        ({"spec.objectives": [{"target": 1.0}]}, "spec.objectives[0].target", "less than 100"),
        ({"spec.objectives": [{"targetPercent": 0}]}, "spec.objectives[0].targetPercent", "greater than 0"),
        ({"spec.objectives": [{"targetPercent": 10**400}]}, "spec.objectives[0].targetPercent", "out of range"),
        ({"spec.objectives": [{"target": 0.9, "timeSliceTarget": 0.9}]}, "spec.objectives[0].timeSliceTarget", ""),
        ({"spec.objectives": [{"target": 0.9, "op": "lte"}]}, "spec.objectives[0].op", "threshold"),
        ({"spec.timeWindow": []}, "spec.timeWindow", "exactly one"),
        ({"spec.timeWindow.0.duration": "2w"}, "spec.timeWindow[0].duration", "rolling 2w"),
        ({"spec.timeWindow.0.duration": "30 d"}, "spec.timeWindow[0].duration", "not an OpenSLO duration"),
        ({"spec.timeWindow.0.isRolling": "yes"}, "spec.timeWindow[0].isRolling", "true or false"),
        (
            {"spec.timeWindow.0": {"duration": "1M", "calendar": {"timeZone": "Europe/Paris"}}},
            "calendar.timeZone",
            "UTC",
        ),
        (
            {"spec.timeWindow.0": {"duration": "1M", "calendar": {"startTime": "2024-01-15 00:00:00"}}},
            "calendar.startTime",
            "first day of a month",
        ),
        (
            {"spec.timeWindow.0": {"duration": "1Q", "calendar": {"startTime": "2024-02-01 00:00:00"}}},
            "calendar.startTime",
            "first day of a quarter",
        ),
        ({"spec.timeWindow.0.duration": "2Y", "spec.timeWindow.0.isRolling": False}, "duration", "calendar 2Y"),
        ({"spec.budgetingMethod": "Timeslices"}, "spec.budgetingMethod", "only Occurrences"),
        ({"spec.alertPolicies": ["fast-burn"]}, "spec.alertPolicies", "burn-rate rules"),
        ({"spec.indicatorRef": "foo"}, "spec.indicatorRef", "not both"),
        ({"spec.indicator": _DELETE}, "spec.indicator", "required"),
        ({f"{RATIO}.bad": SOURCE}, RATIO, "not both"),
        ({f"{RATIO}.total": _DELETE}, f"{RATIO}.total", "required"),
        ({f"{RATIO}.good": _DELETE}, RATIO, "good or bad is required"),
        ({f"{RATIO}.counter": "yes"}, f"{RATIO}.counter", "true or false"),
        ({f"{RATIO}.good.metricSource.query": "x"}, f"{RATIO}.good.metricSource.query", "unknown field"),
        ({f"{RATIO}.raw": SOURCE}, f"{RATIO}.raw", "precomputed"),
        ({"spec.indicator.spec.thresholdMetric": SOURCE}, "spec.indicator.spec.thresholdMetric", "threshold"),
        ({"spec.compositeWeight": 1}, "spec.compositeWeight", "refused rather than dropped"),
        ({"spec.service": _DELETE}, "spec.service", "Field required"),
        ({"metadata.name": "no spaces"}, "metadata.name", "pattern"),
        ({"metadata.annotations": {"slo-engine/slo-kind": "x"}}, "metadata.annotations.slo-engine/slo-kind", "unknown"),
        ({"metadata.annotations": {"slo-engine/slo_type": "SPEED"}}, "metadata.annotations.slo-engine/slo_type", ""),
        (
            {"metadata.annotations": {"slo-engine/alert_rules": '[{"severity": "page"}]'}},
            "metadata.annotations.slo-engine/alert_rules[0].burn_rate_threshold",
            "Field required",
        ),
        ({"apiVersion": "openslo/v2alpha"}, "apiVersion", "only openslo/v1"),
        ({"kind": "AlertPolicy"}, "kind", "not imported"),
        ({"kind": "Dashboard"}, "kind", "unknown kind"),
    ],
)
def test_refusals_name_the_field(edits: dict[str, Any], field: str, reason: str) -> None:
    doc = copy.deepcopy(BASE)
    for path, value in edits.items():
        _set(doc, path, value)
    with pytest.raises(InvalidDefinition) as info:
        import_documents([("slos.yaml", [doc])])
    assert info.value.field.startswith("slos.yaml#0 (metadata.name=")
    assert info.value.field.endswith(field)
    assert reason in info.value.reason


def test_duplicate_slo_names_are_refused() -> None:
    with pytest.raises(InvalidDefinition) as info:
        import_documents([("a.yaml", [BASE]), ("b.yaml", [BASE])])
    assert info.value.field == "b.yaml#0 (metadata.name=foo-slo): metadata.name"
    assert "a.yaml#0" in info.value.reason


def test_calendar_on_a_rolling_window_and_foreign_annotations_are_accepted() -> None:
    doc = copy.deepcopy(BASE)
    doc["spec"]["timeWindow"][0]["calendar"] = {"timeZone": "America/New_York"}  # as slogen writes it
    doc["metadata"]["annotations"] = {"sumologic/signal-type": "Latency", "slo-engine/slo_type": "LATENCY"}
    [slo] = import_documents([("slos.yaml", [doc])])
    assert slo.time_period is TimePeriod.ROLLING_30D and slo.slo_type is SLOType.LATENCY


# --- export -------------------------------------------------------------------------


def test_export_of_an_engine_slo() -> None:
    slo = SLO(
        slo_id="payments-errors",
        slo_name="Payments error rate",
        service_name="payments",
        slo_type=SLOType.ERROR_RATE,
        target_percentage=99.5,
        time_period=TimePeriod.CALENDAR_QUARTER,
        sli_query="sum(http_requests_total{code!~'5..'}) / sum(http_requests_total)",
        enabled=False,
        alert_rules=[AlertRule(burn_rate_threshold=10, time_window="1h", severity=Severity.PAGE)],
    )
    doc = export_slo(slo)
    assert doc["apiVersion"] == "openslo/v1" and doc["kind"] == "SLO"
    assert doc["metadata"]["name"] == "payments-errors"
    assert doc["metadata"]["displayName"] == "Payments error rate"
    annotations = doc["metadata"]["annotations"]
    assert annotations["slo-engine/slo_type"] == "ERROR_RATE"
    assert annotations["slo-engine/enabled"] == "false"
    assert json.loads(annotations["slo-engine/alert_rules"])[0]["rule_id"] == "custom-1h-5m-10"
    assert "slo-engine/min_short_window_events" not in annotations  # defaults are left out
    spec = doc["spec"]
    assert spec["service"] == "payments" and spec["budgetingMethod"] == "Occurrences"
    assert spec["objectives"] == [{"target": 0.995}]
    assert spec["timeWindow"] == [
        {"duration": "1Q", "isRolling": False, "calendar": {"startTime": "2020-01-01 00:00:00", "timeZone": "UTC"}}
    ]
    # free-text sli_query: the engine's own good/total counts are the metric source
    good = ratio_of(doc)["good"]["metricSource"]
    assert good == {"type": ENGINE_SOURCE, "spec": {"sliQuery": slo.sli_query, "counts": "good_events"}}
    assert import_documents([("x.yaml", [doc])]) == [slo]


def test_target_that_does_not_survive_division_is_exported_as_percent() -> None:
    slo = SLO.model_validate(BASE_SLO | {"target_percentage": 44.949106478873816})
    assert export_slo(slo)["spec"]["objectives"] == [{"targetPercent": 44.949106478873816}]
    assert import_documents([("x.yaml", [export_slo(slo)])]) == [slo]


BASE_SLO = {
    "slo_id": "api",
    "slo_name": "API",
    "service_name": "api",
    "slo_type": "AVAILABILITY",
    "target_percentage": 99.9,
    "time_period": "ROLLING_30D",
}


# --- round trip: import(export(x)) == x ---------------------------------------------

_chars = st.characters(blacklist_categories=("Cs",))


def _stripped(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(_chars, min_size=min_size, max_size=max_size).map(str.strip).filter(lambda s: len(s) >= min_size)


def _name(max_size: int) -> st.SearchStrategy[str]:
    """A name: not blank (some character besides ASCII spaces and controls)."""
    return _stripped(1, max_size).filter(lambda s: re.search(r"[^\x00-\x20\x7f]", s) is not None)


_names = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9][\w.:/-]{0,12}", fullmatch=True), _stripped(0, 8)).filter(
    lambda n: n is None or n.lower() != "prometheus"  # Prometheus queries must be counters (tested apart)
)
# sli_query forms the engine reads (anything else is refused: tests/bridge/test_promql.py)
_promql = st.sampled_from(
    [
        'sum(rate(http_requests_total{code!~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
        "1 - sum(increase(errors_total[1h])) / sum(increase(requests_total[1h]))",
        "sum(http_requests_total{code!~'5..'}) / sum(http_requests_total)",
    ]
)
_specs = st.one_of(
    st.builds(lambda q: {"query": q}, st.text(_chars, max_size=30)),
    st.dictionaries(st.sampled_from(["query", "metricPath", "region"]), st.text(_chars, max_size=10), max_size=3),
    st.none(),
)


@st.composite
def _ratio_queries(draw: st.DrawFn) -> str:
    """An sli_query as import renders real ratio metrics (this exercises the parse on export)."""
    ratio: dict[str, Any] = {}
    for role in (draw(st.sampled_from(["good", "bad"])), "total"):
        source = {k: v for k, v in (("type", draw(_names)), ("metricSourceRef", draw(_names))) if v is not None}
        ratio[role] = {"metricSource": source | {"spec": draw(_specs)}}
    if draw(st.booleans()):
        ratio["counter"] = draw(st.booleans())
    doc = copy.deepcopy(BASE)
    doc["spec"]["indicator"]["spec"]["ratioMetric"] = ratio
    [slo] = import_documents([("x.yaml", [doc])])
    return slo.sli_query


_rule_specs = st.sampled_from(
    [
        RuleSpec(severity=Severity.PAGE, long_window="1h", short_window="5m", budget_fraction=0.02),
        RuleSpec(severity=Severity.TICKET, long_window="3d", short_window="6h", burn_rate_threshold=1.0),
    ]
)
_alert_rules = st.builds(
    AlertRule,
    burn_rate_threshold=st.floats(0.001, 1e6, allow_nan=False),
    time_window=st.sampled_from(["1h", "6h", "24h", "3d"]),
    severity=st.sampled_from(list(Severity)),
    labels=st.dictionaries(
        st.from_regex(r"[a-z]{1,8}", fullmatch=True).filter(lambda k: k not in RESERVED_LABELS),
        st.text(_chars, max_size=8),
        max_size=2,
    ),
    runbook_url=st.none() | st.just("https://runbooks.example/slo"),
)


@st.composite
def slos(draw: st.DrawFn) -> SLO:
    ratios = sorted(draw(st.lists(st.floats(0, 1), min_size=2, max_size=2)))
    return SLO(
        slo_id=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", fullmatch=True)),
        slo_name=draw(_name(60)),
        service_name=draw(_name(40)),
        slo_type=draw(st.sampled_from(list(SLOType))),
        target_percentage=draw(st.floats(0, 100, exclude_min=True, exclude_max=True)),
        time_period=draw(st.sampled_from(list(TimePeriod))),
        sli_query=draw(st.one_of(st.just(""), _promql, _ratio_queries(), st.just("good: a\ntotal: b"))),
        description=draw(_stripped(0, 80)),
        enabled=draw(st.booleans()),
        critical_budget_ratio=ratios[0],
        warning_budget_ratio=ratios[1],
        burn_rate_rules=draw(st.none() | st.lists(_rule_specs, max_size=2, unique=True)),
        min_short_window_events=draw(st.integers(0, 1_000_000_000)),
        alert_rules=draw(st.lists(_alert_rules, max_size=2, unique_by=lambda r: r.rule_id)),
        no_data_alert_after_s=draw(st.integers(0, 90 * 86_400)),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(slos(), max_size=3, unique_by=lambda s: s.slo_id))
def test_export_then_import_gives_the_definitions_back(definitions: list[SLO]) -> None:
    assert yaml_round_trip(definitions) == definitions


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ratio_queries())
def test_imported_ratio_metrics_export_as_real_ratio_metrics(sli_query: str) -> None:
    slo = SLO.model_validate(BASE_SLO | {"sli_query": sli_query})
    ratio = ratio_of(export_slo(slo))
    assert "total" in ratio and ("good" in ratio) != ("bad" in ratio)
    assert ratio["total"]["metricSource"].get("type") != ENGINE_SOURCE


# --- the command line ---------------------------------------------------------------


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_import_real_files_to_a_definitions_file(tmp_path: Path) -> None:
    (tmp_path / "slo.yaml").write_text(slo_referring_to("end-user-response"))
    shutil.copy(DATA / "openslo-v1-slis.yaml", tmp_path / "slis.yaml")
    (tmp_path / "slogen.yaml").write_text(slogen_without_alert_policy())
    out_file = tmp_path / "definitions.yaml"
    code, out, err = run(
        "openslo", "import", str(tmp_path / "slo.yaml"), str(tmp_path / "slis.yaml"), str(tmp_path / "slogen.yaml"),
        "--out", str(out_file),
    )  # fmt: skip
    assert (code, out) == (0, ""), err
    assert "2 SLO(s) from 3 file(s)" in err
    loaded = load_slos(out_file)
    assert [s.slo_id for s in loaded] == ["test-slo", "drift_gen_Rolling"]
    assert loaded[0].sli_query.startswith("bad: ") and loaded[1].time_period is TimePeriod.ROLLING_7D
    # usable as a topology's slos:
    topology = tmp_path / "topology.yaml"
    topology.write_text("name: imported\n" + out_file.read_text())
    assert load_topology(topology).slos == loaded


def test_cli_import_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "readme.yaml").write_text(readme_with("    - duration: 1M\n      isRolling: false\n"))
    code, out, _ = run("openslo", "import", str(tmp_path / "readme.yaml"))
    assert code == 0
    assert yaml.safe_load(out) == definitions_document(import_texts(readme=(tmp_path / "readme.yaml").read_text()))
    assert "time_period: CALENDAR_MONTH" in out and "slo_id: foo-slo" in out


def test_cli_import_refusal_names_file_document_and_field(tmp_path: Path) -> None:
    shutil.copy(DATA / "openslo-timeslices-slo.yaml", tmp_path / "timeslices.yaml")
    code, out, err = run("openslo", "import", str(tmp_path / "timeslices.yaml"))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {tmp_path / 'timeslices.yaml'}#0 (metadata.name=service-availability): ")
    assert "spec.budgetingMethod: 'Timeslices' is not supported" in err


@pytest.mark.parametrize(("content", "reason"), [(None, "cannot read"), ("a: [", "not valid YAML")])
def test_cli_import_unreadable_or_invalid_yaml(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "x.yaml"
    if content is not None:
        path.write_text(content)
    code, _, err = run("openslo", "import", str(path))
    assert code == 2 and reason in err


def test_cli_export_then_import_round_trips_a_definitions_file(tmp_path: Path) -> None:
    definitions = tmp_path / "slos.yaml"
    original = [
        SLO.model_validate(BASE_SLO | {"sli_query": "sum(ok) / sum(all)", "min_short_window_events": 50}),
        SLO.model_validate(BASE_SLO | {"slo_id": "api-q", "time_period": "CALENDAR_QUARTER", "enabled": False}),
    ]
    definitions.write_text(yaml.safe_dump(definitions_document(original), sort_keys=False))
    exported = tmp_path / "openslo.yaml"
    code, out, err = run("openslo", "export", "--slos", str(definitions), "--out", str(exported))
    assert (code, out) == (0, ""), err
    objects = docs(exported.read_text())
    assert [(d["kind"], d["metadata"]["name"]) for d in objects] == [("SLO", "api"), ("SLO", "api-q")]
    assert objects[0]["metadata"]["annotations"]["slo-engine/min_short_window_events"] == "50"
    reimported = tmp_path / "back.yaml"
    assert run("openslo", "import", str(exported), "--out", str(reimported))[0] == 0
    assert load_slos(reimported) == original


def test_cli_export_a_topology_to_stdout() -> None:
    code, out, _ = run("openslo", "export", "--topology", str(ROOT / "topologies" / "default.yaml"))
    assert code == 0
    objects = docs(out)
    assert [d["metadata"]["name"] for d in objects] == [s.slo_id for s in load_topology().slos]
    assert objects[1]["spec"]["timeWindow"][0]["duration"] == "1M"  # search-latency: CALENDAR_MONTH
    assert import_documents([("out", objects)]) == load_topology().slos


def test_cli_export_refuses_slos_and_topology_together(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["openslo", "export", "--slos", "a.yaml", "--topology", "b.yaml"])
    assert "not allowed with argument" in capsys.readouterr().err
