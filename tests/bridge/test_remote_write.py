"""The remote-write receiver, over HTTP, publishing to a real broker (Tansu)."""

from __future__ import annotations

import asyncio
import json
import math
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from app.bridge.remote_write import (
    DecodeError,
    compress,
    decode_write_request,
    decompress,
    encode_write_request,
)
from app.domain.models import SLO
from app.stream.definitions_feed import delete_definition, publish_definition
from app.stream.kafka_io import ensure_topics
from app.topology import load_topology
from tests.bridge.helpers import BridgeProcess
from tests.stream.helpers import TopicReader, make_topology, slo_def

HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}


def test_codec_round_trip_skips_unknown_fields_and_stale_markers() -> None:
    body = encode_write_request(
        [
            ({"__name__": "req_total", "code": "200"}, [(5.0, 1_000), (7.0, 2_000), (None, 3_000)]),
            ({"__name__": "neg_ts"}, [(1.0, -5)]),
        ]
    )
    # an unknown field (metadata = 3) before the series, as Prometheus sends with metadata on
    body = b"\x1a\x03\x08\x01\x10" + body
    [a, b] = decode_write_request(decompress(compress(body), 1 << 20))
    assert a.labels == [("__name__", "req_total"), ("code", "200")]
    assert a.samples == [(5.0, 1_000), (7.0, 2_000)] and a.stale == 1
    assert b.samples == [(1.0, -5)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x0a\x05\x0a\x03", "runs past the end"),
        (b"\x0a", "truncated varint"),
        (b"\x0f", "wire type 7"),
        (b"\x0a\x00", "without labels"),
        (b"\x0a\x06\x0a\x04\x12\x02\xff\xfe", "not valid UTF-8"),
    ],
)
def test_malformed_protobuf_is_a_decode_error(body: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_write_request(body)


def test_decompression_limit() -> None:
    with pytest.raises(DecodeError, match="exceeds the limit"):
        decompress(compress(b"\x00" * 2000), 1000)
    with pytest.raises(DecodeError, match="not snappy"):
        decompress(b"\xff\xff\xff\xff\xff\xff", 1000)


def write(samples: dict[str, list[tuple[float, int]]], labels: dict[str, str] | None = None) -> bytes:
    series = [({"__name__": "req_total", "code": code, **(labels or {})}, s) for code, s in samples.items()]
    return compress(encode_write_request(series))


def events(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.kafka
def test_receiver_publishes_exact_deltas_and_refuses_bad_input(
    bootstrap: str, tmp_path: Path, bridges: list[BridgeProcess]
) -> None:
    asyncio.run(receiver_scenario(bootstrap, tmp_path, bridges))


async def receiver_scenario(bootstrap: str, tmp_path: Path, bridges: list[BridgeProcess]) -> None:
    slos = [
        slo_def("shop-avail", sli_query='sum(rate(req_total{code!~"5.."}[5m])) / sum(rate(req_total[5m]))'),
        slo_def("shop-errors", sli={"bad": 'req_total{code=~"5.."}', "total": "req_total"}),
        slo_def("shop-manual"),  # no SLI: not the bridge's
    ]
    topology = make_topology(tmp_path, slos, partitions=2)
    await ensure_topics(bootstrap, load_topology(topology.path))
    state = tmp_path / "state.json"
    argv = ["remote-write", "--listen", "127.0.0.1:0", "--bootstrap", bootstrap, "--topology", str(topology.path)]
    bridge = BridgeProcess([*argv, "--state", str(state), "--flush-interval", "200ms"], tmp_path, "rw")
    bridges.append(bridge.start())
    url = await bridge.url()
    assert "feeding 2 SLO(s)" in bridge.text()
    async with httpx.AsyncClient(base_url=url, timeout=10) as http, TopicReader(bootstrap, topology.metrics) as reader:
        ok = await http.post(
            "/api/v1/write", content=write({"200": [(100, 1_000)], "503": [(4, 1_000)]}), headers=HEADERS
        )
        assert ok.status_code == 204, ok.text
        body = write({"200": [(130, 2_000), (150, 3_000)], "503": [(6, 2_000), (1, 3_000)]})
        assert (await http.post("/api/v1/write", content=body, headers=HEADERS)).status_code == 204
        again = await http.post("/api/v1/write", content=body, headers=HEADERS)  # a retried request
        assert again.status_code == 204
        late = await http.post("/api/v1/write", content=write({"200": [(120, 1_500)]}), headers=HEADERS)
        assert late.status_code == 204  # older than the series' last sample: ignored

        await reader.wait_until(
            lambda rs: sum(e["total"] for e in events(rs) if e["slo_id"] == "shop-avail") == 53, 20, "53 requests"
        )
        by = {(e["slo_id"], e["timestamp"]): (e["good"], e["total"]) for e in events(reader.records)}
        # 200: 100 -> 130 -> 150 (then 120 at 1500 ms: out of order); 503: 4 -> 6 -> reset to 1
        assert by[("shop-avail", 2.0)] == (30, 32) and by[("shop-avail", 3.0)] == (20, 21)
        assert by[("shop-errors", 2.0)] == (30, 32) and by[("shop-errors", 3.0)] == (20, 21)
        assert {r.key for r in reader.records} == {b"shop-avail", b"shop-errors"}
        assert all(e["event_id"] for e in events(reader.records))

        refusals = [
            ({"Content-Type": "text/plain", "Content-Encoding": "snappy"}, body, 415),
            ({**HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"}, body, 415),
            ({**HEADERS, "Content-Encoding": "gzip"}, body, 415),
            (HEADERS, b"not snappy at all", 400),
            (HEADERS, compress(b"\x0a\x05\x0a\x03"), 400),
            (HEADERS, b"\x00" * (10 * 1024 * 1024 + 1), 413),
            (HEADERS, write({"200": [(math.nan, 4_000), (160, 5_000)]}), 400),
            (HEADERS, write({"200": [(170.5, 6_000)]}), 400),
        ]
        for headers, content, status in refusals:
            response = await http.post("/api/v1/write", content=content, headers=headers)
            assert response.status_code == status, (headers, response.text)
        assert bridge.alive()
        # the NaN request's other sample was applied: 150 -> 160
        await reader.wait_until(
            lambda rs: sum(e["total"] for e in events(rs) if e["slo_id"] == "shop-avail") == 63, 20, "63 requests"
        )
        text = (await http.get("/metrics")).text
        assert metric(text, 'slo_bridge_requests_total{outcome="unsupported_media_type"}') == 3
        assert metric(text, 'slo_bridge_requests_total{outcome="malformed"}') == 2
        assert metric(text, 'slo_bridge_requests_total{outcome="too_large"}') == 1
        assert metric(text, 'slo_bridge_requests_total{outcome="bad_samples"}') == 2
        assert metric(text, 'slo_bridge_samples_total{outcome="nan"}') == 1
        assert metric(text, 'slo_bridge_samples_total{outcome="not_a_count"}') == 1
        assert metric(text, 'slo_bridge_samples_total{outcome="out_of_order"}') == 5  # 1500 ms, then the retry's 4
        assert metric(text, 'slo_bridge_samples_total{outcome="reset"}') == 1
    assert bridge.stop() == 0
    assert "remote write refused (too_large)" in bridge.text("err")


@pytest.mark.kafka
def test_restart_neither_double_counts_nor_loses(bootstrap: str, tmp_path: Path, bridges: list[BridgeProcess]) -> None:
    asyncio.run(restart_scenario(bootstrap, tmp_path, bridges))


async def restart_scenario(bootstrap: str, tmp_path: Path, bridges: list[BridgeProcess]) -> None:
    """Samples taken before a SIGKILL that were never flushed are counted after the restart
    (their increase is the next sample's delta against the saved value); pending events
    are published again with the same event_id (the worker drops duplicates)."""
    topology = make_topology(tmp_path, [slo_def("api-avail", sli_query='sum(req_total{code="200"}) / sum(req_total)')])
    await ensure_topics(bootstrap, load_topology(topology.path))
    state = tmp_path / "state.json"
    argv = ["remote-write", "--listen", "127.0.0.1:0", "--bootstrap", bootstrap, "--topology", str(topology.path)]
    argv += ["--state", str(state)]
    first = BridgeProcess([*argv, "--flush-interval", "2s"], tmp_path, "first").start()
    bridges.append(first)
    async with TopicReader(bootstrap, topology.metrics) as reader:
        async with httpx.AsyncClient(base_url=await first.url(), timeout=10) as http:
            for i in range(5):
                ok = await http.post(
                    "/api/v1/write", content=write({"200": [(10 * i, 1000 * (i + 1))]}), headers=HEADERS
                )
                assert ok.status_code == 204
            await reader.wait_until(lambda rs: sum(e["total"] for e in events(rs)) == 40, 20, "40 published")
            # accepted, then the bridge dies before (most likely) flushing it
            ok = await http.post("/api/v1/write", content=write({"200": [(50, 6000)]}), headers=HEADERS)
            assert ok.status_code == 204
        first.close()  # SIGKILL: no last flush
        second = BridgeProcess([*argv, "--flush-interval", "100ms"], tmp_path, "second").start()
        bridges.append(second)
        async with httpx.AsyncClient(base_url=await second.url(), timeout=10) as http:
            # Prometheus sends what it has not sent yet; a retried 50 @ 6 s is a duplicate or not, per the state
            body = write({"200": [(50, 6000), (60, 7000), (75, 9000)]})
            assert (await http.post("/api/v1/write", content=body, headers=HEADERS)).status_code == 204
            await reader.wait_until(lambda rs: sum(e["total"] for e in events(rs)) >= 75, 20, "75 published")
        assert second.stop() == 0
        await reader.read_to_end()
    totals = events(reader.records)
    ids = [e["event_id"] for e in totals]
    unique = {e["event_id"]: e for e in totals}
    assert sum(e["total"] for e in unique.values()) == 75  # the raw increase 0 -> 75, once
    assert len(ids) >= len(unique)


@pytest.mark.kafka
def test_slos_created_and_deleted_through_the_definitions_topic_are_followed(
    bootstrap: str, tmp_path: Path, bridges: list[BridgeProcess]
) -> None:
    asyncio.run(follow_scenario(bootstrap, tmp_path, bridges))


async def follow_scenario(bootstrap: str, tmp_path: Path, bridges: list[BridgeProcess]) -> None:
    topology = make_topology(tmp_path, [slo_def("seed-avail", sli_query="sum(ok_total) / sum(all_total)")])
    await ensure_topics(bootstrap, load_topology(topology.path))
    argv = ["remote-write", "--listen", "127.0.0.1:0", "--bootstrap", bootstrap, "--topology", str(topology.path)]
    bridge = BridgeProcess([*argv, "--state", str(tmp_path / "s.json"), "--flush-interval", "100ms"], tmp_path, "f")
    bridges.append(bridge.start())
    url = await bridge.url()
    new = SLO.model_validate(slo_def("api-errors", sli={"bad": 'req_total{code=~"5.."}', "total": "req_total"}))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await publish_definition(producer, topology.definitions, new)
        await bridge.wait_for(r"SLO api-errors: fed by the bridge", stream="err")
        async with httpx.AsyncClient(base_url=url, timeout=10) as http, TopicReader(bootstrap, topology.metrics) as m:
            for i, (ok, bad) in enumerate([(10, 1), (25, 3)]):
                body = write({"200": [(ok, 1000 * (i + 1))], "503": [(bad, 1000 * (i + 1))]})
                assert (await http.post("/api/v1/write", content=body, headers=HEADERS)).status_code == 204
            await m.wait_until(lambda rs: sum(e["total"] for e in events(rs)) == 17, 20, "17 requests")
            assert {(e["slo_id"], e["good"], e["total"]) for e in events(m.records) if e["total"]} == {
                ("api-errors", 15, 17)
            }
            await delete_definition(producer, topology.definitions, "api-errors")
            await bridge.wait_for(r"SLO api-errors: no longer fed by the bridge", stream="err")
            body = write({"200": [(40, 3000)], "503": [(9, 3000)]})
            assert (await http.post("/api/v1/write", content=body, headers=HEADERS)).status_code == 204
            text = (await http.get("/metrics")).text
            assert metric(text, 'slo_bridge_samples_total{outcome="unmatched"}') == 2
    finally:
        await producer.stop()


def test_samples_in_any_field_order_and_with_unknown_fields() -> None:
    """The fast path reads value-then-timestamp; other encodings take the general one."""
    label = b"\x0a\x0c\x0a\x08__name__\x12\x00"  # __name__="" is still a label with a name
    value = b"\x09" + struct.pack("<d", 3.0)
    reversed_sample = b"\x10\xe8\x07" + value  # timestamp 1000 first
    extra = value + b"\x10\xd0\x0f" + b"\x18\x01"  # timestamp 2000, then an unknown varint field 3
    series = label + b"\x12" + bytes([len(reversed_sample)]) + reversed_sample
    series += b"\x12" + bytes([len(extra)]) + extra
    [s] = decode_write_request(b"\x0a" + bytes([len(series)]) + series)
    assert s.labels == [("__name__", "")] and s.samples == [(3.0, 1000), (3.0, 2000)]
