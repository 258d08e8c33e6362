"""``echoic transcribe --diarize`` and ``echoic jobs submit --diarize``: bad speaker counts and a
missing voice encoder end in one clear line and a non-zero exit, before any model is loaded; a
diarized job through a real server (scripted engine and diarizer) prints its speakers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from echoic.cli import cli
from echoic.diarize.scripted import ScriptedDiarizer
from echoic.diarize.types import SpeakerCount
from echoic.engines.scripted import ScriptedEngine
from echoic.server import create_app
from echoic.storage.keys import MemoryKeyStore
from tests.process_kit import free_port
from tests.server_kit import SAID, server_settings, tone_wav


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "tone.wav"
    path.write_bytes(tone_wav(1.0))
    return path


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--diarize", "--num-speakers", "0"], "--num-speakers: 'num_speakers' must be between", 2),
        (
            ["--diarize", "--min-speakers", "3", "--max-speakers", "2"],
            "--max-speakers: 'max_speakers' (2) must not be below 'min_speakers' (3)",
            2,
        ),
        (["--num-speakers", "2"], "--num-speakers needs --diarize", 2),
        (["-f", "srt", "--max-speakers", "2"], "--max-speakers needs --diarize", 2),
        (["--diarize", "--num-speakers", "two"], "'two' is not a valid integer", 2),
        (["--diarize"], "echoic models install voice-encoder", 1),
        (["-f", "diarized_json"], "echoic models install voice-encoder", 1),
    ],
)
def test_transcribe_refuses_what_it_cannot_do(
    wav: Path, tmp_path: Path, args: list[str], message: str, code: int
) -> None:
    env = {"ECHOIC_MODELS_DIR": str(tmp_path / "no-models")}
    done = CliRunner().invoke(cli, ["transcribe", str(wav), *args], env=env)
    assert done.exit_code == code, done.output
    assert message in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.output


@contextmanager
def server_in_thread(tmp_path: Path, diarizer: ScriptedDiarizer) -> Iterator[str]:
    """A real uvicorn server, in this process, on a scripted engine and diarizer; its URL."""
    settings = server_settings(tmp_path, models_dir=tmp_path / "models")
    engines = {"tiny.en": ScriptedEngine.saying(SAID)}
    app = create_app(settings, engines, MemoryKeyStore(), diarizer=diarizer)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn")
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while not server.started or httpx.get(f"{url}/ready").status_code != 200:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def test_jobs_submit_diarizes_and_the_server_checks_the_counts(wav: Path, tmp_path: Path) -> None:
    diarizer = ScriptedDiarizer.alternating(1, every_s=60.0)
    runner = CliRunner()
    with server_in_thread(tmp_path, diarizer) as url:
        env = {"ECHOIC_SERVER_URL": url}
        args = ["jobs", "submit", str(wav), "--wait", "--format", "vtt"]
        done = runner.invoke(cli, [*args, "--diarize", "--max-speakers", "3"], env=env)
        refused = runner.invoke(cli, [*args, "--num-speakers", "2"], env=env)
    assert done.exit_code == 0, done.output
    assert f"<v SPEAKER_00>{SAID}" in done.stdout
    assert [c.count for c in diarizer.calls] == [SpeakerCount(max_speakers=3)]
    assert refused.exit_code == 2
    assert "'num_speakers' describes the speakers of a diarization" in refused.stderr
