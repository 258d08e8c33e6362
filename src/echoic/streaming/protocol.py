"""The client side of the live protocol (DESIGN.md §2): parsing what a client sends.

Binary frames are PCM audio; text frames are JSON control messages. Parsing is pure and
strict: anything malformed becomes a :class:`ProtocolError` with a code the client can act on,
never an exception that would end the connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from echoic.audio.pcm import pcm_to_float32
from echoic.diarize.types import MAX_SPEAKERS
from echoic.errors import AudioError, InvalidRequestError
from echoic.streaming.client import ClientTranscript, ClientWord
from echoic.streaming.config import StreamConfig
from echoic.streaming.modes import StreamMode
from echoic.types import Audio, AudioEncoding, SttMode
from echoic.vad.state import VadConfig

MAX_FRAME_BYTES = 256 * 1024  # 4 s of 16 kHz s16 mono; far above any real-time chunk
CONTROL_TYPES = ("start", "finalize", "pause", "resume", "keepalive", "stop", "transcript", "auth")


@dataclass(frozen=True, kw_only=True)
class ProtocolError:
    code: str
    message: str


class VadOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(default=None, gt=0, lt=1)
    min_speech_ms: int | None = Field(default=None, ge=0, le=5000)
    #: Trailing silence that ends an utterance whose words do not tell whether it is over.
    #: Given alone, it is the only wait: end of turn by silence alone.
    silence_ms: int | None = Field(default=None, ge=100, le=10_000)
    #: The wait after words that end a sentence, and after words that stop mid-sentence.
    end_of_sentence_ms: int | None = Field(default=None, ge=100, le=10_000)
    mid_sentence_ms: int | None = Field(default=None, ge=100, le=10_000)
    max_utterance_s: float | None = Field(default=None, ge=2, le=30)

    def apply(self, vad: VadConfig) -> VadConfig:
        """``vad`` with these overrides; a :class:`ValueError` if the waits contradict. The
        speculative final and the tail shrink to fit a short wait."""
        overrides = {k: v for k, v in self.model_dump().items() if v is not None}
        if "silence_ms" in overrides:
            for wait in ("end_of_sentence_ms", "mid_sentence_ms"):
                overrides.setdefault(wait, None)  # silence alone
        silence = overrides.get("silence_ms", vad.silence_ms)
        sentence_end = overrides.get("end_of_sentence_ms", vad.end_of_sentence_ms)
        shortest = silence if sentence_end is None else min(silence, sentence_end)
        return replace(
            vad,
            **overrides,
            tail_ms=min(vad.tail_ms, shortest),
            speculative_silence_ms=min(vad.speculative_silence_ms, shortest),
        )


class StartMessage(BaseModel):
    """The optional first message; the same fields work as query parameters."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["start"] = "start"
    sample_rate: int = Field(default=16_000, ge=8_000, le=192_000)
    encoding: AudioEncoding = "pcm_s16le"
    channels: int = Field(default=1, ge=1, le=8)
    language: str | None = Field(default=None, min_length=2, max_length=8)
    model: str | None = None
    #: single | speculative; none: speculative exactly when there is a confirming model.
    mode: StreamMode | None = None
    confirm_model: str | None = None
    #: true: drafts and confirmations; "confirmed": confirmations only (dual-model streams);
    #: false: finals only, as Deepgram's clients expect.
    interim_results: bool | Literal["confirmed"] = True
    client_transcripts: bool = False
    vad: VadOverrides | None = None
    #: Routing override: auto | force_local | force_cloud, within what the server allows.
    stt_mode: SttMode | None = None
    #: Dual-model streams: the drafting model makes the final when its newest draft's average
    #: token log-probability is at least this (the heavy pass is skipped).
    skip_confirm_logprob: float | None = Field(default=None, le=0)
    #: Label each final (and its segments) with its ``speaker``, stable across the stream.
    diarization: bool = False
    #: With diarization: at most this many speakers (past it, the nearest voice).
    max_speakers: int | None = Field(default=None, ge=1, le=MAX_SPEAKERS)

    @model_validator(mode="after")
    def _diarization_fits(self) -> StartMessage:
        if self.max_speakers is not None and not self.diarization:
            raise ValueError("max_speakers needs diarization: true")
        if self.diarization and self.client_transcripts:
            # The server labels the audio it decodes; a client's transcript comes without it.
            raise ValueError("diarization does not combine with client_transcripts")
        return self

    def stream_config(self, base: StreamConfig, *, speculative: bool) -> StreamConfig:
        try:
            vad = base.vad if self.vad is None else self.vad.apply(base.vad)
        except ValueError as exc:
            raise InvalidRequestError(f"vad: {exc}") from exc
        config = replace(
            base,
            vad=vad,
            interim_results=self.interim_results is True,
            confirmed_partials=self.interim_results is not False,
            confirm_interval_ms=(base.confirm_interval_ms or 1000) if speculative else None,
            client_transcripts=self.client_transcripts,
            diarization=self.diarization,
            max_speakers=self.max_speakers,
            skip_confirm_logprob=self.skip_confirm_logprob
            if self.skip_confirm_logprob is not None
            else base.skip_confirm_logprob,
        )
        return config.with_language(self.language)


def parse_start(data: dict[str, Any]) -> StartMessage | ProtocolError:
    try:
        return StartMessage.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "start"
        return ProtocolError(code="invalid_start", message=f"{where}: {first['msg']}")


def parse_text(text: str) -> dict[str, Any] | ProtocolError:
    """A control message: a JSON object with a known ``type``."""
    try:
        data = json.loads(text)
    except ValueError:
        return ProtocolError(code="invalid_json", message="text frames must be JSON objects")
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return ProtocolError(
            code="invalid_message", message='a control message is a JSON object with a "type"'
        )
    if data["type"] not in CONTROL_TYPES:
        known = ", ".join(CONTROL_TYPES)
        return ProtocolError(
            code="unknown_message_type",
            message=f"unknown message type {data['type']!r}; known: {known}",
        )
    return data


class _WordMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    word: str = Field(max_length=200)
    start: float = Field(ge=0, allow_inf_nan=False)
    end: float = Field(ge=0, allow_inf_nan=False)
    probability: float = Field(default=1.0, ge=0, le=1)


class TranscriptMessage(BaseModel):
    """A client's own transcript of one utterance (see :mod:`echoic.streaming.client`)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["transcript"] = "transcript"
    utterance_id: int = Field(ge=1)
    text: str = Field(max_length=10_000)
    words: list[_WordMessage] | None = Field(default=None, max_length=5_000)
    language: str | None = Field(default=None, min_length=2, max_length=8)
    source: str = Field(default="client", min_length=1, max_length=64)

    def to_transcript(self) -> ClientTranscript:
        return ClientTranscript(
            utterance_id=self.utterance_id,
            text=self.text,
            words=None
            if self.words is None
            else tuple(
                ClientWord(word=w.word, start=w.start, end=w.end, probability=w.probability)
                for w in self.words
            ),
            language=self.language,
            engine=self.source,
        )


def parse_transcript(data: dict[str, Any]) -> ClientTranscript | ProtocolError:
    try:
        return TranscriptMessage.model_validate(data).to_transcript()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "transcript"
        return ProtocolError(code="invalid_transcript", message=f"{where}: {first['msg']}")


def parse_audio(data: bytes, start: StartMessage) -> Audio | ProtocolError:
    """A binary frame as mono float32 at the client's sample rate (resampled by the stream)."""
    if len(data) > MAX_FRAME_BYTES:
        return ProtocolError(
            code="frame_too_large",
            message=f"audio frame of {len(data)} bytes; send at most {MAX_FRAME_BYTES} per frame",
        )
    try:
        samples = pcm_to_float32(data, start.encoding)
    except AudioError as exc:
        return ProtocolError(code="invalid_audio", message=exc.message)
    if start.channels > 1:
        if len(samples) % start.channels:
            return ProtocolError(
                code="invalid_audio",
                message=f"frame does not hold whole {start.channels}-channel samples",
            )
        samples = samples.reshape(-1, start.channels).mean(axis=1).astype("float32")
    return samples
