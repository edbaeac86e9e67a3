"""Budget adjustments over HTTP: `POST/GET/PUT/DELETE /api/v1/adjustments[/{id}]`.

Writes go to the compacted adjustments topic (app/stream/adjustments_feed) and need
the same bearer token as SLO writes; a bad body is a 422 naming the field (end not
after start, an unknown duration unit, an unbounded or sub-hourly RRULE, no SLO named).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Response, params, status
from pydantic import BaseModel

from app.api.service import SloService
from app.domain.adjustments import AdjustmentDefinition

ADJUSTMENTS = "/api/v1/adjustments"
AdjustmentIdPath = Annotated[
    str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", description="adjustment id")
]
Responses = dict[int | str, dict[str, Any]]


class AdjustmentProblem(BaseModel):
    detail: str


def add_adjustment_routes(app: FastAPI, service: SloService, write: list[params.Depends], auth: Responses) -> None:
    not_found: Responses = {404: {"model": AdjustmentProblem, "description": "No adjustment of that id."}}

    def known(adjustment_id: str) -> AdjustmentDefinition:
        found = service.adjustments().get(adjustment_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no adjustment {adjustment_id!r}")
        return found

    @app.post(
        ADJUSTMENTS,
        status_code=201,
        dependencies=write,
        tags=["adjustments"],
        responses={**auth, 409: {"model": AdjustmentProblem, "description": "An adjustment of that id exists."}},
    )
    async def create_adjustment(adjustment: AdjustmentDefinition) -> AdjustmentDefinition:
        """Exclude a range of event time from the SLOs named (retroactive: past events too)."""
        if adjustment.adjustment_id in service.adjustments():
            raise HTTPException(status.HTTP_409_CONFLICT, f"adjustment {adjustment.adjustment_id!r} exists")
        await service.put_adjustment(adjustment)
        return adjustment

    @app.get(ADJUSTMENTS, tags=["adjustments"])
    async def list_adjustments() -> list[AdjustmentDefinition]:
        return sorted(service.adjustments().values(), key=lambda a: a.adjustment_id)

    @app.get(f"{ADJUSTMENTS}/{{adjustment_id}}", tags=["adjustments"], responses=not_found)
    async def get_adjustment(adjustment_id: AdjustmentIdPath) -> AdjustmentDefinition:
        return known(adjustment_id)

    @app.put(
        f"{ADJUSTMENTS}/{{adjustment_id}}",
        dependencies=write,
        tags=["adjustments"],
        responses={
            **auth,
            **not_found,
            409: {"model": AdjustmentProblem, "description": "The body's adjustment_id is not the path's."},
        },
    )
    async def replace_adjustment(
        adjustment_id: AdjustmentIdPath, adjustment: AdjustmentDefinition
    ) -> AdjustmentDefinition:
        known(adjustment_id)
        if adjustment.adjustment_id != adjustment_id:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"the body's adjustment_id {adjustment.adjustment_id!r} is not the path's {adjustment_id!r}",
            )
        await service.put_adjustment(adjustment)
        return adjustment

    @app.delete(
        f"{ADJUSTMENTS}/{{adjustment_id}}",
        status_code=204,
        dependencies=write,
        tags=["adjustments"],
        responses={**auth, **not_found},
    )
    async def delete_adjustment(adjustment_id: AdjustmentIdPath) -> Response:
        """Delete an adjustment: its events count again."""
        known(adjustment_id)
        await service.delete_adjustment(adjustment_id)
        return Response(status_code=204)
