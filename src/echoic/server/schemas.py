"""Wire schemas of the REST API: what ``/docs`` shows and what the JSON bodies hold.

The transcript bodies themselves are written by :mod:`echoic.formats` (the CLI writes the same
ones); the models here describe them for OpenAPI and build the small JSON answers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class Granularity(StrEnum):
    WORD = "word"
    SEGMENT = "segment"


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape."""

    error: ErrorDetail


class DurationUsage(BaseModel):
    type: Literal["duration"] = "duration"
    seconds: int = Field(description="Audio length, whole seconds rounded up (OpenAI's unit).")
    duration_ms: int
    tokens: int = Field(description="Text tokens the decoder produced.")


class TranscriptionJson(BaseModel):
    """``response_format=json``; ``verbose_json`` adds ``language``, ``duration``, ``segments``,
    ``words`` (with ``timestamp_granularities[]=word``) and echoic's ``metadata``."""

    text: str
    usage: DurationUsage


class ModelObject(BaseModel):
    """OpenAI's model object, with what echoic knows besides."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="When the model was installed (Unix time); 0 if unknown.")
    owned_by: str = "echoic"
    installed: bool
    loaded: bool
    default: bool
    description: str | None = None
    english_only: bool | None = None
    alias_of: str | None = Field(
        default=None, description="For ``whisper-1``: the model it stands for on this server."
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class SelfTest(BaseModel):
    passed: bool
    seconds: float
    slow: bool


class Ready(BaseModel):
    ready: bool
    models_loaded: list[str]
    self_test: SelfTest | None
    error: str | None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid request: a bad field, undecodable or damaged audio.",
        401: "Missing, unknown or revoked API key.",
        404: "Unknown model.",
        413: "Upload over the size limit, or audio over the duration limit.",
        415: "Not audio, or an audio format this server cannot decode.",
        429: "Over the rate limit; see Retry-After.",
        503: "Model not installed, or busy; see Retry-After.",
    }.items()
}
