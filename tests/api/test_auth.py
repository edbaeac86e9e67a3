"""With SLO_API_TOKEN set, mutating endpoints need `Authorization: Bearer <token>`:
none is a 401 (with WWW-Authenticate), a wrong one a 403, and nothing changes either
way; the right one works. Reads stay open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import API, bearer, start_api_worker
from tests.stream.helpers import Spawn, make_topology, slo_def

pytestmark = pytest.mark.kafka

TOKEN = "s3cret-token-for-tests"
SEED = "seed-auth"


@pytest.mark.timeout(60)
def test_mutations_need_the_bearer_token_reads_do_not(bootstrap: str, spawn: Spawn, tmp_path: Path) -> None:
    topology = make_topology(tmp_path, [slo_def(SEED)], timer_interval_s=600)
    api = start_api_worker(spawn, bootstrap, topology, "api-auth", token=TOKEN)
    http = api.http
    rule = {"burn_rate_threshold": 6, "time_window": "6h", "severity": "ticket"}
    new = slo_def("auth-new")
    adjustments = "/api/v1/adjustments"
    window = {"adjustment_id": "auth-adj", "start": "2026-03-10T02:00:00Z", "duration": "2h", "slo_ids": [SEED]}
    mutations: list[tuple[str, str, dict[str, Any], int]] = [
        ("POST", API, {"json": new}, 201),
        ("PUT", f"{API}/{SEED}", {"json": slo_def(SEED, 99.5)}, 200),
        ("POST", f"{API}/{SEED}/burn-rate-alert", {"json": rule}, 201),
        ("DELETE", f"{API}/{SEED}/burn-rate-alert/custom-6h-30m-6", {}, 204),
        ("DELETE", f"{API}/auth-new", {}, 204),
        ("POST", adjustments, {"json": window}, 201),
        ("PUT", f"{adjustments}/auth-adj", {"json": {**window, "duration": "3h"}}, 200),
        ("DELETE", f"{adjustments}/auth-adj", {}, 204),
    ]
    seed_before = http.get(f"{API}/{SEED}").json()
    for method, path, kwargs, _ in mutations:
        for headers, expected in [
            ({}, 401),
            (bearer("wrong-token"), 403),
            (bearer(TOKEN[:-1]), 403),
            ({"Authorization": f"Basic {TOKEN}"}, 401),  # not a bearer credential
            ({"Authorization": "Bearer"}, 401),
        ]:
            response = http.request(method, path, headers=headers, **kwargs)
            assert response.status_code == expected, (method, path, headers, response.text)
            if expected == 401:
                assert response.headers.get("www-authenticate") == "Bearer"
    # Refused writes changed nothing.
    assert http.get(f"{API}/{SEED}").json() == seed_before
    assert http.get(f"{API}/auth-new").status_code == 404
    assert http.get(adjustments).json() == []

    for method, path, kwargs, expected in mutations:
        response = http.request(method, path, headers=bearer(TOKEN), **kwargs)
        assert response.status_code == expected, (method, path, response.text)
    seed = http.get(f"{API}/{SEED}").json()
    assert seed["target_percentage"] == 99.5 and seed["alert_rules"] == []  # added, then deleted
    assert http.get(f"{API}/auth-new").status_code == 404  # created, then deleted

    # Reads need no token.
    window = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T01:00:00Z"}
    for path, params in [
        (API, {}),
        (f"{API}/{SEED}", {}),
        (f"{API}/{SEED}/history", window),
        ("/healthz", {}),
        ("/readyz", {}),
        ("/metrics", {}),
        ("/openapi.json", {}),
    ]:
        response = http.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
    assert http.get(f"{API}/{SEED}/status").json()["current_sli"] is None  # open, just no data yet

    # The OpenAPI document says which operations take the bearer token.
    openapi = http.get("/openapi.json").json()
    schemes = openapi["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    secured = {
        (path, method) for path, ops in openapi["paths"].items() for method, op in ops.items() if op.get("security")
    }
    assert secured == {
        (API, "post"),
        (f"{API}/{{slo_id}}", "put"),
        (f"{API}/{{slo_id}}", "delete"),
        (f"{API}/{{slo_id}}/burn-rate-alert", "post"),
        (f"{API}/{{slo_id}}/burn-rate-alert/{{rule_id}}", "delete"),
        ("/api/v1/adjustments", "post"),
        ("/api/v1/adjustments/{adjustment_id}", "put"),
        ("/api/v1/adjustments/{adjustment_id}", "delete"),
    }
