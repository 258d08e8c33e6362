"""Voice activity detection: speech probabilities per window, and utterances from them.

Detectors (:class:`SileroVad`, the dependency-free :class:`EnergyVad`) score 512-sample windows
of 16 kHz audio; the :class:`Endpointer` turns those scores into utterance events in sample time.
All of it is synchronous and reads no clock.
"""

from echoic.vad.detector import WINDOW_SAMPLES, SpeechDetector
from echoic.vad.energy import EnergyVad
from echoic.vad.silero import SileroVad
from echoic.vad.state import (
    Endpointer,
    EndReason,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    VadConfig,
    VadEvent,
    VadState,
)

__all__ = [
    "WINDOW_SAMPLES",
    "EndReason",
    "Endpointer",
    "EnergyVad",
    "SileroVad",
    "SpeechDetector",
    "SpeechEnded",
    "SpeechPaused",
    "SpeechResumed",
    "SpeechStarted",
    "VadConfig",
    "VadEvent",
    "VadState",
]
