"""The web UI: a page per view, rendered here as a shell, filled by app/api/static/app.js
from /graphql and the REST API and kept live by the event stream (SSE).

Everything ships inside the package (app/api/static: the script, the stylesheet and
uPlot 1.6.32, MIT, vendored from npm); nothing is fetched from elsewhere at run time.
Pages: `/` services overview, `/slos` the SLO list, `/slos/{slo_id}` an SLO's detail,
`/reports` compliance reports.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSET_VERSION = "2"  # bumped when the assets change: browsers cache them
NAV = (("/", "Services", "overview"), ("/slos", "SLOs", "list"), ("/reports", "Reports", "reports"))


def page(view: str, title: str, **data: str) -> HTMLResponse:
    """A page's shell: the view's name and parameters as data attributes, read by app.js."""
    attributes = " ".join(f'data-{k.replace("_", "-")}="{html.escape(v)}"' for k, v in data.items())
    links = "".join(
        f'<a href="{href}"{" class=active" if name == view else ""}>{label}</a>' for href, label, name in NAV
    )
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · SLO engine</title>
<link rel="stylesheet" href="/static/uPlot.min.css?v={ASSET_VERSION}">
<link rel="stylesheet" href="/static/app.css?v={ASSET_VERSION}">
</head>
<body data-view="{view}" {attributes}>
<header><a class="brand" href="/">SLO engine</a><nav>{links}</nav>
<span id="live" class="live off" title="live updates">offline</span></header>
<main id="app"><p class="muted">Loading…</p></main>
<noscript>This page needs JavaScript; the same figures are at <a href="/docs">/docs</a> (REST) and /graphql.</noscript>
<script src="/static/uPlot.iife.min.js?v={ASSET_VERSION}"></script>
<script src="/static/app.js?v={ASSET_VERSION}"></script>
</body>
</html>
"""
    return HTMLResponse(body, headers={"Cache-Control": "no-cache"})


def install_ui(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def overview() -> HTMLResponse:
        return page("overview", "Services")

    @app.get("/slos", include_in_schema=False)
    async def slo_list() -> HTMLResponse:
        return page("list", "SLOs")

    @app.get("/slos/{slo_id}", include_in_schema=False)
    async def slo_detail(slo_id: Annotated[str, PathParam(min_length=1, max_length=100)]) -> HTMLResponse:
        return page("detail", slo_id, slo_id=slo_id)

    @app.get("/reports", include_in_schema=False)
    async def reports() -> HTMLResponse:
        return page("reports", "Reports")
