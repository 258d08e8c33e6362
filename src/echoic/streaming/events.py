"""Streaming events, server → client (DESIGN.md §2).

Every event carries ``type``, ``seq`` (strictly increasing per session), ``session_id`` and
``t`` (seconds since the session started on the server). :class:`EventStamper` hands them out so
that no code path can forget a field or reuse a sequence number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    READY = "ready"
    SPEECH_STARTED = "speech_started"
    PARTIAL = "partial"
    SPEECH_ENDED = "speech_ended"
    FINAL = "final"
    FALLBACK = "fallback"
    WARNING = "warning"
    ERROR = "error"
    END = "end"


@dataclass(frozen=True, kw_only=True)
class Event:
    type: EventType
    seq: int
    session_id: str
    t: float
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "seq": self.seq,
            "session_id": self.session_id,
            "t": self.t,
            **self.data,
        }


class EventStamper:
    """Builds the events of one session: sequence numbers and session-relative times."""

    def __init__(self, session_id: str, started_at: float) -> None:
        self.session_id = session_id
        self.started_at = started_at
        self._seq = 0

    def __call__(self, type: EventType, now: float, **data: Any) -> Event:
        self._seq += 1
        return Event(
            type=type,
            seq=self._seq,
            session_id=self.session_id,
            t=round(max(0.0, now - self.started_at), 3),
            data=data,
        )
