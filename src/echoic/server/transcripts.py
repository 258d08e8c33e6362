"""Stored transcripts and their media.

    GET    /v1/transcripts                      the caller's transcripts, newest first
    GET    /v1/transcripts/{id}                 in any format (``response_format``, ``version``)
    GET    /v1/transcripts/{id}/versions        every version: what made it, when, by whom
    GET    /v1/transcripts/{id}/chunks          text spans with times, for retrieval
    PATCH  /v1/transcripts/{id}                 an edit: a new version
    DELETE /v1/transcripts/{id}                 with its versions, chunks and audio
    GET    /v1/media/{id}, DELETE /v1/media/{id}

A transcript of another tenant answers 404 exactly as a missing one; a deletion leaves an audit
event.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from echoic.errors import InvalidParameterError
from echoic.formats import format_transcript
from echoic.server.auth import actor_of, tenant_of
from echoic.server.schemas import ERROR_RESPONSES
from echoic.server.state import request_info, state_of
from echoic.storage.records import Media, TranscriptInfo, VersionInfo
from echoic.types import ResponseFormat

router = APIRouter(tags=["transcripts"])


class SegmentEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=0)
    text: str | None = Field(default=None, max_length=10_000)
    speaker: str | None = Field(default=None, max_length=100)


class TranscriptEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segments: list[SegmentEdit] = Field(min_length=1, max_length=10_000)


@router.get("/transcripts", summary="List transcripts, newest first", responses=ERROR_RESPONSES)
async def list_transcripts(
    request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> dict[str, Any]:
    state = state_of(request)
    tenant = tenant_of(request_info(request).principal)
    found = await asyncio.to_thread(state.job_store().transcripts.recent, tenant, limit=limit)
    return {"object": "list", "data": [_info_body(info) for info in found]}


@router.get(
    "/transcripts/{transcript_id}",
    summary="A transcript in any format",
    responses=ERROR_RESPONSES,
    response_class=Response,
)
async def get_transcript(
    request: Request,
    transcript_id: str,
    response_format: ResponseFormat = ResponseFormat.JSON,
    version: Annotated[int | None, Query(ge=1, description="Default: the current one.")] = None,
) -> Response:
    state = state_of(request)
    tenant = tenant_of(request_info(request).principal)
    info, number, transcript = await asyncio.to_thread(
        state.job_store().transcripts.get, tenant, transcript_id, version
    )
    body, media_type = format_transcript(
        transcript,
        response_format,
        include_words=transcript.words is not None,
        include_segments=True,
    )
    return Response(
        body,
        media_type=media_type,
        headers={
            "X-Echoic-Transcript-Id": info.id,
            "X-Echoic-Transcript-Version": str(number.version),
            "X-Echoic-Source": transcript.metadata.provider,
        },
    )


@router.get(
    "/transcripts/{transcript_id}/versions",
    summary="Every version of a transcript",
    responses=ERROR_RESPONSES,
)
async def list_versions(request: Request, transcript_id: str) -> dict[str, Any]:
    state = state_of(request)
    tenant = tenant_of(request_info(request).principal)
    versions = await asyncio.to_thread(
        state.job_store().transcripts.versions, tenant, transcript_id
    )
    return {"object": "list", "data": [_version_body(v) for v in versions]}


@router.get(
    "/transcripts/{transcript_id}/chunks",
    summary="A transcript's chunks: text spans with times, for retrieval",
    responses=ERROR_RESPONSES,
)
async def list_chunks(
    request: Request,
    transcript_id: str,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    state = state_of(request)
    tenant = tenant_of(request_info(request).principal)
    number, chunks = await asyncio.to_thread(
        state.job_store().transcripts.chunks, tenant, transcript_id, version
    )
    return {
        "object": "list",
        "transcript_id": transcript_id,
        "version": number,
        "data": [
            {
                "index": c.index,
                "start": c.start,
                "end": c.end,
                "text": c.text,
                "segment_ids": list(c.segment_ids),
            }
            for c in chunks
        ],
    }


@router.patch(
    "/transcripts/{transcript_id}",
    summary="Edit segments: a new version",
    responses=ERROR_RESPONSES,
)
async def edit_transcript(
    request: Request, transcript_id: str, edit: TranscriptEdit
) -> dict[str, Any]:
    state = state_of(request)
    principal = request_info(request).principal
    repo = state.job_store().transcripts
    for segment in edit.segments:
        if not {"text", "speaker"} & segment.model_fields_set:
            raise InvalidParameterError(
                f"Segment {segment.id}: give its new 'text' or 'speaker'.", param="segments"
            )
    texts = {s.id: s.text for s in edit.segments if s.text is not None}
    speakers = {s.id: s.speaker for s in edit.segments if "speaker" in s.model_fields_set}
    await asyncio.to_thread(
        repo.edit,
        tenant_of(principal),
        transcript_id,
        texts,
        speakers=speakers,
        actor=actor_of(principal),
        now=time.time(),
    )
    versions = await asyncio.to_thread(repo.versions, tenant_of(principal), transcript_id)
    return _version_body(versions[-1])


@router.delete(
    "/transcripts/{transcript_id}",
    summary="Delete a transcript, its versions, chunks and audio",
    responses=ERROR_RESPONSES,
)
async def delete_transcript(request: Request, transcript_id: str) -> dict[str, Any]:
    state = state_of(request)
    principal = request_info(request).principal
    await asyncio.to_thread(
        state.job_store().delete_transcript,
        tenant_of(principal),
        transcript_id,
        actor=actor_of(principal),
        now=time.time(),
    )
    return {"id": transcript_id, "object": "transcript", "deleted": True}


@router.get("/media/{media_id}", summary="One media item", responses=ERROR_RESPONSES)
async def get_media(request: Request, media_id: str) -> dict[str, Any]:
    state = state_of(request)
    tenant = tenant_of(request_info(request).principal)
    item = await asyncio.to_thread(state.job_store().media.get, tenant, media_id)
    return media_body(item)


@router.delete(
    "/media/{media_id}",
    summary="Delete media: its audio and the transcripts made from it",
    responses=ERROR_RESPONSES,
)
async def delete_media(request: Request, media_id: str) -> dict[str, Any]:
    state = state_of(request)
    principal = request_info(request).principal
    await asyncio.to_thread(
        state.job_store().delete_media,
        tenant_of(principal),
        media_id,
        actor=actor_of(principal),
        now=time.time(),
    )
    return {"id": media_id, "object": "media", "deleted": True}


def media_body(item: Media) -> dict[str, Any]:
    return {
        "id": item.id,
        "object": "media",
        "source": item.source,
        "url": item.url,
        "filename": item.filename,
        "sha256": item.sha256,
        "content_type": item.content_type,
        "size_bytes": item.size_bytes,
        "duration_s": item.duration_s,
        "created_at": item.created_at,
        "delete_after": item.delete_after,
        "deleted_at": item.deleted_at,
    }


def _info_body(info: TranscriptInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "object": "transcript",
        "media_id": info.media_id,
        "job_id": info.job_id,
        "current_version": info.current_version,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
    }


def _version_body(v: VersionInfo) -> dict[str, Any]:
    return {
        "transcript_id": v.transcript_id,
        "version": v.version,
        "reason": v.reason,
        "actor": v.actor,
        "created_at": v.created_at,
        "text": v.text,
        "language": v.language,
        "duration": v.duration_s,
        "provider": v.provider,
        "engine": v.engine,
        "model": v.model,
        "options": v.options,
        "metadata": v.metadata,
    }
