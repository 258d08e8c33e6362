"""echoic's stream events → OpenAI Realtime transcription events (pure; one per connection).

**Deltas.** echoic's drafts revise earlier text; OpenAI's deltas only append. An item's deltas
carry only its *stable* text (words two drafts agreed on, or confirmed), and at completion the
rest of the final text when it extends what was sent, so that the deltas join to the
``completed`` transcript. When the final decode rewrote a word already sent, no further delta is
sent for that item and the ``completed`` event's ``transcript`` is authoritative (it carries
``echoic.deltas_diverged: true``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from echoic.server.realtime_events import RealtimeError, new_id
from echoic.streaming.stable import word_key


@dataclass(kw_only=True)
class _Item:
    id: str
    sent: str = ""  # the deltas so far, joined
    diverged: bool = False
    base: str = ""  # the finals of its utterances so far, joined (as settled)
    open_stable: str = ""
    audio_s: float = 0.0
    fallbacks: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)
    #: Manual mode: committed, and the utterances (key) it still waits for.
    committed: bool = False
    waiting: set[tuple[str, int]] = field(default_factory=set)
    failed: bool = False


class Translator:
    """echoic's stream events → OpenAI transcription events, for one connection.

    With server VAD an item is an utterance. With manual commits (``turn_detection: null``) an
    item is everything between two commits: every utterance the VAD found in it, joined.
    """

    def __init__(self) -> None:
        self.manual = False
        self._items: dict[tuple[str, int], _Item] = {}
        self._current: _Item | None = None  # manual mode: the uncommitted item
        self._last_committed: str | None = None
        self._done: set[str] = set()
        self._finals: set[tuple[str, int]] = set()
        self._starts: dict[tuple[str, int], float] = {}
        #: Per stream: the utterances a commit or clear has already claimed.
        self._claimed: dict[str, int] = {}

    def set_manual(self, manual: bool) -> None:
        self.manual = manual

    # -- manual commits --

    def commit(self, session_id: str | None, utterances: int) -> list[dict[str, Any]]:
        """The buffer is committed (manual mode): every utterance the stream ``session_id`` has
        started (``utterances`` so far), and not claimed before, makes one item. Their events
        may still be on the way: the session counts an utterance before its events go out."""
        item = self._current or _Item(id=new_id("item"))
        self._current = None
        item.committed = True
        for key in self._claim(session_id, utterances):
            self._items.setdefault(key, item)
            if self._items[key] is item and key not in self._finals:
                item.waiting.add(key)
        out = self._committed(item)
        if not item.waiting:
            out.extend(self._complete(item))
        return out

    def clear(self, session_id: str | None, utterances: int) -> None:
        """The uncommitted audio is dropped: the results of its utterances are ignored."""
        ignored = _Item(id=new_id("item"), committed=True)
        self._done.add(ignored.id)
        stale = self._current
        for key in self._claim(session_id, utterances):
            if (
                key not in self._items
                or self._items[key] is stale
                or not self._items[key].committed
            ):
                self._items[key] = ignored
        self._current = None

    def _claim(self, session_id: str | None, utterances: int) -> list[tuple[str, int]]:
        if session_id is None:
            return []
        first = self._claimed.get(session_id, 0) + 1
        self._claimed[session_id] = max(utterances, first - 1)
        return [(session_id, u) for u in range(first, utterances + 1)]

    # -- events --

    def translate(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = event["type"]
        session_id = str(event.get("session_id"))
        utterance_id = event.get("utterance_id")
        key = (session_id, int(utterance_id)) if isinstance(utterance_id, int) else None
        if kind == "speech_started" and key is not None:
            return self._speech_started(key, event)
        if key is None:
            if kind == "error":
                return [
                    RealtimeError(
                        type="server_error" if event.get("retryable") else "invalid_request_error",
                        code=str(event.get("code")),
                        message=str(event.get("message")),
                    ).to_event()
                ]
            return []  # ready, warning, end: nothing an OpenAI client knows
        item = self._items.get(key)
        if item is None or item.id in self._done:
            return []
        if kind == "partial":
            item.open_stable = str(event.get("stable_text") or "")
            return self._deltas(item)
        if kind == "speech_ended":
            end = float(event.get("audio_end_s") or 0)
            item.audio_s += max(0.0, end - self._starts.pop(key, end))
            return self._speech_ended(item, event)
        if kind == "fallback":
            item.fallbacks.append({k: event.get(k) for k in ("from", "to", "reason", "detail")})
            return []
        if kind == "final":
            return self._final(key, item, event)
        if kind == "error":
            return self._failed(key, item, event)
        return []

    def _speech_started(
        self, key: tuple[str, int], event: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        self._starts[key] = float(event.get("audio_start_s") or 0)
        if self.manual or key in self._items:
            if key not in self._items:  # not claimed by a commit already
                if self._current is None:
                    self._current = _Item(id=new_id("item"))
                self._items[key] = self._current
            return []
        item = _Item(id=new_id("item"))
        self._items[key] = item
        return [
            {
                "type": "input_audio_buffer.speech_started",
                "event_id": new_id("event"),
                "audio_start_ms": round(float(event.get("audio_start_s") or 0) * 1000),
                "item_id": item.id,
            }
        ]

    def _speech_ended(self, item: _Item, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.manual or item.committed:
            return []
        out: list[dict[str, Any]] = []
        if event.get("reason") != "finalize":
            out.append(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "event_id": new_id("event"),
                    "audio_end_ms": round(float(event.get("audio_end_s") or 0) * 1000),
                    "item_id": item.id,
                }
            )
        item.committed = True
        out.extend(self._committed(item))
        return out

    def _committed(self, item: _Item) -> list[dict[str, Any]]:
        previous, self._last_committed = self._last_committed, item.id
        return [
            {
                "type": "input_audio_buffer.committed",
                "event_id": new_id("event"),
                "item_id": item.id,
                "previous_item_id": previous,
            },
            {
                "type": "conversation.item.created",
                "event_id": new_id("event"),
                "previous_item_id": previous,
                "item": {
                    "id": item.id,
                    "object": "realtime.item",
                    "type": "message",
                    "status": "completed",
                    "role": "user",
                    "content": [{"type": "input_audio", "transcript": None}],
                },
            },
        ]

    def _text(self, item: _Item) -> str:
        """Finals so far, then the open utterance's stable words but its last (whose case and
        punctuation the final decode often changes: "modern" becomes "modern.")."""
        pending = " ".join(item.open_stable.split()[:-1])
        return " ".join(t for t in (item.base, pending) if t)

    def _deltas(self, item: _Item, text: str | None = None) -> list[dict[str, Any]]:
        """The part of ``text`` (default: the item's stable text) that extends what was sent."""
        text = self._text(item) if text is None else text
        if item.diverged or len(text) <= len(item.sent):
            return []
        if not text.startswith(item.sent):
            return []  # a later event may extend it again; the final decides
        delta, item.sent = text[len(item.sent) :], text
        return [
            {
                "type": "conversation.item.input_audio_transcription.delta",
                "event_id": new_id("event"),
                "item_id": item.id,
                "content_index": 0,
                "delta": delta,
            }
        ]

    def _final(
        self, key: tuple[str, int], item: _Item, event: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        self._finals.add(key)
        text = " ".join(t for t in (item.base, *str(event.get("text") or "").split()) if t)
        settled = settle(item.sent, text)
        if settled is None:
            item.diverged = True
        item.base = text if settled is None else settled
        item.open_stable = ""
        item.sources.append(str(event.get("source")))
        if isinstance(event.get("latency"), dict):
            item.latency.append(dict(event["latency"]))
        if self.manual:
            item.waiting.discard(key)
            if not item.committed or item.waiting:
                return self._deltas(item)
        return self._complete(item)

    def _complete(self, item: _Item) -> list[dict[str, Any]]:
        transcript = item.base
        out = self._deltas(item, transcript)
        if item.sent != transcript:
            item.diverged = True
        self._done.add(item.id)
        if item.failed and not item.base:
            return out
        out.append(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "event_id": new_id("event"),
                "item_id": item.id,
                "content_index": 0,
                "transcript": transcript,
                "usage": {"type": "duration", "seconds": round(item.audio_s, 3)},
                # echoic's own: OpenAI clients ignore fields they do not know.
                "echoic": {
                    "source": item.sources[-1] if item.sources else None,
                    "fallbacks": item.fallbacks,
                    "latency": item.latency[-1] if item.latency else None,
                    "deltas_diverged": item.diverged,
                },
            }
        )
        return out

    def _failed(
        self, key: tuple[str, int], item: _Item, event: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        self._finals.add(key)
        item.failed = True
        out = [
            {
                "type": "conversation.item.input_audio_transcription.failed",
                "event_id": new_id("event"),
                "item_id": item.id,
                "content_index": 0,
                "error": {
                    "type": "transcription_error",
                    "code": event.get("code"),
                    "message": event.get("message"),
                    "param": None,
                },
                "echoic": {"fallbacks": item.fallbacks},
            }
        ]
        if self.manual:
            item.waiting.discard(key)
            if item.committed and not item.waiting:
                out.extend(self._complete(item))
            return out
        self._done.add(item.id)
        return out


def settle(sent: str, final: str) -> str | None:
    """``final`` spelled so that it starts with ``sent`` (the deltas so far), when the two agree
    word for word but for case and punctuation; ``None`` when the final changed a word sent.

    Words already streamed keep the spelling they were streamed with, as the drafts' stable
    prefix does on ``/v1/listen`` (:mod:`echoic.streaming.stable`).
    """
    sent_words, final_words = sent.split(), final.split()
    if len(final_words) < len(sent_words):
        return None
    if any(word_key(a) != word_key(b) for a, b in zip(sent_words, final_words, strict=False)):
        return None
    return " ".join([*sent_words, *final_words[len(sent_words) :]])
