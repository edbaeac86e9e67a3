"""Per-client rate limits: token buckets (on a clock the test moves), then a real worker
with SLO_RATE_LIMIT_PER_S=1 / SLO_RATE_LIMIT_BURST=3: the 4th request is a 429 with
Retry-After, another token has its own bucket, the UI, event stream and ops endpoints are
never limited, and 429s are counted per route template on /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from app.api.ratelimit import MAX_CLIENTS, TokenBuckets, client_key
from app.stream.broker import EmbeddedBroker
from tests.api.helpers import ApiWorker, bearer, metric_samples, start_api_worker
from tests.stream.helpers import Spawn, Topology, make_topology, slo_def


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=2, burst=3, clock_s=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token back in half a second at 2/s
    assert buckets.take("b") == 0  # another client: its own bucket
    clock.now_s += 0.5
    assert buckets.take("a") == 0
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now_s += 60  # refills to the burst, never beyond
    assert [buckets.take("a") for _ in range(4)][-1] == pytest.approx(0.5)


def test_buckets_are_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=1, burst=1, clock_s=clock)
    for i in range(MAX_CLIENTS + 10):
        buckets.take(f"c{i}")
        clock.now_s += 0.0001
    assert len(buckets.buckets) <= MAX_CLIENTS


def test_the_client_is_its_token_else_its_address() -> None:
    by_token = client_key({"headers": [(b"authorization", b"Bearer s3cret")], "client": ("10.0.0.1", 5)})
    assert by_token.startswith("token:") and "s3cret" not in by_token
    assert client_key({"headers": [], "client": ("10.0.0.1", 5)}) == "addr:10.0.0.1"


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, module_spawn: Spawn, broker: EmbeddedBroker
) -> Iterator[ApiWorker]:
    topology: Topology = make_topology(tmp_path_factory.mktemp("limits"), [slo_def("shop-a")], partitions=1)
    env = {"SLO_RATE_LIMIT_PER_S": "1", "SLO_RATE_LIMIT_BURST": "3"}
    worker = start_api_worker(module_spawn, broker.bootstrap, topology, "limited", env=env, wait=False)
    # /readyz is exempt: waiting on it spends no token
    worker.wait_ready()
    yield worker
    worker.close()


@pytest.mark.kafka
def test_429_with_retry_after_then_admitted_again(limited: ApiWorker) -> None:
    http = limited.http
    codes = [http.get("/api/v1/slos/shop-a").status_code for _ in range(3)]
    refused = http.get("/api/v1/slos/shop-a/status")
    refused_at = time.monotonic()
    assert codes == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("rate limit exceeded")
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after == 1
    # another client (its bearer token) has a full bucket of its own
    assert [http.get("/api/v1/slos", headers=bearer("other")).status_code for _ in range(3)] == [200, 200, 200]
    # exempt: the UI, its assets, the event stream, ops endpoints
    assert http.get("/").status_code == 200
    assert http.get("/slos/shop-a").status_code == 200
    assert http.get("/static/app.js").status_code == 200
    assert http.get("/healthz").status_code == 200
    with http.stream("GET", "/api/v1/events/stream") as stream:
        assert stream.status_code == 200
    # GraphQL over HTTP is limited like the rest
    assert http.post("/graphql", json={"query": "{ slos { sloId } }"}).status_code == 429
    # admitted again once Retry-After has passed (and not long after)
    while (answer := http.get("/api/v1/slos/shop-a")).status_code == 429:
        assert time.monotonic() - refused_at < retry_after + 1.0, "still refused well after Retry-After"
    assert answer.status_code == 200
    assert time.monotonic() - refused_at >= 0.5  # one token at 1/s: not before it is back
    samples = metric_samples(http.get("/metrics").text)
    refused_status = (
        "slo_api_requests_total",
        frozenset({("method", "GET"), ("route", "/api/v1/slos/{slo_id}/status"), ("status", "429")}),
    )
    assert samples[refused_status] == 1
    assert samples[("slo_api_rate_limited_total", frozenset())] >= 2


@pytest.mark.kafka
def test_openapi_documents_the_429(limited: ApiWorker) -> None:
    spec = limited.http.get("/openapi.json", headers=bearer("docs-reader")).json()
    status_op = spec["paths"]["/api/v1/slos/{slo_id}/status"]["get"]
    assert "Retry-After" in status_op["responses"]["429"]["headers"]
    assert "429" not in spec["paths"]["/healthz"]["get"]["responses"]
