"""Word timings for text already decoded: Whisper's cross-attention alignment of a segment's
tokens against its audio (faster-whisper's ``find_alignment``), without decoding again.

A diarized transcript needs word timings only in the segments two speakers share
(:mod:`echoic.diarize.runner`). Decoding those segments again would cost a beam search each;
aligning their tokens costs one encoder pass and one teacher-forced decoder pass, and keeps the
text exactly as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import merge_punctuations

from echoic.types import Audio, Word

#: faster-whisper's defaults: punctuation that joins the word before or after it.
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


def align_tokens(
    model: Any, audio: Audio, tokens: Sequence[int], language: str | None
) -> tuple[Word, ...]:
    """The words of ``tokens`` (one segment's, at most 30 s of ``audio``) with times in seconds
    from the start of ``audio``. ``model`` is a faster-whisper ``WhisperModel``."""
    tokenizer = Tokenizer(
        model.hf_tokenizer,
        model.model.is_multilingual,
        task="transcribe",
        language=language if model.model.is_multilingual else "en",
    )
    text_tokens = [t for t in tokens if t < tokenizer.eot]
    if not text_tokens or len(audio) == 0:
        return ()
    features = model.feature_extractor(audio)
    num_frames = min(model.feature_extractor.nb_max_frames, max(1, features.shape[-1] - 1))
    encoder_output = model.encode(pad_or_trim(features[:, :num_frames]))
    (alignment,) = model.find_alignment(tokenizer, [text_tokens], encoder_output, num_frames)
    merge_punctuations(alignment, PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS)
    return tuple(
        Word(
            word=w["word"],
            start=round(float(w["start"]), 3),
            end=round(float(w["end"]), 3),
            probability=float(w["probability"]),
        )
        for w in alignment
        if w["word"]
    )
