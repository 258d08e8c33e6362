"""echoic: local-first, real-time speech-to-text.

The public API. Everything listed in ``__all__`` is supported; other modules are internals.
"""

from echoic.audio import decode_audio, probe_audio
from echoic.batch import transcribe_file
from echoic.clock import Clock, ManualClock, SystemClock
from echoic.engines.base import Capabilities, Engine, Health, LanguageGuess
from echoic.engines.faster_whisper import DeviceConfig, FasterWhisperEngine
from echoic.engines.models import install_model, resolve_model
from echoic.engines.registry import EnginePool
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import EchoicError
from echoic.formats import format_transcript
from echoic.settings import Settings
from echoic.types import (
    SAMPLE_RATE,
    ResponseFormat,
    Segment,
    Task,
    TranscribeOptions,
    Transcript,
    TranscriptMetadata,
    Word,
)

__version__ = "0.1.0"

__all__ = [
    "SAMPLE_RATE",
    "Capabilities",
    "Clock",
    "DeviceConfig",
    "EchoicError",
    "Engine",
    "EnginePool",
    "FasterWhisperEngine",
    "Health",
    "LanguageGuess",
    "ManualClock",
    "ResponseFormat",
    "ScriptedEngine",
    "Segment",
    "Settings",
    "Step",
    "SystemClock",
    "Task",
    "TranscribeOptions",
    "Transcript",
    "TranscriptMetadata",
    "Word",
    "__version__",
    "decode_audio",
    "format_transcript",
    "install_model",
    "probe_audio",
    "resolve_model",
    "transcribe_file",
]
