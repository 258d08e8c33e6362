"""The official ``openai`` client, unchanged, against a real ``echoic serve`` process on a
loopback port: every response format, timestamp granularities, streaming (sync and async),
models, errors, and a clean shutdown."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import srt
import websockets
import webvtt

from echoic.audio import decode_audio
from echoic.bench.text import count_errors
from tests.process_kit import ServerProcess, server_process
from tests.speech import JFK, JFK_PATH

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("server")
    with server_process(["serve", "--model", "tiny.en"], data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def jfk(shared_dir: Path) -> Path:
    return shared_dir / JFK_PATH


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.api, api_key="unused", max_retries=0) as client:
        yield client


def close_enough(text: str) -> bool:
    return count_errors(JFK, text).errors <= 1


def test_json(client: openai.OpenAI, jfk: Path) -> None:
    with jfk.open("rb") as fh:
        result = client.audio.transcriptions.create(model="whisper-1", file=fh)
    assert close_enough(result.text)


def test_text(client: openai.OpenAI, jfk: Path) -> None:
    with jfk.open("rb") as fh:
        result = client.audio.transcriptions.create(
            model="tiny.en", file=fh, response_format="text"
        )
    assert isinstance(result, str)
    assert close_enough(result)


def test_srt(client: openai.OpenAI, jfk: Path) -> None:
    with jfk.open("rb") as fh:
        result = client.audio.transcriptions.create(model="tiny.en", file=fh, response_format="srt")
    cues = list(srt.parse(result))
    assert cues
    assert close_enough(" ".join(c.content for c in cues))
    assert cues[-1].end.total_seconds() <= 11.1


def test_vtt(client: openai.OpenAI, jfk: Path) -> None:
    with jfk.open("rb") as fh:
        result = client.audio.transcriptions.create(model="tiny.en", file=fh, response_format="vtt")
    captions = webvtt.from_string(result).captions
    assert captions
    assert close_enough(" ".join(c.text for c in captions))


def test_verbose_json_with_words_and_segments(client: openai.OpenAI, jfk: Path) -> None:
    with jfk.open("rb") as fh:
        result = client.audio.transcriptions.create(
            model="tiny.en",
            file=fh,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert close_enough(result.text)
    assert result.duration == pytest.approx(11.0, abs=0.1)
    assert result.language == "en"
    assert result.segments
    assert result.words
    assert close_enough(" ".join(w.word for w in result.words))
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= result.duration for w in result.words)
    assert close_enough(" ".join(s.text for s in result.segments))


def test_verbose_json_with_words_only(client: openai.OpenAI, jfk: Path) -> None:
    with jfk.open("rb") as fh:
        result = client.audio.transcriptions.create(
            model="tiny.en",
            file=fh,
            response_format="verbose_json",
            timestamp_granularities=["word"],
        )
    assert result.words
    assert result.segments is None


def test_stream_sync(client: openai.OpenAI, jfk: Path) -> None:
    with jfk.open("rb") as fh:
        stream = client.audio.transcriptions.create(model="tiny.en", file=fh, stream=True)
        events = list(stream)
    types = [e.type for e in events]
    assert types[-1] == "transcript.text.done"
    assert set(types[:-1]) == {"transcript.text.delta"}
    done = events[-1]
    assert done.type == "transcript.text.done"
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    assert deltas == done.text
    assert close_enough(done.text)
    assert done.usage is not None
    assert done.usage.output_tokens > 0


def test_stream_async(server: ServerProcess, jfk: Path) -> None:
    audio = jfk.read_bytes()

    async def transcribe() -> list[Any]:
        async with openai.AsyncOpenAI(base_url=server.api, api_key="unused") as client:
            stream = await client.audio.transcriptions.create(
                model="whisper-1", file=audio, stream=True
            )
            return [event async for event in stream]

    events = asyncio.run(transcribe())
    done = events[-1]
    assert done.type == "transcript.text.done"
    assert "".join(e.delta for e in events[:-1]) == done.text
    assert close_enough(done.text)


def test_models(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"tiny.en", "base", "whisper-1"} <= set(ids)
    assert client.models.retrieve("tiny.en").id == "tiny.en"


def test_errors_are_openai_errors(client: openai.OpenAI, jfk: Path) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.audio.transcriptions.create(model="whisper-9", file=jfk.read_bytes())
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.APIStatusError) as not_audio:
        client.audio.transcriptions.create(model="tiny.en", file=("notes.mp3", b"plain text" * 50))
    assert not_audio.value.status_code == 415
    # openai 3.x marks the translations endpoint deprecated (OpenAI's own models moved on); the
    # endpoint itself is part of the API echoic serves.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(openai.BadRequestError) as translate:
            client.audio.translations.create(model="tiny.en", file=jfk.read_bytes())
    assert translate.value.code == "invalid_value"


def test_an_upload_over_the_default_limit(server: ServerProcess, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    with big.open("wb") as fh:
        fh.truncate(101 * 1024 * 1024)
    with big.open("rb") as fh:
        response = httpx.post(
            f"{server.api}/audio/transcriptions", files={"file": ("big.wav", fh)}, timeout=60
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


def test_logs_are_json_with_request_ids(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/health", headers={"X-Request-ID": "e2e-1"})
    assert response.headers["x-request-id"] == "e2e-1"
    time.sleep(0.2)
    lines = server.log_lines()
    assert any(line.get("request_id") == "e2e-1" and line.get("status") == 200 for line in lines)
    assert any(line.get("message") == "ready" for line in lines)


@pytest.mark.parametrize("mode", ["single", "speculative"])
def test_websocket_streams_a_session_in_real_time(
    server: ServerProcess, shared_dir: Path, mode: str
) -> None:
    """The `websockets` package, over a real socket, at a microphone's pace (20 ms chunks by
    the wall clock): drafts (and in speculative mode confirmations), then finals that say what
    the batch transcript of the file says."""
    session = shared_dir / "eval/dev/sessions/session_02.wav"  # 34 s, 7 utterances, noise bed
    audio = decode_audio(session)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    chunk = 640  # bytes: 20 ms of 16 kHz s16

    async def stream() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        url = f"{server.ws}/v1/listen?sample_rate=16000&mode={mode}"
        async with websockets.connect(url) as ws:

            async def receive() -> None:
                async for message in ws:
                    events.append(json.loads(message))

            receiver = asyncio.create_task(receive())
            started = time.monotonic()
            for index, offset in enumerate(range(0, len(pcm), chunk)):
                await asyncio.sleep(max(0.0, started + index * 0.02 - time.monotonic()))
                await ws.send(pcm[offset : offset + chunk])
            await ws.send(json.dumps({"type": "stop"}))
            await asyncio.wait_for(receiver, 30)
        return events

    events = asyncio.run(stream())
    kinds = [e["type"] for e in events]
    assert kinds[0] == "ready"
    assert (events[0]["mode"], events[0]["models"]) == (mode, ["tiny.en"])
    assert kinds[-1] == "end"
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    finals = [e for e in events if e["type"] == "final"]
    partials = [e for e in events if e["type"] == "partial"]
    assert len(finals) >= 6
    assert {p["confidence"] for p in partials} == (
        {"draft", "confirmed"} if mode == "speculative" else {"draft"}
    )
    assert all(f["source"] == "local" and f["latency"]["total_ms"] < 3000 for f in finals)
    assert events[-1]["usage"]["frames_dropped"] == 0

    batch = httpx.post(
        f"{server.api}/audio/transcriptions",
        files={"file": ("session.wav", session.read_bytes())},
        data={"model": "tiny.en"},
        timeout=120,
    ).json()["text"]
    streamed = " ".join(f["text"] for f in finals)
    assert count_errors(batch, streamed).wer <= 0.1, (batch, streamed)
