"""Multi-speaker conversations assembled from the manifest (``echoic bench diarization build``).

The dev set has one real conversation (``diarization/pyannote_sample.wav``, 30 s): too little to
tune a diarizer on and then report. These conversations are built from the manifest's readers
instead, so who speaks when is known exactly:

- each conversation draws 2–4 speakers (manifest ``speaker``s with at least two utterances in
  the chosen part of the held-out split, :mod:`echoic.bench.session_split`), and 6–10 turns;
- every speaker speaks first once, in a drawn order, then each turn goes to another speaker than
  the one before (never the same voice twice in a row), each turn one whole utterance, never
  one utterance twice in a conversation;
- turns are laid out as the live-benchmark sessions are (:mod:`echoic.bench.session_layout`),
  0.2–1.0 s from one speaker's last speech to the next one's first, over digital silence or a
  noise bed: no overlap;
- the reference (RTTM) is each utterance's speech (:mod:`echoic.bench.speech_edges`), split
  where the reader pauses for ``MIN_PAUSE_S`` or more: such a pause is nobody's speech.

The tune/report split is the manifest's: a ``report`` build uses only report utterances, which
no ``tune`` build and no dev session contains. Deterministic: the same arguments give the same
bytes (each random draw has its own stream of ``seed``).

    options = ConversationOptions(manifest=Path("../shared/eval/dev/manifest.jsonl"),
                                  part=Part.REPORT, seed=0)
    result = build_conversations(options, Path("bench-results/conversations/report-s0"))
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echoic.audio.decode import decode_audio
from echoic.audio.pcm import float32_to_wav
from echoic.bench.clips import plain_clip
from echoic.bench.manifest import Utterance, load_manifest
from echoic.bench.rttm import format_rttm
from echoic.bench.session_layout import (
    Background,
    Clip,
    Placement,
    lay_out,
    noise_bed,
    render,
    samples_of,
    seconds,
    segment,
)
from echoic.bench.session_split import Part, dev_session_ids, split_parts
from echoic.bench.speech_edges import FRAME_SAMPLES, frame_levels_db, speech_edges, speech_runs
from echoic.diarize.types import Turn
from echoic.types import SAMPLE_RATE

# Independent random streams of one seed: changing one draw leaves the others as they were.
CAST, GAPS, NOISE = 1, 2, 3

#: A pause inside an utterance this long or longer is not speech in the reference: a listener
#: hears the reader stop (0.5 s is also the whole NIST collar, so shorter pauses would be
#: forgiven anyway).
MIN_PAUSE_S = 0.5
MIN_PAUSE_FRAMES = round(MIN_PAUSE_S * SAMPLE_RATE / FRAME_SAMPLES)  # 50 frames of 10 ms


@dataclass(frozen=True, kw_only=True)
class ConversationOptions:
    manifest: Path
    #: Manifest ``subset`` names or ``all``.
    corpora: tuple[str, ...] = ("librispeech", "ljspeech")
    #: ``None``: both parts.
    part: Part | None = Part.REPORT
    conversations: int = 8
    speakers: tuple[int, int] = (2, 4)
    turns: tuple[int, int] = (6, 10)
    seed: int = 0
    gap_s: tuple[float, float] = (0.2, 1.0)
    background: Background = field(default_factory=Background)
    lead_s: float = 0.5
    tail_s: float = 1.0
    edge_s: float = 0.2
    #: Sessions whose utterances are tune only (default: ``sessions/`` beside the manifest).
    dev_sessions: Path | None = None

    def __post_init__(self) -> None:
        for name, (low, high) in [("speakers", self.speakers), ("turns", self.turns)]:
            if not 1 <= low <= high:
                raise ValueError(f"{name} must be 1 <= low <= high, got {low}-{high}")
        if self.speakers[0] < 2:
            raise ValueError("a conversation needs at least 2 speakers")
        if self.turns[0] < self.speakers[1]:
            raise ValueError(
                f"at least {self.speakers[1]} turns, so that each of up to "
                f"{self.speakers[1]} speakers speaks (got {self.turns[0]})"
            )
        if not 0 < self.gap_s[0] <= self.gap_s[1]:
            raise ValueError(f"gap_s must be 0 < low <= high, got {self.gap_s}")
        if self.conversations < 1:
            raise ValueError(f"conversations must be at least 1, got {self.conversations}")
        if self.seed < 0:
            raise ValueError(f"seed must not be negative, got {self.seed}")

    @property
    def sessions_dir(self) -> Path:
        return self.dev_sessions or self.manifest.parent / "sessions"


def speaker_pools(
    utterances: Sequence[Utterance], parts: dict[str, Part], options: ConversationOptions
) -> dict[str, list[Utterance]]:
    """Each eligible speaker's utterances of the chosen corpora and part, sorted by id."""
    known = {u.subset for u in utterances}
    unknown = set(options.corpora) - known - {"all"}
    if unknown:
        raise ValueError(
            f"no corpus {', '.join(sorted(unknown))} in the manifest "
            f"(it has {', '.join(sorted(known))})"
        )
    pools: dict[str, list[Utterance]] = defaultdict(list)
    for u in sorted(utterances, key=lambda u: u.id):
        if ("all" in options.corpora or u.subset in options.corpora) and (
            options.part is None or parts[u.id] is options.part
        ):
            pools[u.speaker].append(u)
    return {speaker: pool for speaker, pool in sorted(pools.items()) if len(pool) >= 2}


def cast(
    pools: dict[str, list[Utterance]], index: int, options: ConversationOptions
) -> list[Utterance]:
    """Conversation ``index``'s turns, one utterance each, in speaking order (pure)."""
    rng = np.random.default_rng([options.seed, CAST, index])
    names = sorted(pools)
    if len(names) < options.speakers[0]:
        raise ValueError(
            f"{len(names)} speakers with two utterances or more in the part "
            f"({', '.join(names) or 'none'}); need {options.speakers[0]}"
        )
    count = int(rng.integers(options.speakers[0], min(options.speakers[1], len(names)) + 1))
    chosen = [names[i] for i in rng.choice(len(names), size=count, replace=False).tolist()]
    queues = {s: [pools[s][i] for i in rng.permutation(len(pools[s])).tolist()] for s in chosen}
    wanted = int(rng.integers(options.turns[0], options.turns[1] + 1))
    order = list(chosen)  # everyone speaks once first
    while len(order) < wanted:
        used = {s: order.count(s) for s in chosen}
        free = [s for s in chosen if s != order[-1] and used[s] < len(queues[s])]
        if not free:
            break
        order.append(free[int(rng.integers(len(free)))])
    taken: dict[str, int] = defaultdict(int)
    turns: list[Utterance] = []
    for speaker in order:
        turns.append(queues[speaker][taken[speaker]])
        taken[speaker] += 1
    return turns


def speech_turns(placement: Placement) -> list[Turn]:
    """The reference turns of one placed utterance: its speech, split at pauses of
    ``MIN_PAUSE_S`` or more, in seconds of the conversation."""
    clip = placement.clip
    levels = frame_levels_db(clip.audio)
    threshold = speech_edges(clip.audio).threshold_db
    spans: list[list[int]] = []
    for first, end in speech_runs(levels, threshold):
        a = max(first * FRAME_SAMPLES, clip.speech_start)
        b = min(end * FRAME_SAMPLES, clip.speech_end)
        if b <= a:
            continue
        if spans and a - spans[-1][1] < MIN_PAUSE_FRAMES * FRAME_SAMPLES:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    if not spans:  # speech_edges found speech, so runs exist; keep the edges if not
        spans = [[clip.speech_start, clip.speech_end]]
    speaker = clip.utterance.speaker
    return [
        Turn(
            start=seconds(placement.session_sample(a), 3),
            end=seconds(placement.session_sample(b), 3),
            speaker=speaker,
        )
        for a, b in spans
    ]


def conversation_document(
    name: str, clips: Sequence[Clip], index: int, options: ConversationOptions
) -> tuple[bytes, str, dict[str, Any]]:
    """One conversation's WAV bytes, RTTM and sidecar (everything but I/O)."""
    rng = np.random.default_rng([options.seed, GAPS, index])
    gaps = [samples_of(g) for g in rng.uniform(*options.gap_s, size=len(clips) - 1).tolist()]
    placements, total = lay_out(
        clips,
        gaps,
        lead=samples_of(options.lead_s),
        tail=samples_of(options.tail_s),
        edge=samples_of(options.edge_s),
    )
    bed = None
    if options.background.noise_dbfs is not None:
        noise_rng = np.random.default_rng([options.seed, NOISE, index])
        bed = noise_bed(total, options.background.noise_dbfs, noise_rng)
    wav = float32_to_wav(render(placements, total, bed))
    turns = [turn for p in placements for turn in speech_turns(p)]
    speakers = list(dict.fromkeys(c.utterance.speaker for c in clips))
    sidecar: dict[str, Any] = {
        "session": name,
        "audio": f"{name}.wav",
        "rttm": f"{name}.rttm",
        "sample_rate": SAMPLE_RATE,
        "duration_s": seconds(total, 3),
        "num_speakers": len(speakers),
        "speakers": speakers,
        "background": options.background.describe(options.seed),
        "leading_silence_s": options.lead_s,
        "trailing_silence_s": options.tail_s,
        "gap_range_s": list(options.gap_s),
        "seed": options.seed,
        "corpus": sorted(options.corpora),
        "part": options.part.value if options.part else "all",
        "note": (
            "segments: one per turn (a whole manifest utterance), in the sessions' shape "
            "(echoic.bench.assemble.note); the RTTM: each turn's speech, split at pauses of "
            f"{MIN_PAUSE_S:g} s or more inside it; turns never overlap"
        ),
        "text": " ".join(c.utterance.text for c in clips),
        "segments": [segment(p) for p in placements],
        "sha256": hashlib.sha256(wav).hexdigest(),
    }
    return wav, format_rttm(name, turns), sidecar


@dataclass(frozen=True, kw_only=True)
class ConversationsBuilt:
    out: Path
    conversations: tuple[Path, ...]
    duration_s: float
    speakers: tuple[int, ...]


def build_conversations(
    options: ConversationOptions,
    out: Path,
    *,
    on_conversation: Callable[[Path, dict[str, Any]], None] | None = None,
) -> ConversationsBuilt:
    """Write ``conversation_NN.wav`` + ``.rttm`` + ``.json`` and ``build.json`` into ``out``,
    replacing the conversations an earlier build left there."""
    utterances = load_manifest(options.manifest)
    parts = split_parts(utterances, dev_session_ids(options.sessions_dir, utterances))
    pools = speaker_pools(utterances, parts, options)
    casts = [cast(pools, index, options) for index in range(options.conversations)]
    clip_of: dict[str, Clip] = {}
    for utterance in {u.id: u for turns in casts for u in turns}.values():
        clip_of[utterance.id] = plain_clip(utterance, decode_audio(utterance.audio))
    out.mkdir(parents=True, exist_ok=True)
    for suffix in ("wav", "rttm", "json"):
        for stale in out.glob(f"conversation_*.{suffix}"):
            stale.unlink()
    written: list[Path] = []
    summaries: list[dict[str, Any]] = []
    for index, turns in enumerate(casts):
        name = f"conversation_{index + 1:02d}"
        clips = [clip_of[u.id] for u in turns]
        wav, rttm, sidecar = conversation_document(name, clips, index, options)
        (out / f"{name}.wav").write_bytes(wav)
        (out / f"{name}.rttm").write_text(rttm, encoding="utf-8")
        _write_json(out / f"{name}.json", sidecar)
        written.append(out / f"{name}.wav")
        summaries.append(
            {
                "conversation": name,
                "duration_s": sidecar["duration_s"],
                "speakers": sidecar["speakers"],
                "ids": [u.id for u in turns],
            }
        )
        if on_conversation is not None:
            on_conversation(out / f"{name}.wav", sidecar)
    duration_s = round(sum(s["duration_s"] for s in summaries), 3)
    _write_json(
        out / "build.json",
        {
            "options": {
                "corpus": sorted(options.corpora),
                "part": options.part.value if options.part else "all",
                "conversations": options.conversations,
                "speakers": list(options.speakers),
                "turns": list(options.turns),
                "seed": options.seed,
                "gap_s": list(options.gap_s),
                "background": options.background.label,
            },
            "manifest_sha256": hashlib.sha256(options.manifest.read_bytes()).hexdigest(),
            "speaker_pools": {s: len(p) for s, p in pools.items()},
            "duration_s": duration_s,
            "conversations": summaries,
        },
    )
    return ConversationsBuilt(
        out=out,
        conversations=tuple(written),
        duration_s=duration_s,
        speakers=tuple(len(s["speakers"]) for s in summaries),
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
