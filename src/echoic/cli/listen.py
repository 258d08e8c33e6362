"""``echoic listen``: live transcription of a file (optionally at real-time pace) or a microphone.

On a terminal, drafts are shown dim and rewritten in place; each confirmed utterance is printed
bright on its own line (after its speaker with ``--diarize``). ``--json`` prints every event as
one JSON line instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.text import Text

from echoic.audio import decode_audio
from echoic.cli.app import (
    EXIT_BAD_INPUT,
    cli,
    device_options,
    engine_pool,
    fail,
    reports_errors,
    settings_of,
)
from echoic.diarize.types import MAX_SPEAKERS
from echoic.engines.faster_whisper import FasterWhisperEngine
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import Event, EventType
from echoic.streaming.live import LiveStream, file_chunks, stream_language
from echoic.streaming.modes import StreamMode, stream_models
from echoic.streaming.runner import StreamAborted
from echoic.streaming.schedulers import Schedulers
from echoic.streaming.speakers import SpeakerEmbeddings, installed_voice_encoder
from echoic.types import SAMPLE_RATE
from echoic.vad.detector import SpeechDetector
from echoic.vad.energy import EnergyVad
from echoic.vad.silero import SileroVad

CHUNK_MS = 20


class LiveView:
    """Confirmed lines stay; the open utterance's draft is redrawn in place."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._live = Live(console=console, auto_refresh=False, transient=True)
        self._draft = Text()

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def show(self, event: Event) -> None:
        data = event.data
        if event.type is EventType.PARTIAL:
            confirmed = str(data.get("confirmed_text") or "")
            stable = str(data["stable_text"])
            text = str(data["text"])
            self._draft = Text.assemble(
                (confirmed, "white"),
                (stable[len(confirmed) :], "grey70"),
                (text[len(stable) :], "grey42 italic"),
            )
        elif event.type is EventType.FINAL:
            self._draft = Text()
            if data["text"]:
                self._live.console.print(
                    Text.assemble(
                        (_speaker_prefix(data), "cyan"),
                        (str(data["text"]), "bold bright_white"),
                    )
                )
        elif event.type in (EventType.WARNING, EventType.ERROR):
            detail = data.get("detail") or data.get("message")
            self._live.console.print(Text(f"[{data['code']}] {detail}", style="yellow"))
        self._live.update(self._draft, refresh=True)


@cli.command()
@click.option(
    "-i",
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audio or video file to stream.",
)
@click.option("--mic", is_flag=True, help="Stream the default microphone (needs echoic[mic]).")
@click.option("--realtime", is_flag=True, help="Feed the file at real-time pace.")
@click.option("-m", "--model", default=None, help="Model name or CTranslate2 directory.")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in StreamMode]),
    default=None,
    help="speculative: confirm the open utterance every --confirm-interval-ms (with "
    "--confirm-model, or --model itself at beam 5); default: speculative with a confirming "
    "model, single without.",
)
@click.option(
    "--confirm-model",
    default=None,
    help="Dual-model mode: this (heavier) model confirms what --model drafts.",
)
@click.option(
    "--confirm-interval-ms",
    type=click.IntRange(min=100),
    default=1000,
    show_default=True,
    help="Dual-model mode: confirm the open utterance this often.",
)
@click.option("-l", "--language", default=None, help="Spoken language code.")
@click.option("--json", "as_json", is_flag=True, help="Print every event as a JSON line.")
@click.option(
    "--vad",
    type=click.Choice(["silero", "energy"]),
    default="silero",
    show_default=True,
    help="Speech detector (energy: no model needed).",
)
@click.option("--drafts/--no-drafts", default=True, help="Interim (draft) results.")
@click.option(
    "--diarize",
    is_flag=True,
    help="Label each final with its speaker (needs echoic models install voice-encoder).",
)
@click.option(
    "--max-speakers",
    type=click.IntRange(1, MAX_SPEAKERS),
    default=None,
    help="With --diarize: at most this many speakers.",
)
@device_options
@click.pass_context
@reports_errors
def listen(
    ctx: click.Context,
    input_path: Path | None,
    mic: bool,
    realtime: bool,
    model: str | None,
    mode: str | None,
    confirm_model: str | None,
    confirm_interval_ms: int,
    language: str | None,
    as_json: bool,
    vad: str,
    drafts: bool,
    diarize: bool,
    max_speakers: int | None,
    device: str | None,
    compute_type: str | None,
    cpu_threads: int | None,
) -> None:
    """Live transcription with drafts and confirmed text, from a file or the microphone."""
    if (input_path is None) == (not mic):
        fail("give exactly one of --input FILE or --mic", EXIT_BAD_INPUT)
    if max_speakers is not None and not diarize:
        fail("--max-speakers needs --diarize", EXIT_BAD_INPUT)
    settings = settings_of(ctx)
    speakers = None
    if diarize:  # a missing voice encoder fails here, before any model loads
        speakers = installed_voice_encoder(settings.models_dir)
        speakers.load()
    audio = None
    if input_path is not None:
        audio = decode_audio(input_path, max_duration_s=settings.max_duration_s)
    models = stream_models(
        model or settings.model,
        mode=None if mode is None else StreamMode(mode),
        confirm_model=confirm_model,
        default_confirm_model=settings.confirm_model,
    )
    pool = engine_pool(settings, device, compute_type, cpu_threads)
    engines = [pool.get(name) for name in models.names]
    config = StreamConfig(
        interim_results=drafts,
        confirm_interval_ms=confirm_interval_ms if models.speculative else None,
    ).with_language(stream_language(language, engines))
    config = replace(config, diarization=diarize, max_speakers=max_speakers)
    detector: SpeechDetector = SileroVad() if vad == "silero" else EnergyVad()
    try:
        asyncio.run(
            _listen(
                engines,
                config,
                detector,
                audio,
                realtime=realtime,
                as_json=as_json,
                speakers=speakers,
            )
        )
    except StreamAborted as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        if speakers is not None:
            speakers.close()


async def _listen(
    engines: list[FasterWhisperEngine],
    config: StreamConfig,
    detector: SpeechDetector,
    audio: Any,
    *,
    realtime: bool,
    as_json: bool,
    speakers: SpeakerEmbeddings | None = None,
) -> None:
    schedulers = Schedulers.of(engines[0], engines[-1])
    console = Console(highlight=False)
    view = None if as_json or not console.is_terminal else LiveView(console)

    async def emit(event: Event) -> None:
        if as_json:
            sys.stdout.write(json.dumps(event.to_dict()) + "\n")
            sys.stdout.flush()
        elif view is not None:
            view.show(event)
        elif event.type is EventType.FINAL and event.data["text"]:
            click.echo(_speaker_prefix(event.data) + str(event.data["text"]))
        elif event.type in (EventType.WARNING, EventType.ERROR):
            detail = event.data.get("detail") or event.data.get("message")
            click.echo(f"[{event.data['code']}] {detail}", err=True)

    ready = {
        "models": [e.model_name for e in engines],
        "mode": config.mode.value,
        "config": {"realtime": realtime},
        "diarization": config.diarization,
    }
    with view or contextlib.nullcontext():
        try:
            async with LiveStream(
                schedulers,
                emit,
                detector=detector,
                config=config,
                model=engines[-1].model_name,
                ready=ready,
                embed=speakers.embed if speakers is not None else None,
            ) as stream:
                if audio is not None:
                    async for chunk in file_chunks(audio, chunk_ms=CHUNK_MS, realtime=realtime):
                        if realtime:
                            stream.send(chunk)
                        else:
                            await stream.send_paced(chunk)
                else:
                    await _microphone(stream)
        finally:
            await schedulers.aclose()


def _speaker_prefix(final: Any) -> str:
    """``SPEAKER_00: `` before a diarized final's text (nothing before the first voice)."""
    speaker = final.get("speaker")
    return f"{speaker}: " if speaker else ""


async def _microphone(stream: LiveStream) -> None:
    try:
        import sounddevice  # type: ignore[import-not-found, unused-ignore]
    except (ImportError, OSError) as exc:
        fail(
            "microphone input needs the sounddevice package and PortAudio: "
            f"pip install 'echoic[mic]' and install libportaudio2 ({exc})"
        )
    try:
        sounddevice.query_devices(kind="input")
    except Exception as exc:  # PortAudio reports a missing device in several ways
        fail(f"no microphone found: {exc}")
    loop = asyncio.get_running_loop()

    def callback(data: Any, frames: int, time: Any, status: Any) -> None:
        loop.call_soon_threadsafe(stream.send, data[:, 0].copy())

    with sounddevice.InputStream(
        samplerate=SAMPLE_RATE,
        channels=1,
        dtype="float32",
        blocksize=SAMPLE_RATE * CHUNK_MS // 1000,
        callback=callback,
    ):
        click.echo("listening… (Ctrl-C to stop)", err=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        try:
            await stop.wait()  # then leaving the stream finalizes the last utterance
        finally:
            loop.remove_signal_handler(signal.SIGINT)
