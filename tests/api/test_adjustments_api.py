"""Budget adjustments through the HTTP API of one running worker (no token configured):
the topology file's `adjustments:`, create / read / replace / delete (stored on the
compacted adjustments topic, read back by the worker), and 422s naming the field."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
import yaml

from app.stream.broker import EmbeddedBroker
from tests.api.helpers import ApiWorker, keyed_events, produce_and_wait, start_api_worker
from tests.stream.helpers import Ev, Spawn, Topology, make_topology, slo_def

pytestmark = pytest.mark.kafka

ADJ = "/api/v1/adjustments"
SEED_SLO = "adj-seed-slo"
LIVE_SLO = "adj-live"  # a 1h period: its figures sit on the 1-minute ring
FROM_FILE = {
    "adjustment_id": "file-window",
    "description": "from the topology file",
    "start": "2026-03-01T00:00:00Z",
    "duration": "90m",
    "rrule": "FREQ=WEEKLY;COUNT=4",
    "service_name": "checkout",
}


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Topology:
    slos = [slo_def(SEED_SLO), slo_def(LIVE_SLO, 99.0, "ROLLING_1H")]
    topology = make_topology(tmp_path_factory.mktemp("adjustments"), slos, timer_interval_s=600)
    doc = yaml.safe_load(topology.path.read_text())
    topology.path.write_text(yaml.safe_dump({**doc, "adjustments": [FROM_FILE]}, sort_keys=False))
    return topology


@pytest.fixture(scope="module")
def api(broker: EmbeddedBroker, module_spawn: Spawn, topology: Topology) -> Iterator[ApiWorker]:
    worker = start_api_worker(module_spawn, broker.bootstrap, topology, "api-adj")
    yield worker
    worker.close()


@pytest.fixture
def http(api: ApiWorker) -> httpx2.Client:
    return api.http


def one_off(adjustment_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "adjustment_id": adjustment_id,
        "start": "2026-03-10T02:00:00Z",
        "end": "2026-03-10T04:00:00Z",
        "slo_ids": [SEED_SLO],
        **extra,
    }


def stored(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the API answers it (every field, defaults filled in)."""
    base = {"description": "", "end": None, "duration": None, "rrule": None, "slo_ids": [], "service_name": None}
    return {**base, **body}


def test_topology_adjustments_are_listed(http: httpx2.Client) -> None:
    response = http.get(f"{ADJ}/file-window")
    assert response.status_code == 200, response.text
    assert response.json() == stored(FROM_FILE)


def test_create_read_replace_delete(http: httpx2.Client) -> None:
    body = one_off("maint-1", description="db migration")
    created = http.post(ADJ, json=body)
    assert created.status_code == 201, created.text
    assert created.json() == stored(body)
    assert http.get(f"{ADJ}/maint-1").json() == stored(body)
    assert [a["adjustment_id"] for a in http.get(ADJ).json()] == ["file-window", "maint-1"]
    assert http.post(ADJ, json=body).status_code == 409

    replaced = {**body, "end": None, "duration": "3h", "rrule": "FREQ=DAILY;UNTIL=20260320T000000Z"}
    response = http.put(f"{ADJ}/maint-1", json=replaced)
    assert response.status_code == 200, response.text
    assert http.get(f"{ADJ}/maint-1").json() == stored(replaced)
    assert http.put(f"{ADJ}/maint-1", json={**replaced, "adjustment_id": "other"}).status_code == 409
    assert http.put(f"{ADJ}/nope", json=one_off("nope")).status_code == 404

    assert http.delete(f"{ADJ}/maint-1").status_code == 204
    assert http.get(f"{ADJ}/maint-1").status_code == 404
    assert http.delete(f"{ADJ}/maint-1").status_code == 404
    assert [a["adjustment_id"] for a in http.get(ADJ).json()] == ["file-window"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (one_off("bad", end="2026-03-10T02:00:00Z"), "end", "end must be after start"),
        (one_off("bad", end="2026-03-10T01:00:00Z"), "end", "end must be after start"),
        ({**one_off("bad"), "end": None, "duration": "2x"}, "duration", "unknown duration unit 'x'"),
        ({**one_off("bad"), "end": None}, "duration", "give an end or a duration"),
        (one_off("bad", duration="1h"), "duration", "not both"),
        ({**one_off("bad", rrule="FREQ=MINUTELY;COUNT=9"), "end": None, "duration": "1m"}, "rrule", "at least hourly"),
        (
            {**one_off("bad", rrule="FREQ=HOURLY;BYMINUTE=0,30;COUNT=9"), "end": None, "duration": "1m"},
            "rrule",
            "more often than hourly",
        ),
        ({**one_off("bad", rrule="FREQ=DAILY"), "end": None, "duration": "1h"}, "rrule", "unbounded"),
        ({**one_off("bad"), "slo_ids": []}, "service_name", "give slo_ids or service_name"),
        (one_off("bad", start="2026-03-10T02:00:00"), "start", "timezone"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(http: httpx2.Client, body: dict[str, Any], field: str, words: str) -> None:
    response = http.post(ADJ, json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", field], detail
    assert words in detail[0]["msg"], detail
    assert http.get(f"{ADJ}/bad").status_code == 404


def _iso(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / 1e6, UTC).isoformat().replace("+00:00", "Z")


def test_an_adjustment_added_after_the_events_excludes_them_and_deleting_it_restores_them(
    http: httpx2.Client, broker: EmbeddedBroker, topology: Topology
) -> None:
    minute = 60_000_000
    m = int(time.time() * 1e6) // minute * minute  # the current whole minute
    # 20 events, one a minute over the last 20 minutes, 10 bad each
    events = [
        Ev(LIVE_SLO, m - (20 - i) * minute + 7_000_000, 0, 10, (m - (20 - i) * minute + 7_000_000) / 1e6)
        for i in range(20)
    ]
    produce_and_wait(broker.bootstrap, topology, keyed_events(events))
    before = http.get(f"/api/v1/slos/{LIVE_SLO}/status").json()
    assert (before["consumed_budget"], before["excluded_total"]) == (200, 0)

    # [m - 20 min, m - 10 min): the first 10 events, on whole minutes (the 1-minute ring's buckets)
    window = {"adjustment_id": "live-window", "start": _iso(m - 20 * minute), "duration": "10m", "slo_ids": [LIVE_SLO]}
    assert http.post(ADJ, json=window).status_code == 201
    status = http.get(f"/api/v1/slos/{LIVE_SLO}/status").json()
    assert (status["consumed_budget"], status["excluded_good"], status["excluded_total"]) == (100, 0, 100)
    assert status["current_sli"] == 0.0
    budget = http.get(f"/api/v1/slos/{LIVE_SLO}/error-budget").json()
    assert (budget["consumed_budget"], budget["excluded_total"]) == (100, 100)

    assert http.delete(f"{ADJ}/live-window").status_code == 204
    after = http.get(f"/api/v1/slos/{LIVE_SLO}/status").json()
    assert (after["consumed_budget"], after["excluded_total"]) == (200, 0)
