"""``echoic bench wer``: a model's accuracy over a manifest, optionally vs plain faster-whisper.

With ``compare_plain`` every file is transcribed by both paths back to back (alternating which goes
first), on the same loaded model with the same options, so a WER difference can only come from
echoic's own code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from echoic.bench.engine import LoadedEngine
from echoic.bench.machine import MachineInfo, machine_info, peak_rss_mb
from echoic.bench.manifest import Utterance, load_manifest
from echoic.bench.runs import PlainWhisper, Run, run_echoic
from echoic.bench.text import WordCounts, count_errors, normalize, total
from echoic.types import TranscribeOptions


@dataclass(frozen=True, kw_only=True)
class WerOptions:
    manifest: Path
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)
    limit: int | None = None  # the first N utterances (after ``ids``)
    ids: tuple[str, ...] | None = None  # only these utterances
    compare_plain: bool = False


@dataclass(frozen=True, kw_only=True)
class Hypothesis:
    text: str
    normalized: str
    counts: WordCounts
    seconds: float
    batched: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "normalized": self.normalized,
            **self.counts.to_dict(),
            "seconds": round(self.seconds, 4),
            "batched": self.batched,
        }


@dataclass(frozen=True, kw_only=True)
class UtteranceResult:
    id: str
    corpus: str
    duration_s: float
    reference: str
    reference_normalized: str
    echoic: Hypothesis
    plain: Hypothesis | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "corpus": self.corpus,
            "duration_s": self.duration_s,
            "reference": self.reference,
            "reference_normalized": self.reference_normalized,
            "echoic": self.echoic.to_dict(),
            "plain": None if self.plain is None else self.plain.to_dict(),
        }


@dataclass(frozen=True, kw_only=True)
class PathTotals:
    """Corpus totals of one contender (echoic or plain faster-whisper)."""

    counts: WordCounts
    audio_s: float
    processing_s: float

    @property
    def wer(self) -> float:
        return self.counts.wer

    @property
    def rtfx(self) -> float:
        return self.audio_s / self.processing_s if self.processing_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.counts.to_dict(),
            "audio_s": round(self.audio_s, 3),
            "processing_s": round(self.processing_s, 3),
            "rtfx": round(self.rtfx, 2),
        }


@dataclass(frozen=True, kw_only=True)
class CorpusResult:
    corpus: str
    utterances: int
    audio_s: float
    echoic: WordCounts
    plain: WordCounts | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "utterances": self.utterances,
            "audio_s": round(self.audio_s, 3),
            "echoic": self.echoic.to_dict(),
            "plain": None if self.plain is None else self.plain.to_dict(),
        }


@dataclass(frozen=True, kw_only=True)
class WerResult:
    model: str
    manifest: Path
    options: TranscribeOptions
    machine: MachineInfo
    created_at: str
    utterances: tuple[UtteranceResult, ...]
    corpora: tuple[CorpusResult, ...]
    echoic: PathTotals
    plain: PathTotals | None
    peak_rss_after_load_mb: float
    peak_rss_after_run_mb: float

    kind: ClassVar[str] = "wer"

    @property
    def wer_delta(self) -> float | None:
        """echoic WER − plain faster-whisper WER (positive: echoic is worse)."""
        return None if self.plain is None else self.echoic.wer - self.plain.wer

    @property
    def differing(self) -> int | None:
        """Utterances whose normalized hypotheses differ between echoic and plain.

        Non-zero even for identical code when decoding falls back to sampling (temperature > 0).
        """
        if self.plain is None:
            return None
        return sum(
            u.plain is not None and u.plain.normalized != u.echoic.normalized
            for u in self.utterances
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "created_at": self.created_at,
            "manifest": str(self.manifest),
            "machine": self.machine.to_dict(),
            "options": asdict(self.options),
            "memory": {
                "peak_rss_after_load_mb": self.peak_rss_after_load_mb,
                "peak_rss_after_run_mb": self.peak_rss_after_run_mb,
            },
            "totals": {
                "echoic": self.echoic.to_dict(),
                "plain": None if self.plain is None else self.plain.to_dict(),
                "wer_delta": self.wer_delta,
                "hypotheses_differing": self.differing,
            },
            "corpora": [c.to_dict() for c in self.corpora],
            "utterances": [u.to_dict() for u in self.utterances],
        }


def run_wer(
    loaded: LoadedEngine,
    options: WerOptions,
    *,
    on_utterance: Callable[[UtteranceResult], None] | None = None,
) -> WerResult:
    """Transcribe every selected utterance and score it; ``on_utterance`` reports progress."""
    utterances = load_manifest(options.manifest, ids=options.ids, limit=options.limit)
    if not utterances:
        raise ValueError(f"no utterances selected from {options.manifest}")
    engine = loaded.engine
    plain = PlainWhisper(engine.whisper_model) if options.compare_plain else None
    results: list[UtteranceResult] = []
    for index, utt in enumerate(utterances):
        echoic_run, plain_run = _transcribe_both(loaded, plain, utt, options.transcribe, index)
        ref_norm = normalize(utt.text)
        result = UtteranceResult(
            id=utt.id,
            corpus=utt.corpus,
            duration_s=utt.duration_s,
            reference=utt.text,
            reference_normalized=ref_norm,
            echoic=_score(ref_norm, echoic_run),
            plain=None if plain_run is None else _score(ref_norm, plain_run),
        )
        results.append(result)
        if on_utterance is not None:
            on_utterance(result)
    return WerResult(
        model=loaded.model,
        manifest=options.manifest,
        options=options.transcribe,
        machine=machine_info(
            model=loaded.model,
            device=loaded.device,
            compute_type=loaded.compute_type,
            cpu_threads=loaded.cpu_threads,
            beam_size=options.transcribe.beam_size,
            load_s=loaded.load_s,
        ),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        utterances=tuple(results),
        corpora=_by_corpus(results),
        echoic=_totals(results, lambda r: r.echoic),
        plain=_totals(results, lambda r: r.plain) if plain is not None else None,
        peak_rss_after_load_mb=loaded.peak_rss_after_load_mb,
        peak_rss_after_run_mb=peak_rss_mb(),
    )


def _transcribe_both(
    loaded: LoadedEngine,
    plain: PlainWhisper | None,
    utt: Utterance,
    options: TranscribeOptions,
    index: int,
) -> tuple[Run, Run | None]:
    if plain is None:
        return run_echoic(loaded.engine, utt.audio, options), None
    # Plain faster-whisper gets the algorithm echoic picks for this duration (batched=None).
    batched = options.batched
    if batched is None:
        batched = utt.duration_s >= options.batched_threshold_s
    # Alternate the order so that neither path always runs on a warmer cache.
    if index % 2 == 0:
        echoic_run = run_echoic(loaded.engine, utt.audio, options)
        plain_run = plain.run(utt.audio, options, batched=batched)
    else:
        plain_run = plain.run(utt.audio, options, batched=batched)
        echoic_run = run_echoic(loaded.engine, utt.audio, options)
    return echoic_run, plain_run


def _score(reference_normalized: str, run: Run) -> Hypothesis:
    hyp_norm = normalize(run.text)
    return Hypothesis(
        text=run.text,
        normalized=hyp_norm,
        counts=count_errors(reference_normalized, hyp_norm, normalized=True),
        seconds=run.seconds,
        batched=run.batched,
    )


def _totals(
    results: list[UtteranceResult], pick: Callable[[UtteranceResult], Hypothesis | None]
) -> PathTotals:
    hyps = [(r, h) for r in results if (h := pick(r)) is not None]
    return PathTotals(
        counts=total(h.counts for _, h in hyps),
        audio_s=sum(r.duration_s for r, _ in hyps),
        processing_s=sum(h.seconds for _, h in hyps),
    )


def _by_corpus(results: list[UtteranceResult]) -> tuple[CorpusResult, ...]:
    groups: dict[str, list[UtteranceResult]] = {}
    for r in results:
        groups.setdefault(r.corpus or "(none)", []).append(r)
    return tuple(
        CorpusResult(
            corpus=name,
            utterances=len(rows),
            audio_s=sum(r.duration_s for r in rows),
            echoic=total(r.echoic.counts for r in rows),
            plain=(
                total(r.plain.counts for r in rows if r.plain is not None)
                if all(r.plain is not None for r in rows)
                else None
            ),
        )
        for name, rows in groups.items()
    )
