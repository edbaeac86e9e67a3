"""The SLI of a definition: the structured `sli` field, `sli_query` forms, OpenSLO Prometheus sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from app.core.promql import parse_selector
from app.domain.models import SLO
from app.errors import InvalidDefinition
from app.openslo import export_slo, import_documents
from tests.stream.helpers import ROOT

BASE: dict[str, Any] = {
    "slo_id": "checkout-availability",
    "slo_name": "Checkout availability",
    "service_name": "checkout",
    "slo_type": "AVAILABILITY",
    "target_percentage": 99.9,
    "time_period": "ROLLING_30D",
}


def slo(**extra: Any) -> SLO:
    return SLO.model_validate(BASE | extra)


def test_sli_query_forms_give_the_counters() -> None:
    sli = slo(sli_query='sum(rate(req_total{code!~"5.."}[5m])) / sum(rate(req_total[5m]))').counter_sli()
    assert sli is not None and sli.numerator == "good"
    assert sli.numerator_selector == parse_selector('req_total{code!~"5.."}')
    assert slo(sli_query="").counter_sli() is None
    assert slo(sli_query="good (Datadog): sum:hits{*}\ntotal (Datadog): sum:all{*}").counter_sli() is None


def test_structured_sli_takes_precedence() -> None:
    s = slo(sli_query="sum(a)/sum(b)", sli={"bad": 'req_total{code=~"5.."}', "total": "req_total"})
    sli = s.counter_sli()
    assert sli is not None and sli.numerator == "bad" and sli.total.metric == "req_total"
    latency = slo(sli={"histogram": "dur_seconds", "threshold_s": 0.25, "matchers": {"svc": "a"}}).counter_sli()
    assert latency is not None and latency.numerator_selector.le == 0.25


@pytest.mark.parametrize(
    ("extra", "loc", "reason"),
    [
        ({"sli_query": "avg(up)"}, ("sli_query",), "expected sum"),
        ({"sli_query": "sum(rate(a[5m])) / sum(rate(b[1h]))"}, ("sli_query",), "differ"),
        ({"sli": {"good": "a{", "total": "b"}}, ("sli", "good"), "not a series selector"),
        ({"sli": {"total": "b"}}, ("sli",), "exactly one of good and bad"),
        ({"sli": {"good": "a", "total": "b", "histogram": "h"}}, ("sli",), "not both"),
        ({"sli": {"histogram": "h"}}, ("sli",), "needs histogram and threshold_s"),
        ({"sli": {"histogram": "h", "threshold_s": "0.3"}}, ("sli", "threshold_s"), "must be a number"),
        ({"sli": {"histogram": "h", "threshold_s": 0.3, "matchers": {"le": "1"}}}, ("sli", "matchers"), "le"),
        ({"sli": {"good": "a", "total": "b", "extra": 1}}, ("sli", "extra"), "Extra inputs"),
    ],
)
def test_refused_with_the_field_and_the_reason(extra: dict[str, Any], loc: tuple[str, ...], reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        slo(**extra)
    [error] = info.value.errors()
    assert error["loc"] == loc and reason in error["msg"]


def openslo_doc(good: str, total: str, kind: str = "Prometheus") -> dict[str, Any]:
    source = {"metricSource": {"type": kind, "metricSourceRef": "prom"}}
    ratio = {
        role: {"metricSource": source["metricSource"] | {"spec": {"query": q}}}
        for role, q in (("good", good), ("total", total))
    }
    return {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "checkout-availability"},
        "spec": {
            "service": "checkout",
            "indicator": {"metadata": {"name": "x"}, "spec": {"ratioMetric": ratio}},
            "timeWindow": [{"duration": "30d", "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [{"target": 0.999}],
        },
    }


def test_openslo_prometheus_ratio_metric_maps_to_the_sli() -> None:
    doc = openslo_doc('sum(rate(req_total{code!~"5.."}[5m]))', "req_total")
    [imported] = import_documents([("a.yaml", [doc])])
    assert imported.sli is not None
    assert (imported.sli.good, imported.sli.total) == ('req_total{code!~"5.."}', "req_total")
    # exported and imported again: the same definition
    again = import_documents([("b.yaml", [yaml.safe_load(yaml.safe_dump(export_slo(imported)))])])
    assert again == [imported]
    # another source's queries are a record, not an SLI the bridge reads
    [datadog] = import_documents([("c.yaml", [openslo_doc("sum:hits{ok}", "sum:hits{*}", kind="Datadog")])])
    assert datadog.sli is None and datadog.counter_sli() is None


def test_openslo_prometheus_query_that_is_not_a_counter_is_refused() -> None:
    with pytest.raises(InvalidDefinition) as info:
        import_documents([("a.yaml", [openslo_doc("histogram_quantile(0.9, x)", "req_total")])])
    assert "ratioMetric.good.metricSource.spec.query" in info.value.field
    assert "not a Prometheus counter" in info.value.reason


def test_remote_write_without_the_bridge_extra_names_it(tmp_path: Path) -> None:
    """cramjam missing (emulated by a None entry in sys.modules): one line names the extra."""
    topology = tmp_path / "t.yaml"
    topology.write_text(yaml.safe_dump({"slos": [BASE | {"sli_query": "sum(ok_total) / sum(all_total)"}]}))
    code = "import sys; sys.modules['cramjam'] = None; from app.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["bridge", "remote-write", "--listen", "127.0.0.1:0", "--bootstrap", "127.0.0.1:1"]
    argv += ["--topology", str(topology), "--state", str(tmp_path / "s.json")]
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: bridge remote-write is configured but the 'cramjam' package is not installed: "
        "pip install 'slo-engine[bridge]'"
    )
