"""Checks a transcription request passes before any decoding work (DESIGN.md §5).

In order, each cheaper than the next: the fields (a known model, a Whisper language code, a
format that fits the other fields), the file's size, its content (probed by reading the
headers: the name and MIME type the client sent are not trusted), its declared length, and
what the model can do (an English-only model neither translates nor hears French).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import BinaryIO

from starlette.datastructures import UploadFile

from echoic.audio import AudioInfo, probe_audio
from echoic.diarize.types import SpeakerCount
from echoic.engines.base import Capabilities
from echoic.errors import AudioTooLargeError, AudioTooLongError, InvalidParameterError
from echoic.server.schemas import Granularity
from echoic.settings import Settings
from echoic.types import ResponseFormat, SttMode, Task, TranscribeOptions

# Whisper's language tokens (faster_whisper.tokenizer._LANGUAGE_CODES), ISO 639-1 where one
# exists; "haw" (Hawaiian) and "yue" (Cantonese) have none.
WHISPER_LANGUAGES = frozenset(
    (  # noqa: SIM905 -- one packed string reads better than a hundred one-code lines
        "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha "
        "haw he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr "
        "ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg "
        "th tk tl tr tt uk ur uz vi yi yo zh yue"
    ).split()
)
STREAMABLE_FORMATS = (ResponseFormat.JSON, ResponseFormat.TEXT, ResponseFormat.DIARIZED_JSON)
SPEAKER_PARAMS = ("num_speakers", "min_speakers", "max_speakers")
GRANULARITIES_PARAM = "timestamp_granularities[]"
MAX_PROMPT_CHARS = 2000  # Whisper reads at most 224 prompt tokens; this is well beyond


@dataclass(frozen=True, kw_only=True)
class TranscriptionRequest:
    """The form fields of ``/audio/transcriptions`` and ``/audio/translations``."""

    task: Task
    model: str
    response_format: ResponseFormat = ResponseFormat.JSON
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    granularities: tuple[Granularity, ...] = ()
    stream: bool = False
    beam_size: int | None = None
    #: Routing override (echoic extension); ``None``: the server's mode.
    stt_mode: SttMode | None = None
    #: Keep the result as a stored transcript (echoic extension).
    store: bool = False
    #: Label segments with speakers (echoic extension; ``diarized_json`` implies it), knowing
    #: as much as these say about how many there are.
    diarization: bool = False
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    @property
    def include_words(self) -> bool:
        return Granularity.WORD in self.granularities

    @property
    def include_segments(self) -> bool:
        # OpenAI's default is ["segment"]; asking for words alone leaves segments out.
        return not self.granularities or Granularity.SEGMENT in self.granularities

    @property
    def speaker_count(self) -> SpeakerCount | None:
        """What the request says about its speakers; ``None`` without diarization. Raises
        :class:`InvalidParameterError` for a bad combination (``num_speakers=0``,
        ``max_speakers`` below ``min_speakers``)."""
        if not self.diarization:
            return None
        return SpeakerCount(
            num_speakers=self.num_speakers,
            min_speakers=self.min_speakers,
            max_speakers=self.max_speakers,
        )


def check_fields(request: TranscriptionRequest) -> TranscriptionRequest:
    """The request with its language normalized; raises :class:`InvalidParameterError`."""
    language = request.language
    if language is not None:
        language = language.strip().lower() or None
        if language is not None and language not in WHISPER_LANGUAGES:
            raise InvalidParameterError(
                f"Unsupported language {request.language!r}: give an ISO 639-1 code that "
                "Whisper knows, such as 'en', 'de' or 'zh', or leave it out to detect it.",
                param="language",
            )
    if request.granularities and request.response_format is not ResponseFormat.VERBOSE_JSON:
        raise InvalidParameterError(
            "timestamp_granularities[] requires response_format=verbose_json.",
            param=GRANULARITIES_PARAM,
        )
    if request.stream and request.response_format not in STREAMABLE_FORMATS:
        raise InvalidParameterError(
            f"stream=true sends text events; response_format must be json, text or "
            f"diarized_json, not {request.response_format.value}.",
            param="response_format",
        )
    if request.store and request.stream:
        raise InvalidParameterError(
            "store=true keeps a finished transcript; it cannot be combined with stream=true "
            "(submit a job to POST /v1/jobs and follow its events instead).",
            param="store",
        )
    if request.prompt is not None and len(request.prompt) > MAX_PROMPT_CHARS:
        raise InvalidParameterError(
            f"The prompt is longer than {MAX_PROMPT_CHARS} characters.", param="prompt"
        )
    diarization = request.diarization or request.response_format is ResponseFormat.DIARIZED_JSON
    if not diarization:
        for param in SPEAKER_PARAMS:
            if getattr(request, param) is not None:
                raise InvalidParameterError(
                    f"'{param}' describes the speakers of a diarization: send it with "
                    "diarization=true (or response_format=diarized_json).",
                    param=param,
                )
    checked = replace(request, language=language, diarization=diarization)
    checked.speaker_count  # noqa: B018 -- raises for bad speaker counts, before any work
    return checked


def check_diarization(request: TranscriptionRequest, settings: Settings) -> None:
    """A diarization request on a server that turned diarization off is refused (400)."""
    if request.diarization and not settings.diarization_enabled:
        raise InvalidParameterError(
            "Speaker diarization is turned off on this server (ECHOIC_DIARIZATION_ENABLED): "
            "send the request without diarization=true or response_format=diarized_json.",
            param="response_format"
            if request.response_format is ResponseFormat.DIARIZED_JSON
            else "diarization",
        )


def transcribe_options(request: TranscriptionRequest, settings: Settings) -> TranscribeOptions:
    # OpenAI: "if set to 0, the model will use log probability to automatically increase the
    # temperature until certain thresholds are hit" — faster-whisper's default schedule.
    options = TranscribeOptions(
        language=request.language,
        task=request.task,
        prompt=request.prompt or None,
        beam_size=request.beam_size or settings.beam_size,
        word_timestamps=request.include_words,  # diarization decodes shared segments again
        vad_filter=settings.vad_filter,
        batched_threshold_s=settings.batched_threshold_s,
        batch_size=settings.batch_size,
        mode=request.stt_mode,
    )
    if request.temperature:
        options = replace(options, temperature=request.temperature)
    return options


async def check_upload(upload: UploadFile, settings: Settings) -> AudioInfo:
    """Size, content and declared length of an uploaded file; raises the matching
    :class:`~echoic.errors.AudioError` (413, 400, 415) before any decoding."""
    size = upload.size if upload.size is not None else _size_of(upload.file)
    if size > settings.max_upload_bytes:
        raise AudioTooLargeError(
            f"The file is {size / 1e6:.1f} MB, over the "
            f"{settings.max_upload_bytes / 1e6:g} MB limit."
        )
    info = await asyncio.to_thread(probe_audio, upload.file)
    if info.duration_s is not None and info.duration_s > settings.max_duration_s:
        raise AudioTooLongError(
            f"The audio is {info.duration_s:.0f} s long, over the "
            f"{settings.max_duration_s:g} s limit."
        )
    return info


def _size_of(file: BinaryIO) -> int:
    size = file.seek(0, 2)
    file.seek(0)
    return size


def check_capabilities(
    capabilities: Capabilities, model: str, request: TranscriptionRequest
) -> None:
    """What the model cannot do, refused before decoding (the engine would refuse after)."""
    if request.task is Task.TRANSLATE and not capabilities.translation:
        raise InvalidParameterError(
            f"The model {model!r} cannot translate (it is English-only); use a multilingual "
            "model such as 'base'.",
            param="model",
        )
    if (
        request.language is not None
        and capabilities.languages is not None
        and request.language not in capabilities.languages
    ):
        raise InvalidParameterError(
            f"The model {model!r} only knows {', '.join(capabilities.languages)}; use a "
            f"multilingual model such as 'base' for {request.language!r}.",
            param="language",
        )
    if request.include_words and not capabilities.word_timestamps:
        raise InvalidParameterError(
            f"The model {model!r} gives no word timestamps.", param=GRANULARITIES_PARAM
        )
