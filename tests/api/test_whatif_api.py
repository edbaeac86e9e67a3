"""GET /api/v1/slos/{id}/what-if through a real worker (embedded broker): the figures for
another target (and period) from the worker's counts equal the reference's evaluation of
the same events for that target; bad parameters are 422s naming them."""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path

import pytest

from app.domain.models import SLO
from tests import reference as ref
from tests.api.helpers import API, keyed_events, produce_and_wait, start_api_worker
from tests.stream.helpers import Ev, Spawn, make_topology, slo_def

pytestmark = pytest.mark.kafka

SID = "wi-checkout"


@pytest.mark.timeout(120)
def test_what_if_answers_the_references_figures_for_another_target(
    bootstrap: str, spawn: Spawn, tmp_path: Path
) -> None:
    definition = slo_def(SID, 99.9, "ROLLING_30D")
    topology = make_topology(tmp_path, [definition], partitions=1, timer_interval_s=600)
    api = start_api_worker(spawn, bootstrap, topology, "whatif")
    http = api.http
    now_s = time.time()
    # 20 events in the last 20 minutes, 0.3% bad: 3x a 99.9% budget, 0.6x a 99.5% one.
    # None lies near the 5m window's far edge while the test runs (only 5m is bucketed at 5 s).
    events = [
        Ev(SID, int((now_s - age) * 1e6), 9970, 10_000, now_s - age)
        for age in range(1200, 30, -60)
        if not 200 <= age <= 400
    ]
    produce_and_wait(bootstrap, topology, keyed_events(events))

    answer = http.get(f"{API}/{SID}/what-if", params={"target": 99.5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    at_us = ref.us_of(datetime.fromisoformat(body["what_if"]["last_updated"].replace("Z", "+00:00")))
    accepted = [ref.Event(SID, e.ts_us, e.good, e.total) for e in events]
    for key, target in (("as_defined", 99.9), ("what_if", 99.5)):
        slo = SLO.model_validate({**definition, "target_percentage": target})
        want = ref.evaluate(accepted, slo, at_us)
        got = body[key]
        assert got["target_sli"] == target
        assert got["status"] == want.status.value, key
        assert got["consumed_budget"] == want.bad == len(events) * 30
        assert math.isclose(got["error_budget_consumed"], float(want.consumed), rel_tol=1e-9)
        assert math.isclose(got["total_budget"], float(want.allowed), rel_tol=1e-9)
        assert math.isclose(got["burn_rate"], float(want.burn_rate), rel_tol=1e-9)
    assert body["as_defined"]["status"] == "EXHAUSTED"
    assert body["what_if"]["status"] != "EXHAUSTED"
    assert math.isclose(body["what_if"]["error_budget_consumed"], 0.6, rel_tol=1e-9)
    assert body["time_period"] == "ROLLING_30D"

    weekly = http.get(f"{API}/{SID}/what-if", params={"target": 99.5, "time_period": "ROLLING_7D"})
    assert weekly.status_code == 200, weekly.text
    assert weekly.json()["what_if_error_budget"]["time_period"] == "ROLLING_7D"
    assert weekly.json()["what_if_error_budget"]["consumed_budget"] == len(events) * 30

    cases: list[tuple[dict[str, str | int], str]] = [
        ({"target": 100}, "target"),
        ({"target": 0}, "target"),
        ({"target": "nan"}, "target"),
        ({"target": "ninety"}, "target"),
        ({}, "target"),
        ({"target": 99, "time_period": "ROLLING_2D"}, "time_period"),
    ]
    for params, name in cases:
        refused = http.get(f"{API}/{SID}/what-if", params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert refused.json()["detail"][0]["loc"] == ["query", name], refused.text
    assert http.get(f"{API}/nobody/what-if", params={"target": 99}).status_code == 404
