"""How a live stream behaves: VAD, drafts, finals, confirmations (DESIGN.md §3).

One frozen :class:`StreamConfig` per stream; the server builds it from its settings and the
client's ``start`` message (:meth:`echoic.streaming.protocol.StartMessage.stream_config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from echoic.streaming.modes import StreamMode
from echoic.streaming.speculative import MergeStrategy
from echoic.types import SttMode, TranscribeOptions
from echoic.vad.state import VadConfig


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    #: Tuned on the dev sessions in real time (tiny.en; `echoic bench stream`): against the
    #: VAD's own defaults (500 ms silence, 300 ms pre-roll, 100 ms tail), 450/500/200 gave final
    #: latency P95 0.72 s instead of 0.755 s and streaming WER 8.3 % instead of 9.1 %: the longer
    #: pre-roll and tail stop word edges from falling between two utterances. 100 ms of speech
    #: start an utterance, not 200 (the shortest words last about that long): fitted on the
    #: tune sessions with a noise bed (first draft P95 0.66 → 0.48 s, the same WER, no finals in
    #: the gaps), quoted on the report and dev sessions (README "Live latency").
    vad: VadConfig = field(
        default_factory=lambda: VadConfig(
            silence_ms=450, pre_roll_ms=500, tail_ms=200, min_speech_ms=100
        )
    )
    #: Drafts (``partial`` events of the drafting model while the utterance is open).
    interim_results: bool = True
    #: Dual-model mode: show the open utterance's confirmations (``False``: run none; the
    #: confirming model still makes the finals).
    confirmed_partials: bool = True
    #: Speech buffered (pre-roll included) before the first draft.
    draft_min_ms: int = 500
    #: New audio between two drafts; a draft still running delays the next (coalescing).
    draft_interval_ms: int = 250
    #: Start the final decode this early, before the endpoint is confirmed.
    speculative_final: bool = True
    #: Drafts: greedy, encoder input = window + 2 s (cheap; a draft is replaced anyway).
    draft_options: TranscribeOptions = field(
        default_factory=lambda: TranscribeOptions(beam_size=1, vad_filter=False, encoder_pad_s=2.0)
    )
    #: Finals: beam 5, window + 5 s, which matched full 30 s windows' WER on the dev sessions
    #: (7.95 % both; + 2 s gave 9.5 %) at a third of the cost.
    final_options: TranscribeOptions = field(
        default_factory=lambda: TranscribeOptions(
            beam_size=5, vad_filter=False, encoder_pad_s=5.0, word_timestamps=True
        )
    )
    #: Dual-model mode: confirm the open utterance with the heavy model every this many ms of
    #: new audio (and at VAD pauses inside it). ``None``: no interim confirmations.
    confirm_interval_ms: int | None = None
    #: Dual-model mode: confirmations align word timings as finals do. A ``partial`` carries
    #: no words, so nothing reads them: off, the confirming model's decodes cost less of the
    #: CPU that finals and drafts share, with the same text (README "Single vs dual-model").
    confirm_word_timestamps: bool = False
    merge: MergeStrategy = MergeStrategy.PATCH
    #: Dual-model mode: when the newest draft of an ending utterance has an average token
    #: log-probability of at least this, the drafting model makes the final (with the final
    #: options) and the heavy pass is skipped. ``None``: the confirming model makes every final.
    skip_confirm_logprob: float | None = None
    #: Audio the session keeps: the longest utterance plus its pre-roll and some slack.
    buffer_s: float = 40.0
    #: The client transcribes on its own device and hands each utterance's text in
    #: (:meth:`StreamSession.client_transcript`): no drafts, no decodes, unless it is late.
    client_transcripts: bool = False
    #: How long after an utterance ends the session waits for the client's transcript before
    #: decoding the audio itself (and reporting a ``fallback``).
    client_grace_ms: int = 2000
    #: Label each final with its speaker (:mod:`echoic.diarize.online`): the runner embeds the
    #: utterance's voice beside its final decode.
    diarization: bool = False
    #: Diarization: at most this many speakers; past it an utterance joins the nearest voice.
    max_speakers: int | None = None

    @property
    def confirms(self) -> bool:
        """Whether the open utterance is confirmed while it is spoken."""
        return self.confirm_interval_ms is not None and self.confirmed_partials

    @property
    def confirm_options(self) -> TranscribeOptions:
        """Confirmations decode as finals do (the same text), without word timings unless
        ``confirm_word_timestamps``."""
        if self.confirm_word_timestamps:
            return self.final_options
        return replace(self.final_options, word_timestamps=False)

    @property
    def mode(self) -> StreamMode:
        """What the stream does: speculative when it confirms the open utterance."""
        return StreamMode.SINGLE if self.confirm_interval_ms is None else StreamMode.SPECULATIVE

    def with_language(self, language: str | None) -> StreamConfig:
        return replace(
            self,
            draft_options=replace(self.draft_options, language=language),
            final_options=replace(self.final_options, language=language),
        )

    def with_mode(self, mode: SttMode | None) -> StreamConfig:
        """Finals and confirmations route by ``mode``; drafts stay local (cheap, frequent and
        replaced anyway: not worth a remote call each)."""
        return replace(
            self,
            draft_options=replace(self.draft_options, mode=SttMode.FORCE_LOCAL),
            final_options=replace(self.final_options, mode=mode),
        )
