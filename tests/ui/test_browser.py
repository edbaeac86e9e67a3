"""The web UI in a real browser (Debian's chromium), against a real worker on the session's
Tansu broker: the list shows the topology's SLOs, a burning event turns a row CRITICAL and
its alert appears without a reload, the detail page's charts are drawn, the reports page
downloads its CSV (or says reports are unavailable where the engine has none). Each page's
screenshot is saved under artifacts/ui/."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.stream.broker import EmbeddedBroker
from tests.api.helpers import ApiWorker, start_api_worker
from tests.stream.helpers import Producer, Spawn, Topology, event_bytes, keyed, make_topology, slo_def

pytestmark = [pytest.mark.kafka]
SLO_IDS = ["web-home", "web-login", "api-orders"]
SLI_BLUE = (37, 99, 235)  # the SLI series' stroke (#2563eb, app.js)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Topology:
    slos = [slo_def(s) for s in SLO_IDS]
    slos[0]["description"] = "Home page answers without a 5xx"
    return make_topology(tmp_path_factory.mktemp("ui"), slos, partitions=2)


def produce(bootstrap: str, topology: Topology, events: list[tuple[str, float, int, int]]) -> None:
    """Produce from a thread of its own: Playwright's sync API owns this thread's loop."""

    async def send() -> None:
        async with Producer(bootstrap) as producer:
            await producer.send(topology.metrics, keyed(event_bytes(s, ts, g, t) for s, ts, g, t in events))

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, send()).result(60)


@pytest.fixture(scope="module")
def worker(module_spawn: Spawn, broker: EmbeddedBroker, topology: Topology) -> Iterator[ApiWorker]:
    api = start_api_worker(module_spawn, broker.bootstrap, topology, "ui")
    now = time.time()
    # an hour of history for the charts: web-home at 99.95%, web-login clean
    history = [("web-home", now - m * 60, 1999, 2000) for m in range(60, 0, -1)]
    history += [("web-login", now - m * 60, 500, 500) for m in range(60, 0, -1)]
    produce(broker.bootstrap, topology, history)
    deadline = time.monotonic() + 30
    while api.http.get("/api/v1/slos/web-login/status").json()["current_sli"] is None:
        assert time.monotonic() < deadline, "the history was not processed"
    yield api
    api.close()


def open_live(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#live")).to_have_text("live", timeout=15_000)


def test_the_list_shows_the_topology_slos(page: Page, worker: ApiWorker, artifacts: Path) -> None:
    open_live(page, f"{worker.url}/")
    expect(page.locator(".card")).to_have_count(2)  # services: web, api
    expect(page.locator('.card[data-service="web"] dd').first).to_have_text("2")
    page.screenshot(path=str(artifacts / "overview.png"), full_page=True)
    open_live(page, f"{worker.url}/slos")
    rows = page.locator("tr[data-slo-id]")
    expect(rows).to_have_count(3)
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.sloId)")) == sorted(SLO_IDS)
    expect(page.locator('tr[data-slo-id="web-home"] .sli')).to_have_text("99.950%")
    # search and filters narrow the rows; the objective column sorts
    page.fill('input[name="q"]', "login")
    expect(rows).to_have_count(1)
    page.fill('input[name="q"]', "")
    page.select_option('select[name="service"]', "web")
    expect(rows).to_have_count(2)
    page.screenshot(path=str(artifacts / "list.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.screenshot(path=str(artifacts / "list-phone.png"), full_page=True)


def test_a_burning_event_turns_the_row_critical_and_the_alert_appears_without_reload(
    page: Page, worker: ApiWorker, broker: EmbeddedBroker, topology: Topology, artifacts: Path
) -> None:
    open_live(page, f"{worker.url}/slos")
    row = page.locator('tr[data-slo-id="api-orders"]')
    expect(row.locator(".status")).to_have_text("HEALTHY")
    page.evaluate("window.__notReloaded = true")
    # 19 bad of 20,000 at 99.9%: 95% of the budget spent, CRITICAL (not yet EXHAUSTED); budget-80 fires
    produce(broker.bootstrap, topology, [("api-orders", time.time(), 19_981, 20_000)])
    produced_at = time.monotonic()
    expect(row.locator(".status")).to_have_text("CRITICAL", timeout=10_000)
    updated_s = time.monotonic() - produced_at
    alert = page.locator("#alerts li.alert.firing", has_text="budget-80")
    expect(alert.first).to_be_visible(timeout=10_000)
    expect(alert.first).to_contain_text("SLO api-orders")
    expect(row.locator(".firing .chip").first).to_be_visible()
    assert page.evaluate("window.__notReloaded") is True, "the page was reloaded"
    print(f"row CRITICAL {updated_s:.2f}s after the event was acknowledged")
    page.screenshot(path=str(artifacts / "list-critical.png"), full_page=True)


def canvas_has_color(page: Page, selector: str, rgb: tuple[int, int, int]) -> bool:
    return bool(
        page.evaluate(
            """([selector, [r, g, b]]) => {
                 const canvas = document.querySelector(selector);
                 const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
                 for (let i = 0; i < data.length; i += 4)
                   if (Math.abs(data[i] - r) < 8 && Math.abs(data[i + 1] - g) < 8 && Math.abs(data[i + 2] - b) < 8
                       && data[i + 3] > 200) return true;
                 return false;
               }""",
            [selector, list(rgb)],
        )
    )


def test_the_detail_page_draws_its_charts(page: Page, worker: ApiWorker, artifacts: Path) -> None:
    open_live(page, f"{worker.url}/slos/web-home")
    expect(page.locator("h1")).to_contain_text("SLO web-home")
    sli = page.locator("#sli-chart")
    expect(sli).to_have_attribute("data-points", lambda_points_positive(), timeout=10_000)
    assert canvas_has_color(page, "#sli-chart canvas", SLI_BLUE), "no SLI line drawn"
    expect(page.locator("#budget-chart")).to_have_attribute("data-points", lambda_points_positive())
    assert canvas_has_color(page, "#budget-chart canvas", (22, 163, 74)), "no budget line drawn"
    expect(page.locator("#rules tbody tr")).to_have_count(8)  # 4 burn-rate rules, 3 budget thresholds, stale
    expect(page.locator(".tile").first).to_contain_text("99.950%")
    expect(page.locator("#definition")).to_contain_text("Home page answers without a 5xx")
    page.locator('#presets button[data-range="3600"]').click()
    expect(sli).to_have_attribute("data-points", "60")  # one point a minute over the last hour
    page.screenshot(path=str(artifacts / "detail.png"), full_page=True)


def lambda_points_positive() -> object:
    import re

    return re.compile(r"^[1-9][0-9]*$")


def test_the_reports_page(page: Page, worker: ApiWorker, artifacts: Path) -> None:
    month = time.strftime("%Y-%m", time.gmtime())
    has_reports = worker.http.get(f"/api/v1/reports?period={month}").status_code != 404
    page.goto(f"{worker.url}/reports")
    if not has_reports:  # this engine has no report API: the page says so
        expect(page.locator("#reports-unavailable")).to_be_visible()
        page.screenshot(path=str(artifacts / "reports.png"), full_page=True)
        return
    expect(page.locator("#report-slos tbody tr")).to_have_count(3)
    page.screenshot(path=str(artifacts / "reports.png"), full_page=True)
    with page.expect_download() as download:
        page.locator("#csv").click()
    text = Path(download.value.path()).read_text()
    lines = text.strip().splitlines()
    assert len(lines) == 4 and "slo_id" in lines[0]
    assert {line.split(",")[0] for line in lines[1:]} == set(SLO_IDS)
