"""Live-benchmark sessions assembled from the manifest (``echoic bench sessions build``).

The dev sessions are three files; settings fitted to them need sessions they were not fitted
to. These are built the same way — utterances of the manifest joined by pauses, in silence or
over a noise bed, each with a JSON sidecar of the dev sessions' shape — from one part of the
held-out split (:mod:`echoic.bench.session_split`), and are deterministic: the same arguments
give the same bytes. Optionally (``pauses_s``) each utterance gets one or two long pauses
inside it at word boundaries (:mod:`echoic.bench.pauses`), and stays one reference.

    options = AssembleOptions(manifest=Path("../shared/eval/dev/manifest.jsonl"),
                              corpora=("librispeech",), part=Part.REPORT, seed=3)
    result = build_sessions(options, Path("bench-results/sessions/librispeech-report"))

Every random draw comes from its own stream of ``seed`` (order, gaps, noise, pauses), so the
silence and the noise build of one seed differ only in their background.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echoic.audio.decode import decode_audio
from echoic.audio.pcm import float32_to_wav
from echoic.bench.alignment import Aligner
from echoic.bench.clips import PauseDraw, paused_clip, plain_clip
from echoic.bench.manifest import Utterance, load_manifest
from echoic.bench.session_layout import (
    Background,
    Clip,
    lay_out,
    noise_bed,
    render,
    samples_of,
    seconds,
    segment,
)
from echoic.bench.session_split import Part, dev_session_ids, split_parts
from echoic.types import SAMPLE_RATE

# Independent random streams of one seed (pauses: clips.PAUSES_STREAM, 4): changing one draw
# leaves the others as they were.
ORDER, GAPS, NOISE = 1, 2, 3


def note(edge_s: float) -> str:
    """What a sidecar's numbers mean (its ``note``, as in the dev sessions)."""
    return (
        "start_s/end_s (exact: start_sample/end_sample at 16 kHz) = placement of the source "
        f"utterance, trimmed to its speech plus at most {edge_s:g} s of its own recording on "
        "each side (source_start_s/source_end_s: the span kept); speech_start_s/speech_end_s = "
        "energy-based estimate of the first/last speech (10 ms frames, +-20-40 ms, "
        "echoic.bench.speech_edges); gaps and leading/trailing_silence_s run from speech to "
        "speech (session start/end); pauses (if any) = digital silence put into the utterance "
        "at a word boundary (under the noise bed, if any), which stays one utterance."
    )


@dataclass(frozen=True, kw_only=True)
class AssembleOptions:
    manifest: Path
    #: Manifest ``subset`` names (``librispeech``, ``ljspeech``, ``spontaneous``, …) or ``all``.
    corpora: tuple[str, ...] = ("all",)
    #: ``None``: both parts.
    part: Part | None = None
    #: How many utterances in all (``None``: every one the part holds).
    utterances: int | None = None
    seed: int = 0
    gap_s: tuple[float, float] = (0.6, 1.5)
    #: At most this many utterances in a session; sessions are as even as can be.
    per_session: int = 8
    background: Background = field(default_factory=Background)
    #: Mid-sentence pauses: each utterance gets ``pauses_per_utterance`` of this length.
    pauses_s: tuple[float, float] | None = None
    pauses_per_utterance: tuple[int, int] = (1, 2)
    #: Speech kept before the first pause, after the last and between two.
    min_side_s: float = 1.0
    lead_s: float = 0.5
    tail_s: float = 1.5
    edge_s: float = 0.2
    #: Sessions whose utterances may not be reported on (default: ``sessions/`` beside the
    #: manifest).
    dev_sessions: Path | None = None

    def __post_init__(self) -> None:
        ranges = [("gap_s", self.gap_s), ("pauses_s", self.pauses_s or (1.0, 1.0))]
        for name, (low, high) in ranges:
            if not 0 < low <= high:
                raise ValueError(f"{name} must be 0 < low <= high, got {low}-{high}")
        least, most = self.pauses_per_utterance
        if not 1 <= least <= most:
            raise ValueError(f"pauses_per_utterance must be 1 <= low <= high, got {least}-{most}")
        if self.per_session < 1:
            raise ValueError(f"per_session must be at least 1, got {self.per_session}")
        if self.utterances is not None and self.utterances < 1:
            raise ValueError(f"utterances must be at least 1, got {self.utterances}")
        if self.seed < 0:
            raise ValueError(f"seed must not be negative, got {self.seed}")

    @property
    def sessions_dir(self) -> Path:
        return self.dev_sessions or self.manifest.parent / "sessions"


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    out: Path
    sessions: tuple[Path, ...]
    utterances: int
    duration_s: float
    #: Utterances drawn but left out, and why (too short for a pause, no speech found).
    skipped: tuple[tuple[str, str], ...]
    pool: int


def pick(
    utterances: Sequence[Utterance], parts: dict[str, Part], options: AssembleOptions
) -> list[Utterance]:
    """The utterances of the chosen corpora and part, in the seed's order."""
    known = {u.subset for u in utterances}
    unknown = set(options.corpora) - known - {"all"}
    if unknown:
        raise ValueError(
            f"no corpus {', '.join(sorted(unknown))} in the manifest "
            f"(it has {', '.join(sorted(known))})"
        )
    chosen = sorted(
        (
            u
            for u in utterances
            if ("all" in options.corpora or u.subset in options.corpora)
            and (options.part is None or parts[u.id] is options.part)
        ),
        key=lambda u: u.id,
    )
    order = np.random.default_rng([options.seed, ORDER]).permutation(len(chosen))
    return [chosen[i] for i in order.tolist()]


def session_sizes(total: int, most: int) -> list[int]:
    """``total`` utterances in as few sessions of at most ``most`` as hold them, as even as
    can be: 20 by 8 → 7, 7, 6."""
    if total <= 0:
        return []
    count = math.ceil(total / most)
    return [total // count + (1 if k < total % count else 0) for k in range(count)]


def draw_gaps(seed: int, session: int, count: int, gap_s: tuple[float, float]) -> list[int]:
    rng = np.random.default_rng([seed, GAPS, session])
    return [samples_of(g) for g in rng.uniform(gap_s[0], gap_s[1], size=count).tolist()]


def session_document(
    name: str, clips: Sequence[Clip], index: int, options: AssembleOptions
) -> tuple[bytes, dict[str, Any]]:
    """One session's WAV bytes and sidecar (everything but I/O)."""
    gaps = draw_gaps(options.seed, index, len(clips) - 1, options.gap_s)
    placements, total = lay_out(
        clips,
        gaps,
        lead=samples_of(options.lead_s),
        tail=samples_of(options.tail_s),
        edge=samples_of(options.edge_s),
    )
    background = options.background
    bed = None
    if background.noise_dbfs is not None:
        rng = np.random.default_rng([options.seed, NOISE, index])
        bed = noise_bed(total, background.noise_dbfs, rng)
    wav = float32_to_wav(render(placements, total, bed))
    texts = [c.utterance.text for c in clips]
    sidecar: dict[str, Any] = {
        "session": name,
        "audio": f"{name}.wav",
        "sample_rate": SAMPLE_RATE,
        "duration_s": seconds(total, 3),
        "background": background.describe(options.seed),
        "leading_silence_s": options.lead_s,
        "trailing_silence_s": options.tail_s,
        "gap_range_s": list(options.gap_s),
        "gap_seed": options.seed,
        "seed": options.seed,
        "corpus": sorted(options.corpora),
        "part": options.part.value if options.part else "all",
        "note": note(options.edge_s),
        "text": " ".join(texts),
        "segments": [segment(p) for p in placements],
        "sha256": hashlib.sha256(wav).hexdigest(),
    }
    if options.pauses_s is not None:
        sidecar["pause_range_s"] = list(options.pauses_s)
    return wav, sidecar


def build_sessions(
    options: AssembleOptions,
    out: Path,
    *,
    aligner: Aligner | None = None,
    on_session: Callable[[Path, dict[str, Any]], None] | None = None,
) -> BuildResult:
    """Write ``session_NN.wav`` + ``.json`` and ``build.json`` (what was asked, what was
    skipped) into ``out``, replacing the sessions an earlier build left there."""
    if options.pauses_s is not None and aligner is None:
        raise ValueError("mid-sentence pauses need word times: pass an aligner")
    utterances = load_manifest(options.manifest)
    parts = split_parts(utterances, dev_session_ids(options.sessions_dir, utterances))
    pool = pick(utterances, parts, options)
    wanted = len(pool) if options.utterances is None else min(options.utterances, len(pool))
    clips: list[Clip] = []
    skipped: list[tuple[str, str]] = []
    for utterance in pool:
        if len(clips) == wanted:
            break
        audio = decode_audio(utterance.audio)
        try:
            if aligner is not None and options.pauses_s is not None:
                clip = paused_clip(
                    utterance,
                    audio,
                    aligner,
                    PauseDraw(
                        seed=options.seed,
                        pauses_s=options.pauses_s,
                        per_utterance=options.pauses_per_utterance,
                        min_side_s=options.min_side_s,
                    ),
                )
            else:
                clip = plain_clip(utterance, audio)
        except ValueError as exc:
            skipped.append((utterance.id, str(exc)))
            continue
        if clip is None:
            skipped.append((utterance.id, "no word boundary with enough speech either side"))
        else:
            clips.append(clip)
    if not clips:
        raise ValueError("no utterance left to build sessions from")
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("session_*.wav"), *out.glob("session_*.json")]:
        stale.unlink()
    written: list[Path] = []
    summaries: list[dict[str, Any]] = []
    first = 0
    for index, size in enumerate(session_sizes(len(clips), options.per_session)):
        name = f"session_{index + 1:02d}"
        wav, sidecar = session_document(name, clips[first : first + size], index, options)
        first += size
        (out / f"{name}.wav").write_bytes(wav)
        _write_json(out / f"{name}.json", sidecar)
        written.append(out / f"{name}.wav")
        summaries.append(
            {
                "session": name,
                "duration_s": sidecar["duration_s"],
                "ids": [s["id"] for s in sidecar["segments"]],
            }
        )
        if on_session is not None:
            on_session(out / f"{name}.wav", sidecar)
    duration_s = round(sum(s["duration_s"] for s in summaries), 3)
    _write_json(
        out / "build.json",
        {
            "options": _options_record(options),
            "manifest_sha256": hashlib.sha256(options.manifest.read_bytes()).hexdigest(),
            "pool": len(pool),
            "utterances": len(clips),
            "duration_s": duration_s,
            "sessions": summaries,
            "skipped": [{"id": i, "reason": r} for i, r in skipped],
        },
    )
    return BuildResult(
        out=out,
        sessions=tuple(written),
        utterances=len(clips),
        duration_s=duration_s,
        skipped=tuple(skipped),
        pool=len(pool),
    )


def _options_record(options: AssembleOptions) -> dict[str, Any]:
    return {
        "corpus": sorted(options.corpora),
        "part": options.part.value if options.part else "all",
        "utterances": options.utterances,
        "seed": options.seed,
        "gap_s": list(options.gap_s),
        "per_session": options.per_session,
        "background": options.background.label,
        "pauses_s": list(options.pauses_s) if options.pauses_s else None,
        "pauses_per_utterance": list(options.pauses_per_utterance),
        "min_side_s": options.min_side_s,
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
