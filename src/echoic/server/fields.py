"""The form fields of ``/audio/transcriptions`` and ``/audio/translations``: their types,
bounds and the descriptions ``/docs`` shows. The diarization fields come as one dependency,
:class:`SpeakerFields`, which both routes take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, File, Form, UploadFile

from echoic.diarize.types import MAX_SPEAKERS
from echoic.server.validation import MAX_PROMPT_CHARS
from echoic.types import ResponseFormat, SttMode

FileField = Annotated[
    UploadFile,
    File(
        description="The audio (or video) file: any format FFmpeg reads. Its content is probed; "
        "the file name and type are not trusted."
    ),
]
ModelField = Annotated[
    str | None,
    Form(
        max_length=200,
        description="A model name (see GET /models); 'whisper-1' or none: the server's default.",
    ),
]
PromptField = Annotated[
    str | None, Form(max_length=MAX_PROMPT_CHARS, description="Text to guide the style.")
]
FormatField = Annotated[ResponseFormat, Form(description="The format of the transcript.")]
TemperatureField = Annotated[
    float | None,
    Form(ge=0, le=1, description="Sampling temperature; 0 or none: 0 with automatic fallback."),
]
BeamField = Annotated[
    int | None, Form(ge=1, le=10, description="Beam size (echoic extension; default 5).")
]
StoreField = Annotated[
    bool,
    Form(
        description="Keep the transcript (and the audio, under the server's retention) as a "
        "stored transcript (echoic extension); its id comes back in X-Echoic-Transcript-Id.",
    ),
]
DiarizationField = Annotated[
    bool,
    Form(
        description="Label each segment with its speaker, SPEAKER_00, SPEAKER_01, … (echoic "
        "extension; response_format=diarized_json implies it)."
    ),
]
SpeakersField = Annotated[
    int | None,
    Form(
        description="With diarization: the number of speakers, when known (1 to "
        f"{MAX_SPEAKERS}); none: find out."
    ),
]
MinSpeakersField = Annotated[
    int | None, Form(description="With diarization: at least this many speakers.")
]
MaxSpeakersField = Annotated[
    int | None, Form(description="With diarization: at most this many speakers.")
]


@dataclass(frozen=True, kw_only=True)
class SpeakerFields:
    """The diarization fields both routes take."""

    diarization: bool = False
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


def speaker_fields(
    diarization: DiarizationField = False,
    num_speakers: SpeakersField = None,
    min_speakers: MinSpeakersField = None,
    max_speakers: MaxSpeakersField = None,
) -> SpeakerFields:
    return SpeakerFields(
        diarization=diarization,
        num_speakers=num_speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
    )


Speakers = Annotated[SpeakerFields, Depends(speaker_fields)]
ModeField = Annotated[
    SttMode | None,
    Form(
        description="Where to transcribe (echoic extension): auto (local first, cloud fallback), "
        "force_local or force_cloud, within what the server allows; none: the server's mode."
    ),
]
