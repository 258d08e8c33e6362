"""The jobs API: submit audio or a URL, get an id at once, watch it, fetch the transcript later.

    POST   /v1/jobs                  multipart ``file`` or a ``url`` (form or JSON) → 202 + job
    GET    /v1/jobs                  the caller's jobs, newest first (``status``, ``limit``,
                                     ``after``)
    GET    /v1/jobs/{id}             one job
    DELETE /v1/jobs/{id}             cancel (a running job stops at its next chunk)
    GET    /v1/jobs/{id}/events      Server-Sent Events (:mod:`echoic.server.job_events`)

The options are those of ``/v1/audio/transcriptions`` (checked the same way, before the job is
queued; ``diarization`` and the speaker counts included) plus ``priority`` (higher first) and
``transcript_id`` (transcribe that transcript's audio again, as its next version). The job and
its media are in the database before the 202 goes out. Every id answers 404 to another tenant,
exactly as a missing one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData, UploadFile

from echoic.errors import InvalidParameterError, MediaFetchError
from echoic.jobs.ingest import check_url
from echoic.jobs.options import JobOptions
from echoic.server.auth import actor_of, tenant_of
from echoic.server.schemas import ERROR_RESPONSES, Granularity
from echoic.server.state import ServerState, request_info, state_of
from echoic.server.validation import (
    MAX_PROMPT_CHARS,
    TranscriptionRequest,
    check_capabilities,
    check_diarization,
    check_fields,
    check_upload,
)
from echoic.storage.records import Job, JobStatus, Submission
from echoic.types import ResponseFormat, SttMode, Task

router = APIRouter(tags=["jobs"])

MAX_PAGE = 100
EVENTS_POLL_S = 0.25  # how often an event stream looks for news in the database


class JobFields(BaseModel):
    """The fields of ``POST /v1/jobs`` (form or JSON)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str | None = Field(default=None, max_length=4096)
    transcript_id: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    task: Task = Task.TRANSCRIBE
    language: str | None = Field(default=None, max_length=16)
    prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    temperature: float | None = Field(default=None, ge=0, le=1)
    beam_size: int | None = Field(default=None, ge=1, le=10)
    timestamp_granularities: list[Granularity] = Field(
        default_factory=list, alias="timestamp_granularities[]"
    )
    stt_mode: SttMode | None = None
    priority: int = Field(default=0, ge=-100, le=100)
    diarization: bool = False
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


_SUBMIT_DOC = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        **JobFields.model_json_schema(by_alias=True)["properties"],
                    },
                }
            },
            "application/json": {"schema": JobFields.model_json_schema(by_alias=True)},
        },
        "required": True,
    }
}


@router.post(
    "/jobs",
    status_code=202,
    summary="Queue a transcription job (a file or a URL)",
    responses=ERROR_RESPONSES,
    openapi_extra=_SUBMIT_DOC,
)
async def submit_job(request: Request) -> JSONResponse:
    fields, upload, form = await _read_submission(request)
    try:
        return await _submit(request, fields, upload)
    finally:
        if form is not None:
            await form.close()


async def _submit(request: Request, fields: JobFields, upload: UploadFile | None) -> JSONResponse:
    state = state_of(request)
    store = state.job_store()
    principal = request_info(request).principal
    sources = [s for s in (upload is not None, fields.url, fields.transcript_id) if s]
    if len(sources) != 1:
        raise InvalidParameterError(
            "Send exactly one of: a multipart 'file', a 'url', or a 'transcript_id' to "
            "transcribe again.",
            param="file",
        )
    name = state.models.name_for(fields.model)
    checked = check_fields(
        TranscriptionRequest(
            task=fields.task,
            model=name,
            language=fields.language,
            prompt=fields.prompt,
            temperature=fields.temperature,
            granularities=tuple(fields.timestamp_granularities),
            beam_size=fields.beam_size,
            stt_mode=fields.stt_mode,
            response_format=ResponseFormat.VERBOSE_JSON
            if fields.timestamp_granularities
            else ResponseFormat.JSON,
            diarization=fields.diarization,
            num_speakers=fields.num_speakers,
            min_speakers=fields.min_speakers,
            max_speakers=fields.max_speakers,
        )
    )
    check_diarization(checked, state.settings)
    mode = state.models.providers.check_mode(checked.stt_mode)
    engine = await state.models.engine(name)
    check_capabilities(engine.capabilities_for(mode), name, checked)
    if checked.diarization:  # as the model: refused now if this server cannot load it
        await asyncio.to_thread(state.diarizer.get)
    options = JobOptions(
        model=name,
        task=checked.task,
        language=checked.language,
        prompt=checked.prompt,
        temperature=checked.temperature,
        beam_size=checked.beam_size,
        word_timestamps=checked.include_words,
        stt_mode=checked.stt_mode,
        diarization=checked.diarization,
        num_speakers=checked.num_speakers,
        min_speakers=checked.min_speakers,
        max_speakers=checked.max_speakers,
    ).to_dict()
    submission = Submission(
        tenant_id=tenant_of(principal),
        options=options,
        priority=fields.priority,
        max_attempts=state.settings.job_max_attempts,
        actor=actor_of(principal),
        now=time.time(),
    )
    if upload is not None:
        info = await check_upload(upload, state.settings)
        job = await asyncio.to_thread(
            store.submit_upload,
            submission,
            upload.file,
            filename=upload.filename,
            content_type=f"{info.container}/{info.codec}",
            duration_s=info.duration_s,
        )
    elif fields.url:
        url = await _checked_url(fields.url, allow_private=state.settings.url_allow_private)
        job = await asyncio.to_thread(store.submit_url, submission, url)
    else:
        assert fields.transcript_id is not None
        job = await asyncio.to_thread(store.submit_rerun, submission, fields.transcript_id)
    state.wake_workers()
    return JSONResponse(
        await asyncio.to_thread(job_body, state, job),
        status_code=202,
        headers={"Location": f"{request.url.path.rstrip('/')}/{job.id}"},
    )


async def _checked_url(url: str, *, allow_private: bool) -> str:
    """Refuse a URL to a forbidden address now (the worker checks every connection again); a
    name that does not resolve at the moment is left to the worker, which retries."""
    try:
        return await asyncio.to_thread(check_url, url, allow_private=allow_private)
    except MediaFetchError:
        return url.strip()


async def _read_submission(
    request: Request,
) -> tuple[JobFields, UploadFile | None, FormData | None]:
    """The fields (and file) from a multipart or urlencoded form, or a JSON body; and the
    form, which the caller closes (it holds the upload's temporary file)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise InvalidParameterError("The body is not valid JSON.", param="body") from None
        if not isinstance(body, dict):
            raise InvalidParameterError("The body must be a JSON object.", param="body")
        return _validated(body), None, None
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise InvalidParameterError(
            "Send the job as multipart/form-data (with a 'file') or as JSON (with a 'url').",
            param="body",
        )
    form = await request.form(max_files=1, max_fields=64)
    try:
        raw: dict[str, Any] = {}
        upload: UploadFile | None = None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "file":
                    raise InvalidParameterError(f"Unexpected file field {key!r}.", param=key)
                upload = value
            elif key == "timestamp_granularities[]":
                raw.setdefault(key, []).append(value)
            else:
                raw[key] = value if value != "" else None
        return _validated(raw), upload, form
    except BaseException:
        await form.close()
        raise


def _validated(raw: dict[str, Any]) -> JobFields:
    try:
        return JobFields.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@router.get("/jobs", summary="List jobs, newest first", responses=ERROR_RESPONSES)
async def list_jobs(
    request: Request,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    after: Annotated[
        str | None, Query(max_length=64, description="The last job id of the previous page.")
    ] = None,
) -> dict[str, Any]:
    state = state_of(request)
    store = state.job_store()
    tenant = tenant_of(request_info(request).principal)
    before = None
    if after is not None:
        last = await asyncio.to_thread(store.jobs.get, tenant, after)
        before = (last.created_at, last.id)
    page = await asyncio.to_thread(
        store.jobs.list, tenant, status=status, limit=limit + 1, before=before
    )
    data = [await asyncio.to_thread(job_body, state, job) for job in page[:limit]]
    return {
        "object": "list",
        "data": data,
        "has_more": len(page) > limit,
        "last_id": data[-1]["id"] if data else None,
    }


@router.get("/jobs/{job_id}", summary="One job", responses=ERROR_RESPONSES)
async def get_job(request: Request, job_id: str) -> dict[str, Any]:
    state = state_of(request)
    tenant = tenant_of(request_info(request).principal)
    job = await asyncio.to_thread(state.job_store().jobs.get, tenant, job_id)
    return await asyncio.to_thread(job_body, state, job)


@router.delete("/jobs/{job_id}", summary="Cancel a job", responses=ERROR_RESPONSES)
async def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
    state = state_of(request)
    principal = request_info(request).principal
    job = await asyncio.to_thread(
        state.job_store().jobs.cancel,
        tenant_of(principal),
        job_id,
        actor=actor_of(principal),
        now=time.time(),
    )
    return await asyncio.to_thread(job_body, state, job)


def job_body(state: ServerState, job: Job) -> dict[str, Any]:
    """The JSON a client sees for a job (blocking: reads its media row)."""
    media = state.job_store().media.get(None, job.media_id)
    return {
        "id": job.id,
        "object": "transcription.job",
        "status": job.status.value,
        "priority": job.priority,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "progress": {
            "percent": round(100 * job.progress, 1),
            "audio_done_s": round(job.audio_done_s, 3),
            "audio_s": media.duration_s,
        },
        "media": {
            "id": media.id,
            "source": media.source,
            "url": media.url,
            "filename": media.filename,
            "duration_s": media.duration_s,
            "deleted": media.deleted,
        },
        "options": job.options,
        "transcript_id": job.transcript_id if job.status is JobStatus.COMPLETED else None,
        "rerun_of": job.transcript_id if job.status is not JobStatus.COMPLETED else None,
        "worker_id": job.worker_id,
        "error": None if job.error is None else job.error.to_dict(),
        "dead_letter": job.dead_letter,
    }
