"""An OpenAI Realtime session configuration in echoic's stream terms (pure).

``/v1/realtime`` runs the same streams as ``/v1/listen``: its session (format, language, model,
turn detection, prompt) and echoic's own query parameters become a
:class:`~echoic.streaming.protocol.StartMessage`, planned as any stream's
(:func:`echoic.server.frames.plan_stream`); what a start message cannot say (the pre-roll, the
prompt) is then applied to the planned :class:`~echoic.streaming.config.StreamConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from echoic.errors import InvalidRequestError
from echoic.server.realtime_events import SessionConfig
from echoic.streaming.config import StreamConfig
from echoic.streaming.protocol import StartMessage, VadOverrides

#: echoic's own choices, as query parameters (OpenAI clients pass them with ``extra_query``).
ECHOIC_QUERY = ("mode", "confirm_model", "stt_mode", "skip_confirm_logprob")


def start_message(session: SessionConfig, query: Mapping[str, str]) -> StartMessage:
    """The ``start`` message ``session`` (and echoic's ``query`` parameters) amount to; an
    :class:`~echoic.errors.InvalidRequestError` for a value a stream does not take."""
    turn = session.turn_detection
    fields: dict[str, Any] = {k: v for k, v in query.items() if k in ECHOIC_QUERY}
    vad = None
    if turn is not None and (turn.threshold or turn.silence_duration_ms):
        vad = VadOverrides(threshold=turn.threshold, silence_ms=turn.silence_duration_ms)
    try:
        return StartMessage.model_validate(
            {
                **fields,
                "sample_rate": session.sample_rate,
                "language": session.language,
                "model": session.model,
                "vad": vad,
            }
        )
    except ValueError as exc:
        raise InvalidRequestError(f"invalid session: {exc}") from exc


def with_session(config: StreamConfig, session: SessionConfig) -> StreamConfig:
    """``config`` with what only a session says: the pre-roll (``prefix_padding_ms``) and the
    prompt, given to drafts and finals alike."""
    turn = session.turn_detection
    if turn is not None and turn.prefix_padding_ms is not None:
        config = replace(config, vad=replace(config.vad, pre_roll_ms=turn.prefix_padding_ms))
    if session.prompt:
        config = replace(
            config,
            draft_options=replace(config.draft_options, prompt=session.prompt),
            final_options=replace(config.final_options, prompt=session.prompt),
        )
    return config


def stream_changes(old: SessionConfig, new: SessionConfig) -> bool:
    """Whether audio after the update needs a new stream (not for noise reduction, include)."""
    return _stream_part(old) != _stream_part(new)


def _stream_part(config: SessionConfig) -> SessionConfig:
    return config.replace(noise_reduction=None, include=())
