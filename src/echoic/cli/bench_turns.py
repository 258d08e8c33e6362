"""``echoic bench turns``: how well the words tell where a turn ends, and what end-of-turn
policies do at every pause of the session files (:mod:`echoic.bench.turns`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from echoic.cli.app import fail, reports_errors, settings_of
from echoic.cli.bench import _device, bench

if TYPE_CHECKING:
    from echoic.bench.turns import Pause, TurnsResult

_DEFAULT_SESSIONS = "dev=../shared/eval/dev/sessions"
#: Silence alone as today, RealtimeSTT's three pauses, and the ones measured around them.
_DEFAULT_POLICIES = (
    "450/450/450",
    "250/450/1200",
    "300/450/1200",
    "350/450/1200",
    "450/450/1200",
    "450/600/1200",
    "450/700/2000",
)


@bench.command("turns")
@click.option(
    "--sessions",
    "sets",
    multiple=True,
    default=(_DEFAULT_SESSIONS,),
    show_default=True,
    metavar="NAME=DIR",
    help="A named set of session files (repeat for several).",
)
@click.option("-m", "--model", default="tiny.en", show_default=True, help="The final's model.")
@click.option(
    "--policy",
    "policies",
    multiple=True,
    metavar="END/UNKNOWN/MID",
    help="End-of-turn waits in ms to score (repeat); default: a standard set.",
)
@click.option(
    "--from-report",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Score the pauses of an earlier report instead of decoding again.",
)
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="JSON."
)
@click.pass_context
@reports_errors
def turns(
    ctx: click.Context,
    sets: tuple[str, ...],
    model: str,
    policies: tuple[str, ...],
    from_report: Path | None,
    out: Path | None,
) -> None:
    """Every pause the live VAD finds: inside a reference or after one, how long, and what the
    speculative final says there; then splits, merges and waits per end-of-turn policy.

    \b
    echoic bench turns                                             # the dev sessions
    echoic bench turns --sessions tune=bench-results/sessions/librispeech+ljspeech-tune-s1
    echoic bench turns --from-report bench-results/turns.json --policy 300/450/1200
    """
    from echoic.bench.report import write_json
    from echoic.bench.turns import Policy, TurnsResult, load_pauses, score

    try:
        chosen = [Policy.parse(p) for p in policies or _DEFAULT_POLICIES]
    except ValueError as exc:
        fail(str(exc))
    collected = load_pauses(from_report) if from_report else _collect(ctx, sets, model)
    result = TurnsResult(
        model=model,
        sets=collected,
        scores={name: [score(p, policy) for policy in chosen] for name, p in collected.items()},
    )
    _print(result)
    path = out or Path("bench-results") / f"turns-{model}.json"
    write_json(result, path)
    click.echo(f"report: {path}")


def _collect(ctx: click.Context, sets: tuple[str, ...], model: str) -> dict[str, list[Pause]]:
    from echoic.bench.engine import load_engine
    from echoic.bench.stream import session_files
    from echoic.bench.turns import collect_pauses
    from echoic.streaming.config import StreamConfig
    from echoic.vad.silero import SileroVad

    settings = settings_of(ctx)
    engine = load_engine(model, settings.models_dir, _device(ctx, None)).engine
    config = StreamConfig().with_language("en" if model.endswith(".en") else None)
    detector = SileroVad()
    collected: dict[str, list[Pause]] = {}
    for entry in sets:
        name, sep, directory = entry.partition("=")
        if not sep or not name or not directory:
            fail(f"--sessions {entry!r}: expected NAME=DIR")
        files = session_files((Path(directory),))
        collected[name] = [
            pause
            for session in files
            for pause in collect_pauses(session, engine, detector.fork(), config)
        ]
        click.echo(f"  {name}: {len(collected[name])} pauses in {len(files)} sessions", err=True)
    return collected


def _print(result: TurnsResult) -> None:
    from echoic.bench.turns import cue_counts

    console = Console()
    cues = Table(title=f"pauses and what {result.model}'s speculative final says there")
    for column in ("set", "where", "sentence_end", "unknown", "mid_sentence"):
        cues.add_column(
            column, justify="left" if column in ("set", "where") else "right", no_wrap=True
        )
    for name, pauses in result.sets.items():
        for where, counts in cue_counts(pauses).items():
            cues.add_row(name, where, *(str(counts[c]) for c in counts))
    console.print(cues)
    table = Table(title="end-of-turn policies: END/UNKNOWN/MID ms of silence")
    for column in ("set", "policy", "split pauses", "split refs", "merges", "wait P50", "P95"):
        table.add_column(
            column, justify="left" if column in ("set", "policy") else "right", no_wrap=True
        )
    for name, scores in result.scores.items():
        for s in scores:
            table.add_row(
                name,
                s.policy.label,
                str(s.splits),
                str(s.split_references),
                str(s.merges),
                f"{s.wait_p50_ms:.0f}",
                f"{s.wait_p95_ms:.0f}",
            )
    console.print(table)
