"""SLO management through the HTTP API of one running worker (no token configured):
create / read / replace / delete, the list with its filters and pages, custom burn-rate
alert rules, validation errors naming the field, and 404 for an unknown SLO everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from app.api.routes import MAX_HISTORY_POINTS, history_step_s
from app.stream.broker import EmbeddedBroker
from tests.api.helpers import API, ApiWorker, start_api_worker
from tests.stream.helpers import Spawn, make_topology, slo_def

pytestmark = pytest.mark.kafka

SEED = "seed-topology"  # defined by the topology file, not the API


@pytest.fixture(scope="module")
def api(broker: EmbeddedBroker, module_spawn: Spawn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorker]:
    topology = make_topology(
        tmp_path_factory.mktemp("management"), [slo_def(SEED, 99.0, "ROLLING_7D")], timer_interval_s=600
    )
    worker = start_api_worker(module_spawn, broker.bootstrap, topology, "api-mgmt")
    yield worker
    worker.close()


@pytest.fixture
def http(api: ApiWorker) -> httpx2.Client:
    return api.http


def body(slo_id: str, **extra: Any) -> dict[str, Any]:
    return {**slo_def(slo_id), **extra}


def create(http: httpx2.Client, slo_id: str, **extra: Any) -> dict[str, Any]:
    response = http.post(API, json=body(slo_id, **extra))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_locs(response: httpx2.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [e["loc"] for e in response.json()["detail"]]


def test_topology_slos_are_listed(http: httpx2.Client) -> None:
    slo = http.get(f"{API}/{SEED}")
    assert slo.status_code == 200, slo.text
    assert slo.json()["slo_name"] == f"SLO {SEED}"


def test_create_read_replace_delete_round_trip(http: httpx2.Client) -> None:
    slo_id = "crud-orders"
    created = create(http, slo_id, description="orders API", sli_query="sum(ok)/sum(all)")
    assert created["slo_id"] == slo_id and created["description"] == "orders API"
    assert http.get(f"{API}/{slo_id}").json() == created
    conflict = http.post(API, json=body(slo_id, slo_name="other"))
    assert conflict.status_code == 409, conflict.text
    assert http.get(f"{API}/{slo_id}").json() == created

    replaced = http.put(f"{API}/{slo_id}", json=body(slo_id, target_percentage=99.5, slo_name="Orders"))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["target_percentage"] == 99.5 and replaced.json()["slo_name"] == "Orders"
    assert http.get(f"{API}/{slo_id}").json() == replaced.json()

    # The body's slo_id must be the path's (an SLO's id never changes): a conflict, nothing changed.
    mismatch = http.put(f"{API}/{slo_id}", json=body("crud-other"))
    assert mismatch.status_code == 409, mismatch.text
    assert "crud-other" in mismatch.json()["detail"]
    assert http.get(f"{API}/{slo_id}").json() == replaced.json()
    assert http.get(f"{API}/crud-other").status_code == 404

    deleted = http.delete(f"{API}/{slo_id}")
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    assert http.get(f"{API}/{slo_id}").status_code == 404
    assert http.delete(f"{API}/{slo_id}").status_code == 404
    assert slo_id not in [s["slo_id"] for s in http.get(API, params={"limit": 500}).json()["items"]]
    # Deleted, the id is free again.
    assert create(http, slo_id)["slo_name"] == f"SLO {slo_id}"


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"target_percentage": 100}, ["body", "target_percentage"]),
        ({"target_percentage": 0}, ["body", "target_percentage"]),
        ({"slo_id": "has space"}, ["body", "slo_id"]),
        ({"slo_id": "x" * 101}, ["body", "slo_id"]),
        ({"slo_type": "NOPE"}, ["body", "slo_type"]),
        ({"time_period": "ROLLING_2D"}, ["body", "time_period"]),
        ({"unexpected": 1}, ["body", "unexpected"]),
        ({"slo_name": ""}, ["body", "slo_name"]),
    ],
)
def test_invalid_definitions_are_refused_naming_the_field(
    http: httpx2.Client, change: dict[str, Any], loc: list[str]
) -> None:
    response = http.post(API, json={**body("invalid-def"), **change})
    assert loc in error_locs(response)
    assert http.get(f"{API}/invalid-def").status_code == 404


def test_missing_field_and_malformed_json_are_422(http: httpx2.Client) -> None:
    incomplete = {k: v for k, v in body("incomplete").items() if k != "time_period"}
    assert ["body", "time_period"] in error_locs(http.post(API, json=incomplete))
    malformed = http.post(API, content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422, malformed.text


def test_list_filters_and_pagination(http: httpx2.Client) -> None:
    ids = [f"page-{i:02d}" for i in range(7)]
    for i, slo_id in enumerate(ids):
        create(
            http,
            slo_id,
            service_name="pager" if i % 2 else "beeper",
            slo_type="LATENCY" if i < 3 else "THROUGHPUT",
        )
    everything = http.get(API, params={"limit": 500}).json()
    all_ids = [s["slo_id"] for s in everything["items"]]
    assert all_ids == sorted(all_ids) and set(ids) <= set(all_ids)
    assert everything["total"] == len(all_ids) and everything["next_offset"] is None

    def ids_of(**params: Any) -> list[str]:
        page = http.get(API, params={"limit": 500, **params})
        assert page.status_code == 200, page.text
        return [s["slo_id"] for s in page.json()["items"]]

    assert ids_of(service_name="pager") == ["page-01", "page-03", "page-05"]
    assert ids_of(service_name="beeper") == ["page-00", "page-02", "page-04", "page-06"]
    assert ids_of(slo_type="LATENCY") == ["page-00", "page-01", "page-02"]
    assert ids_of(slo_type="THROUGHPUT", service_name="pager") == ["page-03", "page-05"]
    assert ids_of(service_name="nobody") == []
    # No SLO here has data: all are HEALTHY, none is anything else.
    assert ids_of(status="HEALTHY") == all_ids
    assert ids_of(status="CRITICAL") == []

    # Pages of 3 of the 4 beepers, then of everything: following next_offset visits each once.
    first = http.get(API, params={"service_name": "beeper", "limit": 3}).json()
    assert [s["slo_id"] for s in first["items"]] == ["page-00", "page-02", "page-04"]
    assert (first["total"], first["limit"], first["offset"], first["next_offset"]) == (4, 3, 0, 3)
    last = http.get(API, params={"service_name": "beeper", "limit": 3, "offset": 3}).json()
    assert [s["slo_id"] for s in last["items"]] == ["page-06"]
    assert last["next_offset"] is None
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = http.get(API, params={"limit": 2, "offset": offset}).json()
        assert len(page["items"]) <= 2 and page["total"] == len(all_ids)
        seen += [s["slo_id"] for s in page["items"]]
        offset = page["next_offset"]
        assert len(seen) <= len(all_ids)
    assert seen == all_ids
    beyond = http.get(API, params={"offset": 1000}).json()
    assert beyond["items"] == [] and beyond["next_offset"] is None


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 501}, ["query", "limit"]),
        ({"offset": -1}, ["query", "offset"]),
        ({"limit": "x"}, ["query", "limit"]),
        ({"slo_type": "NOPE"}, ["query", "slo_type"]),
        ({"status": "FINE"}, ["query", "status"]),
    ],
)
def test_bad_list_parameters_are_422(http: httpx2.Client, params: dict[str, Any], loc: list[str]) -> None:
    assert loc in error_locs(http.get(API, params=params))


def test_burn_rate_alert_rules(http: httpx2.Client) -> None:
    slo_id = "alerting-api"
    create(http, slo_id)
    rule = {"burn_rate_threshold": 6, "time_window": "6h", "severity": "ticket", "labels": {"team": "api"}}
    added = http.post(f"{API}/{slo_id}/burn-rate-alert", json=rule)
    assert added.status_code == 201, added.text
    stored = added.json()
    # The short window defaults to about a twelfth of the long one; the id is derived.
    assert stored["short_window"] == "30m" and stored["rule_id"] == "custom-6h-30m-6"
    assert stored["labels"] == {"team": "api"}
    assert http.get(f"{API}/{slo_id}").json()["alert_rules"] == [stored]

    duplicate = http.post(f"{API}/{slo_id}/burn-rate-alert", json=rule)
    assert duplicate.status_code == 409, duplicate.text
    named = {**rule, "rule_id": "fast-burn", "time_window": "1h", "short_window": "5m", "severity": "page"}
    second = http.post(f"{API}/{slo_id}/burn-rate-alert", json=named)
    assert second.status_code == 201, second.text
    assert [r["rule_id"] for r in http.get(f"{API}/{slo_id}").json()["alert_rules"]] == ["custom-6h-30m-6", "fast-burn"]

    # Every long window has a default short one (2h: 5m, the nearest to a twelfth).
    no_short = http.post(
        f"{API}/{slo_id}/burn-rate-alert", json={"burn_rate_threshold": 3, "time_window": "2h", "severity": "ticket"}
    )
    assert no_short.status_code == 201, no_short.text
    assert (no_short.json()["short_window"], no_short.json()["rule_id"]) == ("5m", "custom-2h-5m-3")
    for bad, loc in [
        ({**rule, "burn_rate_threshold": 0}, ["body", "burn_rate_threshold"]),
        ({**rule, "time_window": "4h"}, ["body", "time_window"]),
        ({**rule, "time_window": "5m"}, ["body", "time_window"]),  # nothing is shorter
        ({**rule, "severity": "sms"}, ["body", "severity"]),
        ({**rule, "short_window": "24h"}, ["body", "short_window"]),  # not shorter than the long window
        ({**rule, "labels": {"slo_id": "x"}}, ["body", "labels"]),  # set by the engine
    ]:
        assert loc in error_locs(http.post(f"{API}/{slo_id}/burn-rate-alert", json=bad)), bad
    assert len(http.get(f"{API}/{slo_id}").json()["alert_rules"]) == 3

    # Read them back, one or all; delete one; unknown ids are 404s.
    listed = http.get(f"{API}/{slo_id}/burn-rate-alert")
    assert [r["rule_id"] for r in listed.json()] == ["custom-6h-30m-6", "fast-burn", "custom-2h-5m-3"]
    one = http.get(f"{API}/{slo_id}/burn-rate-alert/fast-burn")
    assert one.status_code == 200 and one.json()["severity"] == "page" and one.json()["short_window"] == "5m"
    assert http.delete(f"{API}/{slo_id}/burn-rate-alert/fast-burn").status_code == 204
    assert [r["rule_id"] for r in http.get(f"{API}/{slo_id}/burn-rate-alert").json()] == [
        "custom-6h-30m-6",
        "custom-2h-5m-3",
    ]
    assert http.get(f"{API}/{slo_id}/burn-rate-alert/fast-burn").status_code == 404
    assert http.delete(f"{API}/{slo_id}/burn-rate-alert/fast-burn").status_code == 404
    assert http.get(f"{API}/no-such-slo/burn-rate-alert").status_code == 404


def test_error_budget_policy_round_trip_sorted_and_replaced(http: httpx2.Client) -> None:
    slo_id = "policy-api"
    policy = [
        {"threshold": 1.5, "severity": "page", "action": "incident review with the product owner"},
        {"threshold": 0.25, "severity": "ticket", "action": "look at the canary"},
    ]
    created = create(http, slo_id, budget_policy=policy)
    assert created["budget_policy"] == [policy[1], policy[0]]  # kept sorted by threshold
    assert http.get(f"{API}/{slo_id}").json()["budget_policy"] == [policy[1], policy[0]]
    replaced = http.put(f"{API}/{slo_id}", json=body(slo_id, budget_policy=[]))  # no budget alerts
    assert replaced.status_code == 200 and replaced.json()["budget_policy"] == [], replaced.text
    status = http.get(f"{API}/{slo_id}/status")
    assert status.status_code == 200 and status.json()["budget_alerts"] == [], status.text


BUDGET_STEP = {"threshold": 0.8, "severity": "ticket", "action": "slow down"}


@pytest.mark.parametrize(
    ("policy", "loc"),
    [
        ([{**BUDGET_STEP, "threshold": 0}], ["body", "budget_policy", 0, "threshold"]),
        ([{**BUDGET_STEP, "threshold": -0.5}], ["body", "budget_policy", 0, "threshold"]),
        ([BUDGET_STEP, {**BUDGET_STEP, "threshold": 10.5}], ["body", "budget_policy", 1, "threshold"]),
        ([{**BUDGET_STEP, "threshold": "0.8"}], ["body", "budget_policy", 0, "threshold"]),
        ([{**BUDGET_STEP, "severity": "sms"}], ["body", "budget_policy", 0, "severity"]),
        ([{**BUDGET_STEP, "action": ""}], ["body", "budget_policy", 0, "action"]),
        ([{**BUDGET_STEP, "action": "   "}], ["body", "budget_policy", 0, "action"]),
        ([{**BUDGET_STEP, "action": "x" * 501}], ["body", "budget_policy", 0, "action"]),
        ([{k: v for k, v in BUDGET_STEP.items() if k != "action"}], ["body", "budget_policy", 0, "action"]),
        ([{**BUDGET_STEP, "extra": 1}], ["body", "budget_policy", 0, "extra"]),
        ([BUDGET_STEP] * 17, ["body", "budget_policy"]),  # at most 16
        ({"threshold": 0.8}, ["body", "budget_policy"]),  # a list
    ],
)
def test_a_bad_error_budget_policy_is_422_naming_the_field(http: httpx2.Client, policy: Any, loc: list[Any]) -> None:
    response = http.post(API, json=body("bad-policy", budget_policy=policy))
    assert loc in error_locs(response)
    assert http.get(f"{API}/bad-policy").status_code == 404
    # an update is refused alike, and changes nothing
    replaced = http.put(
        f"{API}/{SEED}", json=body(SEED, target_percentage=99.0, time_period="ROLLING_7D", budget_policy=policy)
    )
    assert loc in error_locs(replaced)
    assert http.get(f"{API}/{SEED}").json().get("budget_policy") is None


def test_a_threshold_given_twice_is_a_conflict(http: httpx2.Client) -> None:
    """Two budget-80 rules: a rule name used twice, which the API answers 409 for (as for
    burn-rate rules; no schema can state "unique by threshold")."""
    twice = body("policy-twice", budget_policy=[BUDGET_STEP, {**BUDGET_STEP, "severity": "page", "action": "b"}])
    response = http.post(API, json=twice)
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == "budget_policy: thresholds must be unique; budget-80 is given twice"
    assert http.get(f"{API}/policy-twice").status_code == 404


def test_budget_rule_ids_are_reserved_for_the_policy(http: httpx2.Client) -> None:
    slo_id = "reserved-ids"
    create(http, slo_id)
    rule = {"burn_rate_threshold": 6, "time_window": "6h", "severity": "ticket", "rule_id": "budget-80"}
    assert ["body", "rule_id"] in error_locs(http.post(f"{API}/{slo_id}/burn-rate-alert", json=rule))


def test_a_huge_threshold_gets_a_rule_id_that_reads_back(http: httpx2.Client) -> None:
    """A threshold of 1e6 used to derive the rule_id "custom-6h-30m-1e+06", which the
    rule_id pattern refused when the definition was read back from the definitions topic
    (found by schemathesis as a 500 after a 10 s wait). The derived id is now valid."""
    slo_id = "alerting-big"
    big = {"burn_rate_threshold": 1e6, "time_window": "6h", "severity": "page"}
    create(http, slo_id)
    added = http.post(f"{API}/{slo_id}/burn-rate-alert", json=big, timeout=15)
    assert added.status_code == 201, added.text
    assert added.json()["rule_id"] == "custom-6h-30m-1e06"
    assert [r["rule_id"] for r in http.get(f"{API}/{slo_id}").json()["alert_rules"]] == ["custom-6h-30m-1e06"]
    named = http.post(f"{API}/{slo_id}/burn-rate-alert", json={**big, "rule_id": "huge"}, timeout=15)
    assert named.status_code == 201, named.text
    assert [r["rule_id"] for r in http.get(f"{API}/{slo_id}").json()["alert_rules"]] == ["custom-6h-30m-1e06", "huge"]


def test_unknown_slo_is_404_on_every_per_slo_endpoint(http: httpx2.Client) -> None:
    ghost = "no-such-slo"
    rule = {"burn_rate_threshold": 6, "time_window": "6h", "severity": "ticket"}
    window = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T01:00:00Z"}
    for method, path, kwargs in [
        ("GET", f"{API}/{ghost}", {}),
        ("PUT", f"{API}/{ghost}", {"json": body(ghost)}),
        ("DELETE", f"{API}/{ghost}", {}),
        ("POST", f"{API}/{ghost}/burn-rate-alert", {"json": rule}),
        ("GET", f"{API}/{ghost}/status", {}),
        ("GET", f"{API}/{ghost}/error-budget", {}),
        ("GET", f"{API}/{ghost}/history", {"params": window}),
    ]:
        response = http.request(method, path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert ghost in response.json()["detail"], (method, path)
    # The PUT did not create it.
    assert http.get(f"{API}/{ghost}").status_code == 404


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"start_time": "yesterday", "end_time": "2026-01-01T00:00:00Z"}, ["query", "start_time"]),
        ({"end_time": "2026-01-01T00:00:00Z"}, ["query", "start_time"]),
        ({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z", "step": 90}, ["query", "step"]),
        ({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z", "step": 30}, ["query", "step"]),
    ],
)
def test_bad_history_parameters_are_422(http: httpx2.Client, params: dict[str, Any], loc: list[str]) -> None:
    assert loc in error_locs(http.get(f"{API}/{SEED}/history", params=params))


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-01-01T01:00:00Z", "2026-01-01T00:00:00Z"), ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")],
)
def test_an_empty_or_reversed_history_range_has_no_points(http: httpx2.Client, start: str, end: str) -> None:
    # The schema cannot relate two parameters, so the API accepts what it allows: no interval, no point.
    response = http.get(f"{API}/{SEED}/history", params={"start_time": start, "end_time": end})
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    ("span_s", "step", "expected_s"),
    [
        (3600, None, 60),
        (86_400, None, 60),  # 1,440 points
        (86_401, None, 3600),
        (86_400, 60, 60),
        (5000 * 60, 60, 60),  # exactly 5,000 points
        (5000 * 60 + 1, 60, 120),  # one more: the step doubles
        (10 * 86_400, 60, 180),  # 14,400 one-minute points -> 4,800 of 3 minutes
        (400 * 86_400, None, 7200),  # 9,600 hourly points -> 4,800 of 2 hours
        (26 * 365 * 86_400, 60, 165_600),  # past an hour the widened step is whole hours
    ],
)
def test_a_long_history_range_widens_the_step(span_s: int, step: int | None, expected_s: int) -> None:
    assert history_step_s(0, span_s * 1_000_000, step) == expected_s
    assert span_s / expected_s <= MAX_HISTORY_POINTS


def test_known_slo_without_data(http: httpx2.Client) -> None:
    """No event yet: the contract's empty figures (200, not 404: a client reads back what it
    created), and an empty history."""
    status = http.get(f"{API}/{SEED}/status")
    assert status.status_code == 200, status.text
    figures = status.json()
    assert (figures["slo_id"], figures["current_sli"], figures["status"]) == (SEED, None, "HEALTHY")
    assert (figures["total_budget"], figures["consumed_budget"], figures["remaining_budget"]) == (0, 0, 0)
    assert (figures["error_budget_remaining"], figures["burn_rate"], figures["firing_alerts"]) == (1, 0, [])
    assert (figures["time_to_exhaustion"], figures["projected_exhaustion"]) == (None, None)
    budget = http.get(f"{API}/{SEED}/error-budget")
    assert budget.status_code == 200, budget.text
    assert (budget.json()["total_budget"], budget.json()["consumed_budget"], budget.json()["burn_rate_1h"]) == (0, 0, 0)
    window = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T01:00:00Z"}
    history = http.get(f"{API}/{SEED}/history", params=window)
    assert history.status_code == 200 and history.json() == []


def test_a_rule_name_used_twice_is_a_conflict(http: httpx2.Client) -> None:
    rule = {"severity": "page", "long_window": "1h", "short_window": "5m", "budget_fraction": 0.02}
    twice = body("twice", burn_rate_rules=[rule, {**rule, "budget_fraction": 0.05}])
    response = http.post(API, json=twice)
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == "rule name 'page-1h-5m' is used twice (policy, alert_rules and SLIDataStale)"
    assert http.get(f"{API}/twice").status_code == 404


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        (API, "GET, POST"),
        (f"{API}/{SEED}", "DELETE, GET, PUT"),
        (f"{API}/{SEED}/burn-rate-alert", "GET, POST"),
        (f"{API}/{SEED}/burn-rate-alert/r", "DELETE, GET"),
        (f"{API}/{SEED}/status", "GET"),
    ],
)
def test_method_not_allowed_lists_every_method_of_the_path(http: httpx2.Client, path: str, methods: str) -> None:
    response = http.request("PATCH", path)
    assert (response.status_code, response.headers["allow"]) == (405, methods)


def test_ops_endpoints(http: httpx2.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}
    openapi = http.get("/openapi.json").json()
    paths = {(path, method) for path, ops in openapi["paths"].items() for method in ops}
    assert paths >= {
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/api/v1/slos", "get"),
        ("/api/v1/slos", "post"),
        ("/api/v1/slos/{slo_id}", "get"),
        ("/api/v1/slos/{slo_id}", "put"),
        ("/api/v1/slos/{slo_id}", "delete"),
        ("/api/v1/slos/{slo_id}/burn-rate-alert", "post"),
        ("/api/v1/slos/{slo_id}/status", "get"),
        ("/api/v1/slos/{slo_id}/error-budget", "get"),
        ("/api/v1/slos/{slo_id}/history", "get"),
    }


@pytest.mark.parametrize(
    ("extra", "loc"),
    [
        ({"sli_query": "sum(rate(a[5m])) / sum(increase(b[5m]))"}, ["body", "sli_query"]),
        ({"sli_query": "requests that did not fail"}, ["body", "sli_query"]),
        ({"sli": {"good": 'http_requests_total{code=~"2.."', "total": "http_requests_total"}}, ["body", "sli", "good"]),
        ({"sli": {"good": "a", "bad": "b", "total": "c"}}, ["body", "sli"]),
        ({"sli": {"histogram": "latency_seconds", "threshold_s": 0}}, ["body", "sli", "threshold_s"]),
    ],
)
def test_an_sli_the_bridge_cannot_read_is_422_naming_the_field(
    http: httpx2.Client, extra: dict[str, Any], loc: list[Any]
) -> None:
    response = http.post(API, json=body("bad-sli", **extra))
    assert loc in error_locs(response)
    assert http.get(f"{API}/bad-sli").status_code == 404
    replaced = http.put(f"{API}/{SEED}", json=body(SEED, **extra))
    assert loc in error_locs(replaced)


def test_a_structured_sli_is_stored(http: httpx2.Client) -> None:
    sli = {"histogram": "http_request_duration_seconds", "threshold_s": 0.3, "matchers": {"service": "checkout"}}
    created = create(http, "latency-sli", sli=sli, sli_query="")
    assert created["sli"] == {"good": None, "bad": None, "total": None, **sli}
    assert http.get(f"{API}/latency-sli").json()["sli"]["threshold_s"] == 0.3
