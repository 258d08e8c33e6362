"""``echoic bench sessions``: live-benchmark sessions assembled from the manifest, and its split.

``build`` writes session WAVs with JSON sidecars that ``echoic bench stream --sessions DIR``
takes as they are; ``split`` shows which utterances are for tuning and which for reporting.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from echoic.cli.app import fail, reports_errors, settings_of
from echoic.cli.bench import bench

_DEFAULT_MANIFEST = Path("../shared/eval/dev/manifest.jsonl")
_DEFAULT_ROOT = Path("bench-results/sessions")
_manifest = click.option(
    "--manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=_DEFAULT_MANIFEST,
    show_default=True,
)


def _seconds_range(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    """``0.6-1.5`` (or one number) as ``(low, high)`` seconds."""
    if value is None:
        return None
    low, _, high = value.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not LOW-HIGH seconds, like 0.6-1.5") from None
    if not 0 < bounds[0] <= bounds[1]:
        raise click.BadParameter(f"{value!r}: need 0 < LOW <= HIGH")
    return bounds


@bench.group()
def sessions() -> None:
    """Live-benchmark sessions assembled from the manifest (tune/report split)."""


@sessions.command("build")
@_manifest
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    default=("all",),
    show_default=True,
    help="Manifest corpus (subset): librispeech, ljspeech, spontaneous, … or all; repeatable.",
)
@click.option(
    "--part",
    type=click.Choice(["tune", "report", "all"]),
    default="report",
    show_default=True,
    help="Which half of the held-out split (echoic bench sessions split).",
)
@click.option(
    "--utterances",
    type=click.IntRange(min=1),
    default=None,
    help="How many utterances in all (default: every one of the part).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--gap",
    callback=_seconds_range,
    default="0.6-1.5",
    show_default=True,
    metavar="LOW-HIGH",
    help="Pause from one utterance's speech end to the next one's speech start (seconds).",
)
@click.option(
    "--per-session",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="At most this many utterances per session (sessions as even as can be).",
)
@click.option(
    "--background",
    default="silence",
    show_default=True,
    help="silence, or a pink noise bed under the whole session: noise-50dBFS.",
)
@click.option(
    "--pauses",
    callback=_seconds_range,
    default=None,
    metavar="LOW-HIGH",
    help="Put 1-2 pauses of LOW-HIGH seconds inside each utterance, at word boundaries found "
    "with --align-model (each stays one reference utterance).",
)
@click.option(
    "--align-model",
    default="base",
    show_default=True,
    help="--pauses: the Whisper model whose word timestamps place the cuts.",
)
@click.option(
    "--alignments",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="--pauses: word-time cache (default: OUT/alignments.json); share it between builds.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Directory (default: {_DEFAULT_ROOT}/<corpus>-<part>-s<seed>[-pauses][-noise]).",
)
@click.pass_context
@reports_errors
def sessions_build(
    ctx: click.Context,
    manifest: Path,
    corpora: tuple[str, ...],
    part: str,
    utterances: int | None,
    seed: int,
    gap: tuple[float, float],
    per_session: int,
    background: str,
    pauses: tuple[float, float] | None,
    align_model: str,
    alignments: Path | None,
    out: Path | None,
) -> None:
    """Build session WAVs + sidecars (the dev sessions' shape), the same bytes for the same
    arguments; then: echoic bench stream --sessions OUT."""
    from echoic.bench.alignment import CachedAligner
    from echoic.bench.assemble import AssembleOptions, build_sessions
    from echoic.bench.engine import load_engine
    from echoic.bench.session_layout import Background
    from echoic.bench.session_split import Part

    try:
        options = AssembleOptions(
            manifest=manifest,
            corpora=tuple(dict.fromkeys(corpora)),
            part=None if part == "all" else Part(part),
            utterances=utterances,
            seed=seed,
            gap_s=gap,
            per_session=per_session,
            background=Background.parse(background),
            pauses_s=pauses,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if out is None:
        name = f"{'+'.join(options.corpora)}-{part}-s{seed}"
        name += "-pauses" if pauses else ""
        name += "" if options.background.noise_dbfs is None else f"-{options.background.label}"
        out = _DEFAULT_ROOT / name
    aligner = None
    if pauses is not None:
        models_dir = settings_of(ctx).models_dir
        aligner = CachedAligner(
            lambda: load_engine(align_model, models_dir).engine,
            align_model,
            alignments or out / "alignments.json",
        )
    try:
        result = build_sessions(
            options,
            out,
            aligner=aligner,
            on_session=lambda wav, meta: click.echo(
                f"{wav}: {len(meta['segments'])} utterances, {meta['duration_s']:.1f} s", err=True
            ),
        )
    except ValueError as exc:
        fail(str(exc))
    for utterance_id, reason in result.skipped:
        click.echo(f"skipped {utterance_id}: {reason}", err=True)
    click.echo(
        f"{len(result.sessions)} sessions, {result.utterances} utterances "
        f"(of {result.pool} in the part), {result.duration_s / 60:.1f} min: {result.out}"
    )


@sessions.command("split")
@_manifest
@click.option("--ids", is_flag=True, help="List each utterance's part too.")
@reports_errors
def sessions_split(manifest: Path, ids: bool) -> None:
    """The manifest's tune/report split, per corpus (dev-session utterances are tune)."""
    from echoic.bench.manifest import load_manifest
    from echoic.bench.session_split import dev_session_ids, split_parts

    try:
        utterances = load_manifest(manifest)
        held_in = dev_session_ids(manifest.parent / "sessions", utterances)
    except ValueError as exc:
        fail(str(exc))
    parts = split_parts(utterances, held_in)
    counts = Counter((u.subset, parts[u.id].value) for u in utterances)
    for subset in sorted({u.subset for u in utterances}):
        tune, report = counts[(subset, "tune")], counts[(subset, "report")]
        click.echo(f"{subset:<12} tune {tune:>3}  report {report:>3}")
    click.echo(f"({len(held_in)} utterances of the dev sessions are all in tune)")
    if ids:
        for u in sorted(utterances, key=lambda u: (u.subset, u.id)):
            mark = "  (dev session)" if u.id in held_in else ""
            click.echo(f"{parts[u.id].value:<7}{u.subset:<12}{u.id}{mark}")
