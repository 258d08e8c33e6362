"""OpenAI's Realtime API in transcription mode, translated to and from echoic's live protocol.

Pure: client events in, parsed or :class:`RealtimeError`; echoic's stream events in, OpenAI
server events out (:class:`Translator`). The WebSocket glue is :mod:`echoic.server.realtime`.

Two session shapes are accepted, as OpenAI documents them:

- GA: ``session.update`` with ``session.type == "transcription"`` and
  ``session.audio.input.{format, transcription, turn_detection, noise_reduction}``;
  answered with ``session.updated``;
- beta: ``transcription_session.update`` with ``input_audio_format``,
  ``input_audio_transcription``, ``turn_detection``, ``input_audio_noise_reduction``;
  answered with ``transcription_session.updated``.

Events out, from echoic's stream events: :mod:`echoic.server.realtime_items`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

INPUT_RATE = 24_000  # OpenAI's audio/pcm is 24 kHz pcm16 mono little-endian
#: OpenAI's documented limit on the audio of one ``input_audio_buffer.append``.
MAX_APPEND_BYTES = 15 * 1024 * 1024
#: The base64 text of a maximal append, plus room for the JSON around it.
MAX_APPEND_B64 = (MAX_APPEND_BYTES + 2) // 3 * 4
MAX_EVENT_CHARS = MAX_APPEND_B64 + 64 * 1024
#: Turn detection echoic applies when a client asks for ``server_vad`` without numbers: the
#: live stream's tuned defaults (StreamConfig.vad), reported in ``session.updated``.
DEFAULT_THRESHOLD, DEFAULT_PREFIX_MS, DEFAULT_SILENCE_MS = 0.5, 500, 450

CLIENT_TYPES = (
    "session.update",
    "transcription_session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True, kw_only=True)
class RealtimeError:
    """An ``error`` event's ``error`` object; the connection stays open."""

    code: str
    message: str
    param: str | None = None
    event_id: str | None = None
    type: str = "invalid_request_error"

    def to_event(self) -> dict[str, Any]:
        return {
            "type": "error",
            "event_id": new_id("event"),
            "error": {
                "type": self.type,
                "code": self.code,
                "message": self.message,
                "param": self.param,
                "event_id": self.event_id,
            },
        }


# -- session configuration -----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TurnDetection(_Strict):
    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float | None = Field(default=None, gt=0, lt=1)
    prefix_padding_ms: int | None = Field(default=None, ge=0, le=5_000)
    silence_duration_ms: int | None = Field(default=None, ge=100, le=10_000)
    # Accepted and ignored: they steer responses, and a transcription session makes none.
    create_response: bool | None = None
    interrupt_response: bool | None = None
    idle_timeout_ms: int | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None

    def effective(self) -> dict[str, Any]:
        return {
            "type": "server_vad",  # semantic_vad runs as server_vad: echoic has no turn model
            "threshold": self.threshold if self.threshold is not None else DEFAULT_THRESHOLD,
            "prefix_padding_ms": self.prefix_padding_ms
            if self.prefix_padding_ms is not None
            else DEFAULT_PREFIX_MS,
            "silence_duration_ms": self.silence_duration_ms
            if self.silence_duration_ms is not None
            else DEFAULT_SILENCE_MS,
        }


class Transcription(_Strict):
    model: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, min_length=2, max_length=8)
    prompt: str | None = Field(default=None, max_length=4_000)
    # Accepted, no effect on echoic's decoders.
    delay: str | None = None
    keywords: list[str] | None = None
    languages: list[str] | None = None


class NoiseReduction(_Strict):
    type: Literal["near_field", "far_field"] | None = None
    strength: float | None = None


class AudioFormat(_Strict):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"] = "audio/pcm"
    rate: int | None = Field(default=None, ge=8_000, le=192_000)


class _Input(_Strict):
    format: AudioFormat | None = None
    transcription: Transcription | None = None
    turn_detection: TurnDetection | None = None
    noise_reduction: NoiseReduction | None = None


class _Audio(_Strict):
    input: _Input | None = None
    output: dict[str, Any] | None = None


class GaSession(_Strict):
    type: Literal["transcription"]
    audio: _Audio | None = None
    include: list[str] | None = None


class BetaSession(_Strict):
    input_audio_format: Literal["pcm16", "g711_ulaw", "g711_alaw"] | None = None
    input_audio_transcription: Transcription | None = None
    turn_detection: TurnDetection | None = None
    input_audio_noise_reduction: NoiseReduction | None = None
    include: list[str] | None = None
    modalities: list[str] | None = None
    client_secret: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """What a transcription session does; ``session.update`` changes the fields it names."""

    sample_rate: int = INPUT_RATE
    model: str | None = None  # None: the server's model
    language: str | None = None
    prompt: str | None = None
    #: ``None``: manual commits (OpenAI's ``turn_detection: null``).
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    noise_reduction: NoiseReduction | None = None
    include: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> SessionConfig:
        values = {**self.__dict__, **changes}
        return SessionConfig(**values)

    def describe(self, *, model: str, beta: bool) -> dict[str, Any]:
        """The session object of ``session.created``/``updated``: what is in effect."""
        turn = None if self.turn_detection is None else self.turn_detection.effective()
        noise = None if self.noise_reduction is None else self.noise_reduction.model_dump()
        transcription = {"model": model, "language": self.language, "prompt": self.prompt or ""}
        if beta:
            return {
                "object": "realtime.transcription_session",
                "input_audio_format": "pcm16",
                "input_audio_transcription": transcription,
                "turn_detection": turn,
                "input_audio_noise_reduction": noise,
                "include": list(self.include),
            }
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": self.sample_rate},
                    "transcription": transcription,
                    "turn_detection": turn,
                    "noise_reduction": noise,
                }
            },
            "include": list(self.include),
        }


#: OpenAI's transcription models: a client that names one gets the server's own model.
OPENAI_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-transcribe")


def echoic_model(requested: str | None) -> str | None:
    if requested is None or requested.startswith(OPENAI_MODELS) or requested.startswith("gpt-"):
        return None
    return requested


def apply_update(config: SessionConfig, event: Mapping[str, Any]) -> SessionConfig | RealtimeError:
    """``session.update`` (GA) or ``transcription_session.update`` (beta) on ``config``."""
    event_id = _event_id(event)
    beta = event["type"] == "transcription_session.update"
    raw = event.get("session")
    if not isinstance(raw, dict):
        return RealtimeError(
            code="invalid_value",
            message="session must be an object",
            param="session",
            event_id=event_id,
        )
    if not beta and raw.get("type") != "transcription":
        return RealtimeError(
            code="unsupported_session_type",
            message="echoic serves transcription sessions only: "
            'set session.type to "transcription"',
            param="session.type",
            event_id=event_id,
        )
    try:
        if beta:
            return _apply_beta(config, BetaSession.model_validate(raw), event_id)
        return _apply_ga(config, GaSession.model_validate(raw), event_id)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["session", *(str(p) for p in first["loc"])])
        return RealtimeError(
            code="invalid_value", message=f"{where}: {first['msg']}", param=where, event_id=event_id
        )


def _apply_ga(
    config: SessionConfig, session: GaSession, event_id: str | None
) -> SessionConfig | RealtimeError:
    changes: dict[str, Any] = {}
    if session.include is not None:
        changes["include"] = tuple(session.include)
    inp = session.audio.input if session.audio is not None else None
    if inp is not None:
        fields = inp.model_fields_set
        if inp.format is not None:
            if inp.format.type != "audio/pcm":
                return _unsupported_format(inp.format.type, event_id)
            changes["sample_rate"] = inp.format.rate or INPUT_RATE
        if "transcription" in fields:
            changes.update(_transcription(inp.transcription))
        if "turn_detection" in fields:
            changes["turn_detection"] = inp.turn_detection
        if "noise_reduction" in fields:
            changes["noise_reduction"] = inp.noise_reduction
    return config.replace(**changes)


def _apply_beta(
    config: SessionConfig, session: BetaSession, event_id: str | None
) -> SessionConfig | RealtimeError:
    changes: dict[str, Any] = {}
    fields = session.model_fields_set
    if session.input_audio_format not in (None, "pcm16"):
        return _unsupported_format(str(session.input_audio_format), event_id)
    if "input_audio_transcription" in fields:
        changes.update(_transcription(session.input_audio_transcription))
    if "turn_detection" in fields:
        changes["turn_detection"] = session.turn_detection
    if "input_audio_noise_reduction" in fields:
        changes["noise_reduction"] = session.input_audio_noise_reduction
    if session.include is not None:
        changes["include"] = tuple(session.include)
    return config.replace(sample_rate=INPUT_RATE, **changes)


def _transcription(transcription: Transcription | None) -> dict[str, Any]:
    if transcription is None:
        return {"model": None, "language": None, "prompt": None}
    changes: dict[str, Any] = {}
    fields = transcription.model_fields_set
    if "model" in fields:
        changes["model"] = echoic_model(transcription.model)
    if "language" in fields:
        changes["language"] = transcription.language
    if "prompt" in fields:
        changes["prompt"] = transcription.prompt or None
    return changes


def _unsupported_format(kind: str, event_id: str | None) -> RealtimeError:
    return RealtimeError(
        code="unsupported_audio_format",
        message=f"audio format {kind!r} is not supported; send audio/pcm (pcm16 little-endian)",
        param="session.audio.input.format",
        event_id=event_id,
    )


# -- client events -------------------------------------------------------------------------


def parse_event(text: str) -> dict[str, Any] | RealtimeError:
    """A client event: a JSON object with a known ``type`` (checked before anything else)."""
    if len(text) > MAX_EVENT_CHARS:
        return RealtimeError(
            code="event_too_large",
            message=f"a client event of {len(text)} characters; at most {MAX_EVENT_CHARS}",
        )
    try:
        data = json.loads(text)
    except ValueError:
        return RealtimeError(code="invalid_json", message="client events are JSON objects")
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return RealtimeError(
            code="invalid_event",
            message='a client event is a JSON object with a "type"',
            param="type",
        )
    if "event_id" in data and not isinstance(data["event_id"], str):
        return RealtimeError(
            code="invalid_value", message="event_id must be a string", param="event_id"
        )
    if data["type"] not in CLIENT_TYPES:
        return RealtimeError(
            code="invalid_event_type",
            message=f"unsupported event type {data['type']!r} in a transcription session; "
            f"known: {', '.join(CLIENT_TYPES)}",
            param="type",
            event_id=_event_id(data),
        )
    return data


def decode_append(event: Mapping[str, Any]) -> bytes | RealtimeError:
    """The pcm16 bytes of an ``input_audio_buffer.append``; its size is checked before decoding."""
    event_id = _event_id(event)
    audio = event.get("audio")
    if not isinstance(audio, str):
        return RealtimeError(
            code="invalid_value",
            message="audio must be a base64 string",
            param="audio",
            event_id=event_id,
        )
    if len(audio) > MAX_APPEND_B64:
        return RealtimeError(
            code="audio_too_large",
            message=f"an append of about {len(audio) * 3 // 4} bytes of audio; "
            f"send at most {MAX_APPEND_BYTES} per append",
            param="audio",
            event_id=event_id,
        )
    try:
        pcm = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        return RealtimeError(
            code="invalid_value",
            message="audio is not valid base64",
            param="audio",
            event_id=event_id,
        )
    if len(pcm) % 2:
        return RealtimeError(
            code="invalid_value",
            message="audio/pcm is 16-bit: an append holds whole samples",
            param="audio",
            event_id=event_id,
        )
    return pcm


def _event_id(event: Mapping[str, Any]) -> str | None:
    value = event.get("event_id")
    return value if isinstance(value, str) else None
