"""Audio in: decode any file to 16 kHz mono float32, convert and resample raw PCM streams."""

from echoic.audio.buffer import RingBuffer
from echoic.audio.decode import AudioInfo, decode_audio, probe_audio
from echoic.audio.pcm import Resampler, float32_to_wav, pcm_to_float32
from echoic.audio.source import AudioSource

__all__ = [
    "AudioInfo",
    "AudioSource",
    "Resampler",
    "RingBuffer",
    "decode_audio",
    "float32_to_wav",
    "pcm_to_float32",
    "probe_audio",
]
