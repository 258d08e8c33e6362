"""The remote engine: any OpenAI-compatible ``/audio/transcriptions`` endpoint (DESIGN.md §4).

OpenAI itself, a hosted Whisper, or another echoic server: the router puts it after the local
engine as the "cloud" tier. Audio goes up as 16 kHz 16-bit WAV and comes back as
``verbose_json`` with segment (and, when asked, word) timestamps.

HTTP and network failures are translated into echoic's error tree here, at the boundary, so the
router can classify them (:mod:`echoic.routing.classify`):

| provider answer                   | error                       | retried |
|-----------------------------------|-----------------------------|---------|
| 401, 403                          | ProviderAuthError           | no      |
| 408, 5xx, no answer, unreadable   | ProviderError               | yes     |
| 429                               | ProviderRateLimitedError    | yes, after ``Retry-After`` |
| other 4xx                         | ProviderRejectedError       | no      |
| client timeout                    | EngineTimeoutError          | no (next tier) |
"""

from __future__ import annotations

import email.utils
import math
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from echoic.audio.pcm import float32_to_wav
from echoic.engines.base import Capabilities, Health, LanguageGuess, ProgressCallback
from echoic.errors import (
    EchoicError,
    EngineTimeoutError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRejectedError,
)
from echoic.types import (
    SAMPLE_RATE,
    Audio,
    Segment,
    Task,
    TranscribeOptions,
    Transcript,
    TranscriptMetadata,
    Word,
    build_transcript,
    logprob_to_confidence,
)

LANGUAGE_PROBE_S = 30.0  # detect_language sends at most this much audio


@dataclass(frozen=True, kw_only=True)
class RemoteConfig:
    #: The API root, ending before ``/audio``: ``https://api.openai.com/v1``,
    #: ``http://gpu-box:8000/v1``.
    base_url: str
    api_key: str | None = None
    #: The model name the provider knows (``whisper-1`` for OpenAI).
    model: str = "whisper-1"
    timeout_s: float = 60.0
    #: What the provider can do (OpenAI's whisper-1 can do both).
    word_timestamps: bool = True
    translation: bool = True


class RemoteEngine:
    def __init__(
        self, config: RemoteConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=config.timeout_s,
            transport=transport,
        )
        #: Requests sent so far (a provider's bill is counted in these).
        self.requests = 0

    @property
    def name(self) -> str:
        return f"remote:{self.config.model}"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            streaming=False,
            word_timestamps=self.config.word_timestamps,
            translation=self.config.translation,
            languages=None,
            device="remote",
        )

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        started = time.perf_counter()
        path = "audio/translations" if options.task is Task.TRANSLATE else "audio/transcriptions"
        body = await self._post(path, audio, options)
        duration = len(audio) / SAMPLE_RATE
        transcript = parse_verbose_json(
            body,
            duration=duration,
            task=options.task,
            word_timestamps=options.word_timestamps,
            metadata=TranscriptMetadata(
                provider="cloud",
                engine="remote",
                model=self.config.model,
                device="remote",
                compute_type="",
                processing_ms=round((time.perf_counter() - started) * 1000),
            ),
        )
        if progress is not None:
            progress(duration, duration)
        return transcript

    async def _post(self, path: str, audio: Audio, options: TranscribeOptions) -> dict[str, Any]:
        data: dict[str, Any] = {"model": self.config.model, "response_format": "verbose_json"}
        if options.task is Task.TRANSCRIBE:
            granularities = ["segment", "word"] if options.word_timestamps else ["segment"]
            data["timestamp_granularities[]"] = granularities
            if options.language:
                data["language"] = options.language
        if options.prompt:
            data["prompt"] = options.prompt
        temperature = options.temperature
        if isinstance(temperature, tuple):
            temperature = temperature[0] if temperature else 0.0
        data["temperature"] = str(temperature)
        files = {"file": ("audio.wav", float32_to_wav(audio), "audio/wav")}
        self.requests += 1
        try:
            response = await self._client.post(path, data=data, files=files)
        except httpx.TimeoutException as exc:
            raise EngineTimeoutError(
                f"{self._where()} did not answer within {self.config.timeout_s:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"cannot reach {self._where()}: {exc}") from exc
        if response.status_code >= 400:
            raise http_error(response.status_code, _error_message(response), _retry_after(response))
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderError(
                f"{self._where()} answered {response.status_code} without a JSON body",
                status=response.status_code,
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ProviderError(
                f"{self._where()} answered without a transcript", status=response.status_code
            )
        return body

    def _where(self) -> str:
        return f"the remote provider at {self.config.base_url}"

    async def detect_language(self, audio: Audio) -> LanguageGuess:
        probe = audio[: int(LANGUAGE_PROBE_S * SAMPLE_RATE)]
        transcript = await self.transcribe(probe, TranscribeOptions(beam_size=1))
        return LanguageGuess(
            language=transcript.language or "", probability=transcript.language_probability or 0
        )

    async def healthcheck(self) -> Health:
        """The provider answers ``GET /models`` with 200 (and accepts the API key)."""
        try:
            response = await self._client.get("models")
        except httpx.HTTPError as exc:
            return Health(ok=False, detail=f"cannot reach {self._where()}: {exc}")
        if response.status_code != 200:
            return Health(ok=False, detail=f"{self._where()} answered {response.status_code}")
        return Health(ok=True, detail=self.config.base_url)

    async def aclose(self) -> None:
        await self._client.aclose()


def http_error(status: int, message: str, retry_after_s: float | None) -> EchoicError:
    """The error for a provider's HTTP error answer (see the table in the module docstring)."""
    text = f"the remote provider answered {status}: {message}"
    if status in (401, 403):
        return ProviderAuthError(text, status=status)
    if status == 429:
        return ProviderRateLimitedError(text, status=status, retry_after_s=retry_after_s)
    if status == 408 or status >= 500:
        return ProviderError(text, status=status, retry_after_s=retry_after_s)
    return ProviderRejectedError(text, status=status)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"))


def _error_message(response: httpx.Response) -> str:
    """The provider's own words: OpenAI's ``{"error": {"message"}}``, or the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
    return response.text[:200]


def parse_verbose_json(
    body: dict[str, Any],
    *,
    duration: float,
    task: Task,
    word_timestamps: bool,
    metadata: TranscriptMetadata,
) -> Transcript:
    """An OpenAI ``verbose_json`` body (or a plain ``json`` one) as a transcript.

    OpenAI lists words at the top level; each goes to the segment its start falls in. A body
    without segments becomes one segment over the whole audio.
    """
    words = _words(body.get("words")) if word_timestamps else None
    segments: list[Segment] = []
    raw_segments = body.get("segments")
    if isinstance(raw_segments, list) and raw_segments:
        for index, raw in enumerate(raw_segments):
            if not isinstance(raw, dict):
                continue
            avg_logprob = _float(raw.get("avg_logprob"))
            segments.append(
                Segment(
                    id=index,
                    start=_float(raw.get("start")) or 0.0,
                    end=_float(raw.get("end")) or 0.0,
                    text=str(raw.get("text") or ""),
                    confidence=None if avg_logprob is None else logprob_to_confidence(avg_logprob),
                    avg_logprob=avg_logprob,
                    no_speech_prob=_float(raw.get("no_speech_prob")),
                    compression_ratio=_float(raw.get("compression_ratio")),
                    temperature=_float(raw.get("temperature")),
                    tokens=tuple(t for t in raw.get("tokens") or () if isinstance(t, int)),
                )
            )
    elif str(body.get("text") or "").strip():
        segments.append(Segment(id=0, start=0.0, end=duration, text=str(body["text"])))
    if words is not None:
        segments = _assign_words(segments, words)
    language = body.get("language")
    return build_transcript(
        segments=segments,
        duration=_float(body.get("duration")) or duration,
        language=str(language).lower() if language else None,
        task=task,
        metadata=metadata,
    )


def _words(raw: Any) -> list[Word] | None:
    if not isinstance(raw, list):
        return None
    words = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("word"), str):
            probability = _float(item.get("probability"))
            words.append(
                Word(
                    word=item["word"],
                    start=_float(item.get("start")) or 0.0,
                    end=_float(item.get("end")) or 0.0,
                    probability=1.0 if probability is None else probability,
                )
            )
    return words


def _assign_words(segments: list[Segment], words: list[Word]) -> list[Segment]:
    """Words in time order go to segments in time order; the last segment takes the rest."""
    out = []
    position = 0
    for index, segment in enumerate(segments):
        end = position
        last = index == len(segments) - 1
        while end < len(words) and (last or words[end].start < segment.end):
            end += 1
        out.append(replace(segment, words=tuple(words[position:end])))
        position = end
    return out


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
