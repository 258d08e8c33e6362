"""The decode windows of one live stream: every :class:`DecodeRequest` a session sends out, and
those still waiting for their result.

A window is a span of the session's ring buffer, numbered in the order it was asked for (the
``window_id`` of the events); results of windows that are no longer in flight (cancelled,
superseded) are dropped by the session. Pure, like the session that owns it.
"""

from __future__ import annotations

import itertools

from echoic.audio.buffer import RingBuffer
from echoic.streaming.config import StreamConfig
from echoic.streaming.decoding import DecodeKind, DecodeRequest, Output
from echoic.streaming.utterance import Utterance
from echoic.types import TranscribeOptions


class DecodeWindows:
    def __init__(self, config: StreamConfig, ring: RingBuffer, *, session_id: str) -> None:
        self.config = config
        self.session_id = session_id
        self._ring = ring
        self._window_ids = itertools.count(1)
        #: Requests sent out and not answered yet, with the utterance each decodes.
        self.inflight: dict[int, tuple[DecodeRequest, Utterance]] = {}
        #: The one draft in flight (drafts run one at a time).
        self.draft_inflight: int | None = None

    def request(
        self,
        utterance: Utterance,
        kind: DecodeKind,
        end_sample: int,
        now: float,
        *,
        speculative: bool = False,
    ) -> DecodeRequest:
        start = max(utterance.start_sample, self._ring.start)
        end = max(start, min(end_sample, self._ring.end))
        request = DecodeRequest(
            id=next(self._window_ids),
            session_id=self.session_id,
            utterance_id=utterance.id,
            kind=kind,
            audio=self._ring.read(start, end),
            start_sample=start,
            end_sample=end,
            options=self._options(kind),
            speculative=speculative,
            fast=kind is DecodeKind.FINAL and self._confident(utterance),
            created_at=now,
        )
        self.inflight[request.id] = (request, utterance)
        return request

    def _options(self, kind: DecodeKind) -> TranscribeOptions:
        if kind is DecodeKind.DRAFT:
            return self.config.draft_options
        if kind is DecodeKind.CONFIRM:
            return self.config.confirm_options
        return self.config.final_options

    def _confident(self, utterance: Utterance) -> bool:
        threshold = self.config.skip_confirm_logprob
        return (
            threshold is not None
            and utterance.draft_logprob is not None
            and utterance.draft_logprob >= threshold
        )

    def cancel(self, request_id: int, out: Output) -> None:
        self.inflight.pop(request_id, None)
        if self.draft_inflight == request_id:
            self.draft_inflight = None
        out.cancelled.append(request_id)
