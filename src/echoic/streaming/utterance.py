"""One utterance of a live stream: its state machine and what the session tracks about it.

IDLE → CAPTURING → TRANSCRIBING → FINALIZING → DONE
          │             ├──────────────┴──→ FAILED | TIMED_OUT
          └─────────────┴──→ CANCELLED
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from echoic.streaming.client import ClientTranscript
from echoic.streaming.decoding import DecodeRequest, DecodeResult
from echoic.streaming.speculative import Merger


class UtteranceState(StrEnum):
    IDLE = "idle"
    CAPTURING = "capturing"
    TRANSCRIBING = "transcribing"
    FINALIZING = "finalizing"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


TERMINAL = {
    UtteranceState.DONE,
    UtteranceState.CANCELLED,
    UtteranceState.FAILED,
    UtteranceState.TIMED_OUT,
}
_ALLOWED: dict[UtteranceState, set[UtteranceState]] = {
    UtteranceState.IDLE: {UtteranceState.CAPTURING, UtteranceState.CANCELLED},
    UtteranceState.CAPTURING: {UtteranceState.TRANSCRIBING, UtteranceState.CANCELLED},
    UtteranceState.TRANSCRIBING: {
        UtteranceState.FINALIZING,
        UtteranceState.CANCELLED,
        UtteranceState.FAILED,
        UtteranceState.TIMED_OUT,
    },
    UtteranceState.FINALIZING: {UtteranceState.DONE, UtteranceState.FAILED},
}


@dataclass
class Utterance:
    id: int
    start_sample: int
    state: UtteranceState = UtteranceState.IDLE
    end_sample: int | None = None
    end_reason: str | None = None
    ended_at: float | None = None
    speech_end_arrival: float | None = None
    draft_windows: list[int] = field(default_factory=list)
    #: Windows shown (drafts, confirmations) that no later confirmation has corrected yet.
    uncorrected: list[int] = field(default_factory=list)
    last_shown_window: int = -1
    last_confirmed_window: int = -1
    confirm_inflight: int | None = None
    last_confirm_end: int = 0
    merger: Merger = field(default_factory=Merger)
    speculative: DecodeRequest | None = None
    final_request: DecodeRequest | None = None
    final_result: DecodeResult | None = None
    dropped_at_start: int = 0
    draft_warned: bool = False
    #: The newest shown draft's average token log-probability (``None``: none shown yet).
    draft_logprob: float | None = None
    #: Client transcripts: one that came before the utterance ended, and until when the
    #: session waits for one after it ended.
    client_supplied: ClientTranscript | None = None
    client_deadline: float | None = None
    fallback_strategy: str | None = None
    #: The newest text shown for it (draft or confirmation): what end of turn judges.
    hypothesis: str | None = None
    #: What the words said when the utterance ended on them (``None``: silence alone ended it).
    turn_cue: str | None = None

    def move(self, to: UtteranceState) -> None:
        if to not in _ALLOWED.get(self.state, set()):
            raise RuntimeError(
                f"utterance {self.id}: illegal transition {self.state.value} → {to.value}"
            )
        self.state = to

    def newest_text(self) -> str | None:
        """The newest text of the open utterance: its speculative final's once that answered
        (it covers every word up to the pause), else the newest draft or confirmation shown."""
        result = self.final_result
        if self.speculative is not None and result is not None and result.transcript:
            return result.transcript.text
        return self.hypothesis
