"""Live delivery from a real worker (`python -m app run` on the session's Tansu broker):
Server-Sent Events (filters, resume from Last-Event-ID), the WebSocket, GraphQL queries
and its status subscription, and the request metrics on /metrics.

Events are produced to the metrics topic; what arrives is what the worker published on
its status and alerts topics, read back by its own events tail."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
import websockets

from app.stream.broker import EmbeddedBroker
from tests.api.helpers import ApiWorker, metric_samples, start_api_worker
from tests.stream.helpers import Producer, Spawn, Topology, event_bytes, keyed, make_topology, slo_def

pytestmark = [pytest.mark.kafka]
TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Topology:
    slos = [slo_def(i) for i in ("shop-checkout", "shop-search", "shop-cart", "pay-api", "pay-refunds")]
    return make_topology(tmp_path_factory.mktemp("live"), slos, partitions=4)


@pytest.fixture(scope="module")
def worker(module_spawn: Spawn, broker: EmbeddedBroker, topology: Topology) -> Iterator[ApiWorker]:
    api = start_api_worker(module_spawn, broker.bootstrap, topology, "live")
    yield api
    api.close()


async def produce(bootstrap: str, topology: Topology, *events: tuple[str, int, int]) -> None:
    now = time.time()
    async with Producer(bootstrap) as producer:
        await producer.send(topology.metrics, keyed(event_bytes(s, now, good, total) for s, good, total in events))


class Sse:
    """An open SSE response, parsed into (id, event, data) as frames arrive."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, str, dict[str, Any]]] = []
        self.opened = asyncio.Event()
        self.changed = asyncio.Event()

    async def read(self, response: httpx2.Response) -> None:
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith("retry:"):
                self.opened.set()
            elif line == "":
                if "data" in fields:
                    self.frames.append((fields.get("id", ""), fields.get("event", ""), json.loads(fields["data"])))
                    self.changed.set()
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value

    async def until(self, predicate: Callable[[list[tuple[str, str, dict[str, Any]]]], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not predicate(self.frames):
            self.changed.clear()
            left = deadline - time.monotonic()
            assert left > 0, f"{what}: not seen within {TIMEOUT_S}s; frames: {self.frames}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


class SseClient:
    def __init__(self, url: str) -> None:
        self.http = httpx2.AsyncClient(base_url=url, timeout=httpx2.Timeout(30.0, read=60.0))
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self, query: str = "", headers: dict[str, str] | None = None) -> Sse:
        sse = Sse()
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def run() -> None:
            async with self.http.stream("GET", f"/api/v1/events/stream{query}", headers=headers) as response:
                assert response.status_code == 200, await response.aread()
                assert response.headers["content-type"].startswith("text/event-stream")
                opened.set_result(None)
                await sse.read(response)

        task = asyncio.create_task(run())
        self.tasks.append(task)
        await asyncio.wait_for(opened, TIMEOUT_S)
        await asyncio.wait_for(sse.opened.wait(), TIMEOUT_S)  # subscribed: the preamble is sent after
        return sse

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()


def statuses(frames: list[tuple[str, str, dict[str, Any]]], slo_id: str) -> list[dict[str, Any]]:
    return [d for _, e, d in frames if e == "slo_status_updated" and d["slo_status_update"]["slo_id"] == slo_id]


def test_sse_filters_and_resumes_from_last_event_id(
    worker: ApiWorker, broker: EmbeddedBroker, topology: Topology
) -> None:
    async def run() -> None:
        client = SseClient(worker.url)
        try:
            everything = await client.open()
            checkout = await client.open("?slo_id=shop-checkout")
            pay = await client.open("?service_name=pay&event_type=slo_status_updated")
            await produce(broker.bootstrap, topology, ("shop-checkout", 990, 1000), ("pay-api", 500, 500))
            await everything.until(
                lambda f: statuses(f, "shop-checkout") and statuses(f, "pay-api"), "both status events"
            )
            await checkout.until(lambda f: statuses(f, "shop-checkout"), "shop-checkout's status event")
            await pay.until(lambda f: statuses(f, "pay-api"), "pay-api's status event")
            first = statuses(checkout.frames, "shop-checkout")[0]["slo_status_update"]
            assert (first["good_events"], first["total_events"]) == (990, 1000)
            assert {_slo_of(d) for _, _, d in checkout.frames} == {"shop-checkout"}
            assert {_slo_of(d) for _, _, d in pay.frames} == {"pay-api"}
            assert {e for _, e, _ in pay.frames} == {"slo_status_updated"}
            last_id = checkout.frames[-1][0]
            seen_ids = {d["event_id"] for _, _, d in checkout.frames}  # up to last_id (no await between)
            last_sequence = max(d["sequence"] for d in statuses(checkout.frames, "shop-checkout"))
            # missed while away: one more event; a new connection with Last-Event-ID gets it, and only it
            await produce(broker.bootstrap, topology, ("shop-checkout", 7, 10))
            await everything.until(
                lambda f: any(d["slo_status_update"]["total_events"] == 1010 for d in statuses(f, "shop-checkout")),
                "the second status event",
            )
            resumed = await client.open("?slo_id=shop-checkout", headers={"Last-Event-ID": last_id})
            await resumed.until(lambda f: statuses(f, "shop-checkout"), "the missed status event")
            got = statuses(resumed.frames, "shop-checkout")[0]
            assert got["sequence"] > last_sequence
            assert got["slo_status_update"]["total_events"] == 1010
            assert not seen_ids & {d["event_id"] for _, _, d in resumed.frames}, "an event seen before came again"
            # the same position through the query parameter (EventSource cannot set headers at first)
            again = await client.open(f"?slo_id=shop-checkout&last_event_id={last_id}")
            await again.until(lambda f: statuses(f, "shop-checkout"), "the missed event again")
            assert statuses(again.frames, "shop-checkout")[0]["event_id"] == got["event_id"]
        finally:
            await client.close()

    asyncio.run(run())


def test_sse_refuses_bad_filters_and_ids(worker: ApiWorker) -> None:
    bad_type = worker.http.get("/api/v1/events/stream?event_type=nope")
    assert bad_type.status_code == 422 and "event_type" in bad_type.text
    bad_id = worker.http.get("/api/v1/events/stream", headers={"Last-Event-ID": "not-an-id"})
    assert bad_id.status_code == 422 and "Last-Event-ID" in bad_id.text


def test_websocket_delivers_the_alert(worker: ApiWorker, broker: EmbeddedBroker, topology: Topology) -> None:
    ws_url = worker.url.replace("http://", "ws://") + "/api/v1/events/ws?slo_id=pay-refunds&event_type=slo_alert"

    async def run() -> dict[str, Any]:
        async with websockets.connect(ws_url, open_timeout=TIMEOUT_S) as ws:
            # the socket is subscribed once accepted; the handshake returns after the accept
            await produce(broker.bootstrap, topology, ("pay-refunds", 0, 1000))
            message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
            return message  # type: ignore[no-any-return]

    message = asyncio.run(run())
    event = message["event"]
    assert message["id"].startswith("a0=")
    assert (event["event_type"], event["slo_id"], event["state"]) == ("slo_alert", "pay-refunds", "firing")
    assert event["service_name"] == "pay" and event["rule"].startswith("page-")


def gql(worker: ApiWorker, query: str, **variables: Any) -> dict[str, Any]:
    response = worker.http.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def test_graphql_queries_answer_what_rest_does(worker: ApiWorker, broker: EmbeddedBroker, topology: Topology) -> None:
    async def run() -> None:
        client = SseClient(worker.url)
        try:
            stream = await client.open("?slo_id=shop-cart")
            await produce(broker.bootstrap, topology, ("shop-cart", 95, 100), ("shop-cart", 100, 100))
            await stream.until(
                lambda f: any(d["slo_status_update"]["total_events"] == 200 for d in statuses(f, "shop-cart")),
                "both events counted",
            )
        finally:
            await client.close()

    asyncio.run(run())
    data = gql(
        worker,
        """query($id: String!, $s: DateTime!, $e: DateTime!) {
          slos { sloId serviceName }
          slo(sloId: $id) { sloId targetPercentage timePeriod totalEvents recommendations
            status { status currentSli errorBudgetRemaining burnRate totalBudget consumedBudget hasData
              firing { name } }
            budget { totalBudget consumedBudget remainingBudget }
            history(start: $s, end: $e) { goodEvents totalEvents }
            rules { name kind threshold } } }""",
        id="shop-cart",
        s=_iso(time.time() - 3600),
        e=_iso(time.time() + 120),
    )
    assert [s["sloId"] for s in data["slos"]] == ["pay-api", "pay-refunds", "shop-cart", "shop-checkout", "shop-search"]
    slo = data["slo"]
    rest_status = worker.http.get("/api/v1/slos/shop-cart/status").json()
    rest_budget = worker.http.get("/api/v1/slos/shop-cart/error-budget").json()
    assert slo["status"]["currentSli"] == rest_status["current_sli"] == 97.5
    assert slo["status"]["consumedBudget"] == rest_status["consumed_budget"] == 5
    assert slo["status"]["status"] == rest_status["status"]
    assert slo["budget"]["totalBudget"] == rest_budget["total_budget"] == pytest.approx(0.2)
    assert slo["totalEvents"] == 200
    assert sum(p["goodEvents"] for p in slo["history"]) == 195
    assert sum(p["totalEvents"] for p in slo["history"]) == 200
    rules = {r["name"]: r for r in slo["rules"]}
    assert rules["page-1h-5m"]["threshold"] == pytest.approx(14.4) and rules["budget-80"]["kind"] == "budget"
    assert gql(worker, '{ slo(sloId: "nope") { sloId } }') == {"slo": None}
    # read-only: no mutation type at all
    refused = worker.http.post("/graphql", json={"query": 'mutation { deleteSlo(id: "shop-cart") }'}).json()
    assert refused["errors"]


def test_graphql_subscription_to_status_events(worker: ApiWorker, broker: EmbeddedBroker, topology: Topology) -> None:
    ws_url = worker.url.replace("http://", "ws://") + "/graphql"

    async def run() -> dict[str, Any]:
        async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=TIMEOUT_S) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))["type"] == "connection_ack"
            query = (
                'subscription { statusEvents(sloId: ["shop-search"]) { sloId serviceName status currentSli sequence } }'
            )
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            # the subscription starts asynchronously: keep producing until its first event arrives
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                await produce(broker.bootstrap, topology, ("shop-search", 3, 4))
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 2.0))
                except TimeoutError:
                    continue
                return message  # type: ignore[no-any-return]
            raise AssertionError("no subscription event")

    message = asyncio.run(run())
    assert message["type"] == "next", message
    event = message["payload"]["data"]["statusEvents"]
    assert (event["sloId"], event["serviceName"]) == ("shop-search", "shop")
    assert event["currentSli"] == 75.0 and event["sequence"] >= 1


def test_request_metrics_per_route_template(worker: ApiWorker) -> None:
    assert worker.http.get("/api/v1/slos/shop-cart").status_code == 200
    assert worker.http.get("/api/v1/slos/no-such-slo").status_code == 404
    assert worker.http.get("/no/such/path").status_code == 404
    samples = metric_samples(worker.http.get("/metrics").text)

    def count(route: str, status: str) -> float:
        return samples.get(
            ("slo_api_requests_total", frozenset({("method", "GET"), ("route", route), ("status", status)})), 0
        )

    assert count("/api/v1/slos/{slo_id}", "200") >= 1
    assert count("/api/v1/slos/{slo_id}", "404") >= 1
    assert count("<unmatched>", "404") >= 1
    latency = (
        "slo_api_request_duration_seconds_count",
        frozenset({("method", "GET"), ("route", "/api/v1/slos/{slo_id}")}),
    )
    assert samples[latency] >= 2
    assert not any("no-such" in dict(labels).get("route", "") for _, labels in samples)


def _slo_of(event: dict[str, Any]) -> str:
    return event["slo_status_update"]["slo_id"] if "slo_status_update" in event else event["slo_id"]  # type: ignore[no-any-return]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
