"""Status and alert events as they are published: Server-Sent Events and a WebSocket.

`GET /api/v1/events/stream` (SSE) and `/api/v1/events/ws` (WebSocket), both filtered by
`slo_id`, `service_name` and `event_type` (each may be repeated). SSE resumes from
`Last-Event-ID` (or `?last_event_id=`); a WebSocket from `?last_event_id=`. Each SSE
event is `id:` (the position to resume from), `event:` (slo_status_updated, slo_alert or
reset) and `data:` (the event's JSON as published). A WebSocket message is
`{"id": ..., "event": <the event>}`. A `reset` says events were missed: reload, then
follow the stream again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect, status
from fastapi.responses import StreamingResponse

from app.api.hub import EVENT_TYPES, BadEventId, EventHub, Filter, HubEvent, make_filter

KEEPALIVE_S = 15.0
RETRY_MS = 1000
IdsQuery = Annotated[list[str], Query(max_length=100)]


def sse_frame(event: HubEvent) -> bytes:
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event.event_id.encode(), event.event_type.encode(), event.data)


def ws_message(event: HubEvent) -> str:
    return f'{{"id":"{event.event_id}","event":{event.data.decode()}}}'


def install_events(app: FastAPI, hub: EventHub) -> None:
    def event_filter(slo_id: list[str], service_name: list[str], event_type: list[str]) -> Filter:
        unknown = sorted(set(event_type) - set(EVENT_TYPES))
        if unknown:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                [{"loc": ["query", "event_type"], "msg": f"{unknown[0]!r} is not one of {list(EVENT_TYPES)}"}],
            )
        return make_filter(slo_id, service_name, event_type)

    @app.get(
        "/api/v1/events/stream",
        response_class=StreamingResponse,
        # not in /openapi.json: an endless stream is no request/response operation (schemathesis would
        # wait on it forever); the README documents it, docs/asyncapi.yaml its events
        include_in_schema=False,
    )
    async def event_stream(
        request: Request,
        slo_id: IdsQuery = [],  # noqa: B006  # FastAPI copies query defaults
        service_name: IdsQuery = [],  # noqa: B006
        event_type: IdsQuery = [],  # noqa: B006
        last_event_id: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> StreamingResponse:
        """Status and alert events as Server-Sent Events (see the module's docstring)."""
        flt = event_filter(slo_id, service_name, event_type)
        resume = request.headers.get("last-event-id") or last_event_id
        try:
            hub.since(resume, flt)
        except BadEventId as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY, [{"loc": ["header", "Last-Event-ID"], "msg": str(exc)}]
            ) from exc

        async def frames() -> AsyncIterator[bytes]:
            async with hub.subscribe(flt, resume) as sub:  # subscribed before the first byte is sent
                yield b"retry: %d\n: %s\n\n" % (RETRY_MS, format_start(hub).encode())
                while True:
                    try:
                        event = await _next(sub.queue, KEEPALIVE_S)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                    yield sse_frame(event)
                    if sub.cut_off:
                        return

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)

    @app.websocket("/api/v1/events/ws")
    async def event_socket(
        websocket: WebSocket,
        slo_id: IdsQuery = [],  # noqa: B006
        service_name: IdsQuery = [],  # noqa: B006
        event_type: IdsQuery = [],  # noqa: B006
        last_event_id: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> None:
        unknown = sorted(set(event_type) - set(EVENT_TYPES))
        try:
            if unknown:
                raise BadEventId(f"event_type {unknown[0]!r} is not one of {list(EVENT_TYPES)}")
            hub.since(last_event_id, Filter())
        except BadEventId as exc:
            await websocket.close(code=1008, reason=str(exc)[:120])
            return
        flt = make_filter(slo_id, service_name, event_type)
        closed: asyncio.Task[None] | None = None
        try:
            async with hub.subscribe(flt, last_event_id) as sub:  # subscribed before the client is answered
                await websocket.accept()
                closed = asyncio.create_task(_until_closed(websocket))
                while not closed.done():
                    getting = asyncio.create_task(sub.queue.get())
                    await asyncio.wait([getting, closed], return_when=asyncio.FIRST_COMPLETED)
                    if not getting.done():
                        getting.cancel()
                        return
                    await websocket.send_text(ws_message(getting.result()))
                    if sub.cut_off:
                        await websocket.close(code=1013, reason="fell behind: reconnect with last_event_id")
                        return
        except WebSocketDisconnect:
            return
        finally:
            if closed is not None:
                closed.cancel()


def format_start(hub: EventHub) -> str:
    return "streaming" if hub.started.is_set() else "waiting for the broker"


async def _next(queue: asyncio.Queue[HubEvent], timeout_s: float) -> HubEvent:
    return await asyncio.wait_for(queue.get(), timeout_s)


async def _until_closed(websocket: WebSocket) -> None:
    """Reads (and ignores) what the client sends, until it closes."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
