"""``GET /v1/jobs/{id}/events``: a job's progress as Server-Sent Events.

    id: 17
    event: progress
    data: {"job_id": "job_…", "type": "progress", "percent": 42.0, "audio_done_s": 97.5, …}

The events are the job's audit trail, read from the database (so any server of a deployment
can stream any job, whichever worker runs it): queued, started, progress, retrying, requeued,
fallback, then completed, failed or cancelled, after which the stream ends. Their ids increase:
a client that reconnects with ``Last-Event-ID`` (or ``?last_event_id=``) gets what it missed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from echoic.server import sse
from echoic.server.auth import tenant_of
from echoic.server.schemas import ERROR_RESPONSES
from echoic.server.state import ServerState, request_info, state_of
from echoic.storage.audit import Event, events
from echoic.storage.records import AuditEvent

router = APIRouter(tags=["jobs"])

EVENTS_POLL_S = 0.25  # how often an event stream looks for news in the database


@router.get(
    "/jobs/{job_id}/events",
    summary="A job's progress as Server-Sent Events",
    responses={
        200: {"content": {sse.MEDIA_TYPE: {"schema": {"type": "string"}}}},
        **ERROR_RESPONSES,
    },
    response_class=Response,
)
async def job_events(
    request: Request,
    job_id: str,
    last_event_id: Annotated[
        int | None,
        Query(ge=0, description="Resume after this event id (or send Last-Event-ID)."),
    ] = None,
) -> Response:
    state = state_of(request)
    store = state.job_store()
    tenant = tenant_of(request_info(request).principal)
    await asyncio.to_thread(store.jobs.get, tenant, job_id)  # 404 before the stream starts
    header = request.headers.get("last-event-id", "")
    after = last_event_id if last_event_id is not None else int(header) if header.isdigit() else 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal after
        while True:
            # The status first: once it says finished, the events read after it include the
            # last one (read the other way round, a job finishing in between would end the
            # stream before its final event).
            job = await asyncio.to_thread(store.jobs.get, tenant, job_id)
            news = await asyncio.to_thread(_job_events, state, job_id, after)
            for event in news:
                after = event.id
                name = SSE_EVENTS.get(event.event)
                if name is not None:
                    yield _sse(event.id, name, _event_data(job_id, name, event))
            if job.status.finished:
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENTS_POLL_S)

    return sse.EventStreamResponse(stream(), on_close=lambda: None)


#: Audit events → the SSE event names a client sees.
SSE_EVENTS = {
    Event.CREATED: "queued",
    Event.LEASED: "started",
    Event.PROGRESS: "progress",
    Event.COMPLETED: "completed",
    Event.FAILED: "failed",
    Event.CANCELLED: "cancelled",
    Event.RETRIED: "retrying",
    Event.LEASE_EXPIRED: "requeued",
    Event.RELEASED: "requeued",
    Event.FALLBACK: "fallback",
}


def _job_events(state: ServerState, job_id: str, after: int) -> list[AuditEvent]:
    with state.job_store().db.read() as conn:
        return events(conn, job_id=job_id, after_id=after, limit=500)


def _event_data(job_id: str, name: str, event: AuditEvent) -> dict[str, Any]:
    data: dict[str, Any] = {"job_id": job_id, "type": name, "at": event.at}
    detail = event.detail
    if name == "progress":
        data.update(percent=detail.get("percent"), audio_done_s=detail.get("audio_done_s"))
    elif name == "completed":
        data.update(transcript_id=event.transcript_id, version=detail.get("version"))
    elif name in ("failed", "retrying", "requeued"):
        data.update(
            error=detail.get("error"),
            dead_letter=detail.get("dead_letter", False),
            retry_in_s=detail.get("retry_in_s"),
        )
    elif name == "started":
        data.update(attempt=detail.get("attempt"))
    elif name == "fallback":
        data.update({k: detail.get(k) for k in ("from", "to", "reason")})
    return data


def _sse(event_id: int, name: str, data: dict[str, Any]) -> bytes:
    body = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return f"id: {event_id}\nevent: {name}\ndata: {body}\n\n".encode()
