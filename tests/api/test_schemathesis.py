"""Property-based: schemathesis generates requests for every operation of the running
worker's /openapi.json (valid and invalid bodies, parameters and paths, with the bearer
token) and checks each answer with every check it has: never a 5xx; status code, content
type, headers and body as the document says; a request the schema refuses is refused, and
one it allows is accepted (the schema states each constraint the API enforces, e.g. a
rule's short window shorter than its long one; what no schema can say is accepted, e.g. an
empty history range, or is a conflict, 409); `Allow` on a 405 lists the path's methods;
the operations that need the token refuse a request without it.

Two runs against one worker: the operations one by one in this process (many examples,
positive and negative), and the `schemathesis run --checks all` command itself, which adds
its coverage phase (boundary values) and stateful sequences (create, then read back,
delete, then read again).

(schemathesis' own `from_fixture(...).parametrize()` does not run on pytest 9: it reads
`request.node._nodeid`. The operations are parametrized here instead, and the document
is checked to hold exactly these.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.checks import load_all_checks

from app.stream.broker import EmbeddedBroker
from tests.api.helpers import ApiWorker, bearer, keyed_events, produce_and_wait, start_api_worker
from tests.stream.helpers import Ev, Spawn, make_topology, slo_def

pytestmark = pytest.mark.kafka

TOKEN = "schemathesis-token"
EXAMPLES = 40  # per operation (valid and invalid requests together), in this process
CLI_EXAMPLES = 20  # per operation and phase, in the `schemathesis run` command
# The whole module: ~55 s of CPU; 82 s wall with a load average of 6.5 on 2 cores.
# The same examples on every run, so CI never flakes; SLO_FUZZ_RANDOM=1 explores new ones.
DERANDOMIZE = not os.environ.get("SLO_FUZZ_RANDOM")
OPERATIONS = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/slos"),
    ("GET", "/api/v1/slos"),
    ("GET", "/api/v1/slos/{slo_id}"),
    ("PUT", "/api/v1/slos/{slo_id}"),
    ("POST", "/api/v1/slos/{slo_id}/burn-rate-alert"),
    ("GET", "/api/v1/slos/{slo_id}/burn-rate-alert"),
    ("GET", "/api/v1/slos/{slo_id}/burn-rate-alert/{rule_id}"),
    ("DELETE", "/api/v1/slos/{slo_id}/burn-rate-alert/{rule_id}"),
    ("GET", "/api/v1/slos/{slo_id}/status"),
    ("GET", "/api/v1/slos/{slo_id}/error-budget"),
    ("GET", "/api/v1/slos/{slo_id}/history"),
    ("GET", "/api/v1/reports"),
    ("GET", "/api/v1/slos/{slo_id}/report"),
    ("GET", "/api/v1/slos/{slo_id}/what-if"),
    ("POST", "/api/v1/adjustments"),
    ("GET", "/api/v1/adjustments"),
    ("GET", "/api/v1/adjustments/{adjustment_id}"),
    ("PUT", "/api/v1/adjustments/{adjustment_id}"),
    ("DELETE", "/api/v1/adjustments/{adjustment_id}"),
    ("DELETE", "/api/v1/slos/{slo_id}"),  # last: it deletes the seeded SLOs it hits
]
SEEDS = ("0", "00", "A", "a", "seed-schemathesis")
PERIODS = ("ROLLING_30D", "CALENDAR_MONTH", "ROLLING_1H", "CALENDAR_QUARTER", "ROLLING_7D")


# A report's period can be well formed (the schema's pattern) and still refused with a 422
# naming it, as issue 12 asks: an ISO year without a week 53, or a period beyond the history's
# 400 days, depend on the year's calendar and on today. No schema can say that; a 422 is allowed.
# Likewise an adjustment's body: end after start, a known duration unit, a bounded RRULE at
# least hourly and some SLO named are checks across fields and texts the schema cannot state.
REPORT_PATHS = {"/api/v1/reports", "/api/v1/slos/{slo_id}/report"}
ADJUSTMENT_WRITES = {"/api/v1/adjustments", "/api/v1/adjustments/{adjustment_id}"}
REPORTS_CONFIG = """\
[[operations]]
include-path-regex = "/reports?$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422"]

[[operations]]
include-path-regex = "/adjustments"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""


@pytest.fixture(scope="module")
def api(broker: EmbeddedBroker, module_spawn: Spawn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorker]:
    # A few SLOs with short ids, which generated path parameters often hit, with data:
    # status, error budget and history then run the engine, not just the 404 path.
    slos = [slo_def(slo_id, period=period) for slo_id, period in zip(SEEDS, PERIODS, strict=True)]
    topology = make_topology(tmp_path_factory.mktemp("schemathesis"), slos, timer_interval_s=600)
    worker = start_api_worker(module_spawn, broker.bootstrap, topology, "api-fuzz", token=TOKEN)
    now_s = time.time()
    events = [
        Ev(slo_id, int((now_s - age) * 1000) * 1000, 990 - i, 1000, int((now_s - age) * 1000) / 1000)
        for i, slo_id in enumerate(SEEDS)
        for age in (29 * 86_400, 2 * 86_400, 3600, 600, 60, 1)
    ]
    produce_and_wait(broker.bootstrap, topology, keyed_events(events))
    yield worker
    worker.close()


@pytest.fixture(scope="module")
def api_schema(api: ApiWorker) -> schemathesis.BaseSchema:
    load_all_checks()
    return schemathesis.openapi.from_url(f"{api.url}/openapi.json")


def test_the_document_has_exactly_these_operations(api_schema: schemathesis.BaseSchema) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.timeout(240)
def test_schemathesis_run_with_every_check_finds_nothing(api: ApiWorker, tmp_path: Path) -> None:
    """`schemathesis run --checks all` with the token. First in the module: the worker holds only
    the seeded SLOs, not what the tests below create."""
    argv = [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()", "run"]
    argv += [f"{api.url}/openapi.json", "--checks", "all", "-H", f"Authorization: Bearer {TOKEN}"]
    argv += ["--max-examples", str(CLI_EXAMPLES), "--workers", "1", "--no-color", "--report-dir", str(tmp_path)]
    argv += ["--generation-deterministic"] if DERANDOMIZE else ["--generation-database", "none"]
    (tmp_path / "schemathesis.toml").write_text(REPORTS_CONFIG)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=220, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-12_000:] + done.stderr[-3_000:]
    assert "No issues found" in done.stdout or " passed" in done.stdout, done.stdout[-3_000:]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_and_never_fails(api_schema: schemathesis.BaseSchema, method: str, path: str) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=DERANDOMIZE,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        every = list(checks.CHECKS.get_all())
        if path in REPORT_PATHS | ADJUSTMENT_WRITES:  # the command's run allows 422 here (REPORTS_CONFIG)
            every = [c for c in every if c.__name__ != "positive_data_acceptance"]
        case.call_and_validate(headers=bearer(TOKEN), timeout=30, checks=every)

    check()
