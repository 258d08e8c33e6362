"""``stream=true`` on ``/audio/transcriptions``: Server-Sent Events in OpenAI's shape.

    data: {"type": "transcript.text.delta", "delta": "And so my fellow Americans,"}

    data: {"type": "transcript.text.delta", "delta": " ask not what your country can do"}

    data: {"type": "transcript.text.done", "text": "And so my fellow Americans, ask not …",
           "usage": {"type": "tokens", "input_tokens": 550, "output_tokens": 31, …}}

With diarization (``diarization=true`` or ``response_format=diarized_json``), the deltas come
as decoded, then, once the speakers are known, one ``transcript.text.segment`` event per
segment (``id``, ``start``, ``end``, ``text``, ``speaker``: OpenAI's event for its diarizing
model), then the done event.

The deltas concatenate to the done event's ``text``. Each delta is one segment, sent as soon as
the decoder finishes it, when the engine can report segments as they come (see
:class:`ProgressiveEngine`); other engines send one delta with the whole text. OpenAI ends the
stream after the done event, with no ``data: [DONE]`` line. An error after the stream has
started arrives as ``data: {"error": {…}}``, the shape the ``openai`` client raises from.

Usage is counted in OpenAI's token form: input tokens are the encoder frames of the audio
(Whisper's encoder turns each 20 ms into one position), output tokens the text tokens decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from echoic.engines.base import Engine
from echoic.errors import EchoicError, EngineError
from echoic.formats import diarized_segment_dict
from echoic.streaming.scheduler import ComputeSlots
from echoic.types import Audio, Segment, TranscribeOptions, Transcript, clean_text

log = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"
ENCODER_FRAMES_PER_S = 50  # 1500 encoder positions per 30 s window


@runtime_checkable
class ProgressiveEngine(Protocol):
    """An engine that reports each segment as it is decoded
    (:meth:`echoic.engines.faster_whisper.FasterWhisperEngine.transcribe_progressive`)."""

    async def transcribe_progressive(
        self, audio: Audio, options: TranscribeOptions, on_segment: Callable[[Segment], None]
    ) -> Transcript: ...


def encode(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False, allow_nan=False)}\n\n".encode()


async def transcript_pieces(
    engine: Engine, audio: Audio, options: TranscribeOptions, slots: ComputeSlots | None = None
) -> AsyncIterator[str | Transcript]:
    """Text deltas as segments are decoded, then the finished transcript. With ``slots``, the
    decode takes turns with live work (:meth:`ComputeSlots.background`)."""
    background = contextlib.nullcontext() if slots is None else slots.background()
    if not isinstance(engine, ProgressiveEngine):
        with background:
            transcript = await engine.transcribe(audio, options)
        if transcript.text:
            yield transcript.text
        yield transcript
        return
    loop = asyncio.get_running_loop()
    segments: asyncio.Queue[Segment] = asyncio.Queue()

    def on_segment(segment: Segment) -> None:  # on the inference thread
        loop.call_soon_threadsafe(segments.put_nowait, segment)

    with background:  # the decoding task starts with a copy of this context
        decoding = asyncio.ensure_future(engine.transcribe_progressive(audio, options, on_segment))
    said = False
    try:
        while not decoding.done():
            next_segment = asyncio.ensure_future(segments.get())
            await asyncio.wait({next_segment, decoding}, return_when=asyncio.FIRST_COMPLETED)
            if not next_segment.done():
                next_segment.cancel()
                break
            if text := clean_text(next_segment.result().text):
                yield f" {text}" if said else text
                said = True
        # Segments reported before the decode returned were queued before its result arrived.
        while not segments.empty():
            if text := clean_text(segments.get_nowait().text):
                yield f" {text}" if said else text
                said = True
        yield decoding.result()
    finally:
        if not decoding.done():
            decoding.cancel()


async def events(
    engine: Engine,
    audio: Audio,
    options: TranscribeOptions,
    *,
    on_error: Callable[[EchoicError], dict[str, Any]],
    on_done: Callable[[Transcript], None],
    slots: ComputeSlots | None = None,
    finish: Callable[[Transcript], Awaitable[Transcript]] | None = None,
) -> AsyncIterator[bytes]:
    """The stream's events; ``finish`` (diarization) turns the decoded transcript into the one
    the segment events and the done event tell."""
    try:
        async for piece in transcript_pieces(engine, audio, options, slots):
            if isinstance(piece, str):
                yield encode({"type": "transcript.text.delta", "delta": piece})
            else:
                if finish is not None:
                    piece = await finish(piece)
                    for segment in piece.segments:
                        yield encode(diarized_segment_dict(segment))
                on_done(piece)
                yield encode(
                    {"type": "transcript.text.done", "text": piece.text, "usage": usage(piece)}
                )
    except EchoicError as exc:
        yield encode(on_error(exc))
    except Exception:  # a bug; the stream has started, so an error event is all a client gets
        log.exception("streamed transcription failed")
        yield encode(on_error(EngineError("The server had an error while transcribing.")))


def usage(transcript: Transcript) -> dict[str, Any]:
    audio_tokens = math.ceil(transcript.duration * ENCODER_FRAMES_PER_S)
    return {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
        "output_tokens": transcript.token_count,
        "total_tokens": audio_tokens + transcript.token_count,
    }


class EventStreamResponse(StreamingResponse):
    """A streamed response that runs ``on_close`` however it ends: sent in full, cut off by
    the client, or never started."""

    def __init__(
        self, content: AsyncIterator[bytes], *, on_close: Callable[[], Awaitable[None] | None]
    ) -> None:
        super().__init__(
            content,
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            result = self._on_close()
            if result is not None:
                await result
