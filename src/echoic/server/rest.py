"""The OpenAI-compatible REST API: transcriptions, translations, models (DESIGN.md §5).

Mounted under ``/v1`` and again under ``/api/v1``. The official ``openai`` client works against
it unchanged (``OpenAI(base_url="http://host:8000/v1")``); ``whisper-1`` means the server's
default model.

A request goes: fields → size → content probe → declared length → model capabilities → a slot
on the model (bounded wait) → decode (in a thread) → transcribe (on a background thread of the
model, each chunk call holding one of the compute slots live streams use, at a lower priority:
a long file delays a live final by one chunk call at most) → the body in the asked format. With
diarization, the diarizer (loaded once, by the first such request) finds the speaker turns on
a thread of its own while the engine transcribes, and the turns then label the segments.
Auth, the rate limit and the body size limit already ran in
:class:`~echoic.server.middleware.ApiGuard`, before the upload was read.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import Response

from echoic.audio import decode_audio
from echoic.diarize.runner import PendingTurns
from echoic.diarize.types import SpeakerCount
from echoic.diarize.words import engine_words
from echoic.engines.base import Engine
from echoic.errors import EchoicError
from echoic.formats import format_transcript
from echoic.jobs.options import JobOptions
from echoic.server import sse
from echoic.server.auth import actor_of, tenant_of
from echoic.server.error_handlers import echoic_error_body
from echoic.server.fields import (
    BeamField,
    FileField,
    FormatField,
    ModeField,
    ModelField,
    PromptField,
    Speakers,
    StoreField,
    TemperatureField,
)
from echoic.server.limits import Slot
from echoic.server.models import ModelInfo
from echoic.server.schemas import (
    ERROR_RESPONSES,
    Granularity,
    ModelList,
    ModelObject,
    TranscriptionJson,
)
from echoic.server.state import ServerState, request_info, state_of
from echoic.server.validation import (
    TranscriptionRequest,
    check_capabilities,
    check_diarization,
    check_fields,
    check_upload,
    transcribe_options,
)
from echoic.types import Audio, ResponseFormat, Task, TranscribeOptions, Transcript

router = APIRouter(tags=["audio"])

_TRANSCRIPT_RESPONSES = {
    200: {
        "description": "The transcript in the requested format; an event stream with stream=true.",
        "content": {
            "application/json": {"schema": TranscriptionJson.model_json_schema()},
            "text/plain": {"schema": {"type": "string"}},
            "application/x-subrip": {"schema": {"type": "string"}},
            "text/vtt": {"schema": {"type": "string"}},
            sse.MEDIA_TYPE: {"schema": {"type": "string"}},
        },
    },
    **ERROR_RESPONSES,
}


@router.post(
    "/audio/transcriptions",
    summary="Transcribe audio into the input language",
    responses=_TRANSCRIPT_RESPONSES,
    response_class=Response,
)
async def create_transcription(
    request: Request,
    file: FileField,
    speakers: Speakers,
    model: ModelField = None,
    language: Annotated[
        str | None,
        Form(max_length=16, description="ISO 639-1 code of the spoken language; none: detect."),
    ] = None,
    prompt: PromptField = None,
    response_format: FormatField = ResponseFormat.JSON,
    temperature: TemperatureField = None,
    timestamp_granularities: Annotated[
        list[Granularity] | None,
        Form(
            alias="timestamp_granularities[]",
            description="word and/or segment timestamps; verbose_json only.",
        ),
    ] = None,
    stream: Annotated[
        bool, Form(description="Send the text as Server-Sent Events while it is decoded.")
    ] = False,
    beam_size: BeamField = None,
    stt_mode: ModeField = None,
    store: StoreField = False,
) -> Response:
    fields = TranscriptionRequest(
        **vars(speakers),
        task=Task.TRANSCRIBE,
        model=model or "",
        response_format=response_format,
        language=language,
        prompt=prompt,
        temperature=temperature,
        granularities=tuple(timestamp_granularities or ()),
        stream=stream,
        beam_size=beam_size,
        stt_mode=stt_mode,
        store=store,
    )
    return await _transcribe(request, file, fields)


@router.post(
    "/audio/translations",
    summary="Translate audio into English",
    responses=_TRANSCRIPT_RESPONSES,
    response_class=Response,
)
async def create_translation(
    request: Request,
    file: FileField,
    speakers: Speakers,
    model: ModelField = None,
    prompt: PromptField = None,
    response_format: FormatField = ResponseFormat.JSON,
    temperature: TemperatureField = None,
    beam_size: BeamField = None,
    stt_mode: ModeField = None,
    store: StoreField = False,
) -> Response:
    fields = TranscriptionRequest(
        **vars(speakers),
        task=Task.TRANSLATE,
        model=model or "",
        response_format=response_format,
        prompt=prompt,
        temperature=temperature,
        beam_size=beam_size,
        stt_mode=stt_mode,
        store=store,
    )
    return await _transcribe(request, file, fields)


@router.get("/models", tags=["models"], summary="List the models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    models = await asyncio.to_thread(state_of(request).models.describe)
    return ModelList(data=[_model_object(m) for m in models])


@router.get(
    "/models/{model_id}",
    tags=["models"],
    summary="Describe one model",
    response_model=ModelObject,
    responses={404: ERROR_RESPONSES[404]},
)
async def retrieve_model(request: Request, model_id: str) -> ModelObject:
    info = await asyncio.to_thread(state_of(request).models.find, model_id)
    return _model_object(info)


def _model_object(info: ModelInfo) -> ModelObject:
    return ModelObject(
        id=info.id,
        created=info.created,
        installed=info.installed,
        loaded=info.loaded,
        default=info.default,
        description=info.description,
        english_only=info.english_only,
        alias_of=info.alias_of,
    )


async def _transcribe(
    request: Request, upload: UploadFile, fields: TranscriptionRequest
) -> Response:
    state = state_of(request)
    info = request_info(request)
    name = state.models.name_for(fields.model)
    info.model = name
    fields = check_fields(fields)
    check_diarization(fields, state.settings)
    fields = replace(fields, stt_mode=state.models.providers.check_mode(fields.stt_mode))
    options = transcribe_options(fields, state.settings)
    await check_upload(upload, state.settings)
    engine = await state.models.engine(name)
    check_capabilities(engine.capabilities_for(fields.stt_mode), name, fields)
    count = fields.speaker_count
    # Loaded once, on the first request that diarizes: a 503 naming the install command if
    # the voice encoder is not installed.
    diarizer = None if count is None else await asyncio.to_thread(state.diarizer.get)
    slot = await state.gates.acquire(name)
    handed_over = False
    try:
        audio = await asyncio.to_thread(
            decode_audio, upload.file, max_duration_s=state.settings.max_duration_s
        )
        turns = None
        if diarizer is not None and count is not None:
            slots = state.hub.compute_slots(engine)
            words_for = engine_words(engine, options, slots.background)
            turns = PendingTurns(diarizer, audio, count, words_for)
        if fields.stream:
            response = _event_stream(state, engine, audio, options, slot, request, turns)
            handed_over = True  # the response releases the slot when the stream ends
            return response
        with state.hub.compute_slots(engine).background():
            try:
                transcript = await engine.transcribe(audio, options)
            except BaseException:
                if turns is not None:
                    turns.cancel()
                raise
        if turns is not None:
            transcript = await turns.label(transcript)
    finally:
        if not handed_over:
            slot.release()
    info.source = transcript.metadata.provider
    headers = source_headers(transcript)
    if fields.store:
        headers["X-Echoic-Transcript-Id"] = await _store(
            state, request, upload, transcript, options, count
        )
    body, media_type = format_transcript(
        transcript,
        fields.response_format,
        include_words=fields.include_words,
        include_segments=fields.include_segments,
    )
    return Response(body, media_type=media_type, headers=headers)


async def _store(
    state: ServerState,
    request: Request,
    upload: UploadFile,
    transcript: Transcript,
    options: TranscribeOptions,
    count: SpeakerCount | None,
) -> str:
    principal = request_info(request).principal
    return await asyncio.to_thread(
        state.job_store().save_transcript,
        tenant_of(principal),
        transcript,
        options=JobOptions(
            model=transcript.metadata.model or None,
            task=options.task,
            language=options.language,
            prompt=options.prompt,
            beam_size=options.beam_size,
            word_timestamps=options.word_timestamps,
            stt_mode=options.mode,
            diarization=count is not None,
            num_speakers=None if count is None else count.num_speakers,
            min_speakers=None if count is None else count.min_speakers,
            max_speakers=None if count is None else count.max_speakers,
        ).to_dict(),
        actor=actor_of(principal),
        now=time.time(),
        source=upload.file,
        filename=upload.filename,
    )


def source_headers(transcript: Transcript) -> dict[str, str]:
    """Where the transcript came from, in every response format (verbose_json also has it in
    ``metadata``): ``X-Echoic-Source: cloud`` and, after a fallback, ``X-Echoic-Fallback:
    local:cpu->cloud (timeout)`` (headers are Latin-1)."""
    headers = {"X-Echoic-Source": transcript.metadata.provider}
    if transcript.metadata.fallback:
        headers["X-Echoic-Fallback"] = ", ".join(
            f"{f.from_tier}->{f.to_tier or 'none'} ({f.reason})"
            for f in transcript.metadata.fallback
        )
    return headers


def _event_stream(
    state: ServerState,
    engine: Engine,
    audio: Audio,
    options: TranscribeOptions,
    slot: Slot,
    request: Request,
    turns: PendingTurns | None,
) -> sse.EventStreamResponse:
    info = request_info(request)

    def on_error(exc: EchoicError) -> dict[str, object]:
        state.metrics.error(exc.code)
        return echoic_error_body(exc)

    def on_done(transcript: Transcript) -> None:
        info.source = transcript.metadata.provider

    def on_close() -> None:
        if turns is not None:
            turns.cancel()  # a stream cut off before its end does not wait for the speakers
        slot.release()

    return sse.EventStreamResponse(
        sse.events(
            engine,
            audio,
            options,
            on_error=on_error,
            on_done=on_done,
            slots=state.hub.compute_slots(engine),
            finish=None if turns is None else turns.label,
        ),
        on_close=on_close,
    )
