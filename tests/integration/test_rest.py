"""The OpenAI-compatible REST API in process: formats, models, aliases, streaming, bad input.

Most tests run on a scripted engine (milliseconds each); the ``slow`` ones use the real tiny.en
model on real speech.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import srt
import webvtt

from echoic.audio import decode_audio
from echoic.bench.text import count_errors
from echoic.engines.base import Engine
from echoic.engines.registry import EnginePool
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import EngineTimeoutError
from echoic.server import create_app
from echoic.types import Task
from tests.audio_factory import encode_audio, tone, truncated, wav_bytes
from tests.server_kit import (
    SAID,
    assert_error,
    make_app,
    server_settings,
    serving,
    tone_wav,
    upload,
)
from tests.speech import JFK, JFK_PATH, LJ001_0001, LJ001_0001_PATH

MiB = 1024 * 1024


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine.saying(SAID)


# -- formats ---------------------------------------------------------------------------------


def test_json_is_text_and_usage(tmp_path: Path, engine: ScriptedEngine) -> None:
    with serving(make_app(tmp_path, {"tiny.en": engine})) as client:
        response = upload(client, tone_wav(2.0), model="whisper-1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "text": SAID,
        "usage": {"type": "duration", "seconds": 2, "duration_ms": 2000, "tokens": 0},
    }
    assert engine.calls[-1].duration_s == pytest.approx(2.0)


def test_text_is_the_plain_transcript(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        response = upload(client, tone_wav(), response_format="text")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == SAID + "\n"


def test_srt_parses_back_to_the_transcript(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        response = upload(client, tone_wav(3.0), response_format="srt")
    assert response.headers["content-type"].startswith("application/x-subrip")
    cues = list(srt.parse(response.text))
    assert [c.content for c in cues] == [SAID]
    assert cues[0].start.total_seconds() == 0
    assert cues[0].end.total_seconds() == pytest.approx(3.0)


def test_vtt_parses_back_to_the_transcript(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        response = upload(client, tone_wav(3.0), response_format="vtt")
    assert response.headers["content-type"].startswith("text/vtt")
    captions = webvtt.from_string(response.text).captions
    assert [c.text for c in captions] == [SAID]
    assert captions[0].end_in_seconds == pytest.approx(3.0, abs=0.001)


def test_verbose_json_has_segments_but_no_words_by_default(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        body = upload(client, tone_wav(2.0), response_format="verbose_json").json()
    assert body["text"] == SAID
    assert body["task"] == "transcribe"
    assert body["language"] == "en"
    assert body["duration"] == pytest.approx(2.0)
    assert [s["text"] for s in body["segments"]] == [SAID]
    assert "words" not in body
    assert "words" not in body["segments"][0]
    assert body["metadata"]["engine"] == "scripted"


@pytest.mark.parametrize(
    ("granularities", "segments", "words"),
    [
        (["word"], False, True),
        (["segment"], True, False),
        (["word", "segment"], True, True),
    ],
)
def test_timestamp_granularities(
    tmp_path: Path, engine: ScriptedEngine, granularities: list[str], segments: bool, words: bool
) -> None:
    with serving(make_app(tmp_path, {"tiny.en": engine})) as client:
        response = upload(
            client,
            tone_wav(2.0),
            response_format="verbose_json",
            data={"timestamp_granularities[]": granularities},
        )
    body = response.json()
    assert response.status_code == 200, body
    assert ("segments" in body) is segments
    assert ("words" in body) is words
    assert engine.calls[-1].options.word_timestamps is words
    if words:
        assert [w["word"] for w in body["words"]] == SAID.split()
        starts = [w["start"] for w in body["words"]]
        assert starts == sorted(starts)
        assert all(0 <= w["start"] <= w["end"] <= 2.0 for w in body["words"])


def test_timestamp_granularities_need_verbose_json(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        response = upload(client, tone_wav(), data={"timestamp_granularities[]": ["word"]})
    assert_error(response, 400, "invalid_value", param="timestamp_granularities[]")


def test_request_fields_reach_the_engine(tmp_path: Path, engine: ScriptedEngine) -> None:
    with serving(make_app(tmp_path, {"tiny.en": engine})) as client:
        response = upload(
            client,
            tone_wav(),
            language="EN",
            prompt="Kennedy, inaugural",
            temperature="0.4",
            beam_size="2",
        )
    assert response.status_code == 200, response.text
    options = engine.calls[-1].options
    assert options.language == "en"
    assert options.prompt == "Kennedy, inaugural"
    assert options.temperature == pytest.approx(0.4)
    assert options.beam_size == 2
    assert options.task is Task.TRANSCRIBE


def test_translation(tmp_path: Path, engine: ScriptedEngine) -> None:
    with serving(make_app(tmp_path, {"tiny.en": engine})) as client:
        response = upload(
            client, tone_wav(), path="/v1/audio/translations", response_format="verbose_json"
        )
    assert response.status_code == 200, response.text
    assert response.json()["task"] == "translate"
    assert engine.calls[-1].options.task is Task.TRANSLATE


def test_engine_errors_keep_their_status(tmp_path: Path) -> None:
    failing = ScriptedEngine(steps=[Step(text="warm-up"), Step(error=EngineTimeoutError("slow"))])
    with serving(make_app(tmp_path, {"tiny.en": failing})) as client:
        response = upload(client, tone_wav())
    assert_error(response, 504, "engine_timeout")


# -- models and routes -----------------------------------------------------------------------


def test_models_list_and_retrieve(tmp_path: Path) -> None:
    engines: dict[str, Engine] = {
        "tiny.en": ScriptedEngine.saying("a"),
        "base": ScriptedEngine.saying("b"),
    }
    with serving(make_app(tmp_path, engines)) as client:
        listed = client.get("/v1/models").json()
        one = client.get("/v1/models/base").json()
        alias = client.get("/v1/models/whisper-1").json()
        missing = client.get("/v1/models/large-v9")
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == ["base", "tiny.en", "whisper-1"]
    assert all(m["object"] == "model" and m["owned_by"] == "echoic" for m in listed["data"])
    assert one["id"] == "base"
    assert one["default"] is False
    assert alias["alias_of"] == "tiny.en"
    assert_error(missing, 404, "model_not_found", param="model")


def test_the_model_field_picks_the_engine(tmp_path: Path) -> None:
    engines: dict[str, Engine] = {
        "tiny.en": ScriptedEngine.saying("tiny"),
        "base": ScriptedEngine.saying("base"),
    }
    with serving(make_app(tmp_path, engines)) as client:
        texts = [upload(client, tone_wav(), model=m).json()["text"] for m in ("base", "whisper-1")]
    assert texts == ["base", "tiny"]


def test_installed_models_are_listed_from_the_pool(tmp_path: Path, models_dir: Path) -> None:
    app = create_app(server_settings(tmp_path, models_dir=models_dir), EnginePool(models_dir))
    models = {m.id: m for m in app.state.echoic.models.describe()}
    assert {"tiny.en", "base", "whisper-1"} <= set(models)
    assert models["tiny.en"].english_only is True
    assert models["base"].english_only is False
    installed = (models_dir / "tiny.en" / "echoic-manifest.json").is_file()
    assert models["tiny.en"].installed is installed
    assert not any(m.loaded for m in models.values())  # no lifespan ran: nothing loaded


@pytest.mark.parametrize("path", ["/api/v1/audio/transcriptions", "/api/v1/audio/translations"])
def test_api_v1_aliases(tmp_path: Path, path: str) -> None:
    with serving(make_app(tmp_path)) as client:
        response = upload(client, tone_wav(), path=path)
        models = client.get("/api/v1/models")
    assert response.status_code == 200
    assert response.json()["text"] == SAID
    assert [m["id"] for m in models.json()["data"]] == ["tiny.en", "whisper-1"]


def test_unknown_paths_and_methods_are_json_errors(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        assert_error(client.get("/v1/nothing"), 404, "not_found")
        assert_error(client.get("/v1/audio/transcriptions"), 405, "method_not_allowed")


def test_openapi_documents_the_api(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert {"/v1/audio/transcriptions", "/v1/audio/translations", "/v1/models"} <= set(
        spec["paths"]
    )
    form = spec["paths"]["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in form
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


# -- streaming (SSE) -------------------------------------------------------------------------


def sse_events(text: str) -> list[dict[str, Any]]:
    """The ``data:`` payloads of an event stream, in order (every event is one data line)."""
    events = []
    for block in text.split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            events.append(json.loads(block.removeprefix("data: ")))
    return events


def test_stream_sends_deltas_then_done(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        response = upload(client, tone_wav(2.0), stream="true")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [e["type"] for e in events] == ["transcript.text.delta", "transcript.text.done"]
    assert events[0]["delta"] == SAID
    done = events[-1]
    assert done["text"] == SAID
    assert done["usage"]["type"] == "tokens"
    assert done["usage"]["input_tokens"] == 100  # 2 s of 20 ms encoder frames
    assert done["usage"]["total_tokens"] == done["usage"]["input_tokens"] + 0


def test_stream_of_silence_is_only_done(tmp_path: Path) -> None:
    with serving(make_app(tmp_path, {"tiny.en": ScriptedEngine.saying("")})) as client:
        events = sse_events(upload(client, tone_wav(), stream="true").text)
    assert [e["type"] for e in events] == ["transcript.text.done"]
    assert events[0]["text"] == ""


def test_stream_reports_a_late_error_as_an_error_event(tmp_path: Path) -> None:
    failing = ScriptedEngine(steps=[Step(text="warm-up"), Step(error=EngineTimeoutError("slow"))])
    with serving(make_app(tmp_path, {"tiny.en": failing})) as client:
        response = upload(client, tone_wav(), stream="true")
    assert response.status_code == 200  # the headers went out before the engine failed
    [event] = sse_events(response.text)
    assert event["error"]["code"] == "engine_timeout"


@pytest.mark.parametrize("response_format", ["srt", "vtt", "verbose_json"])
def test_stream_needs_a_text_format(tmp_path: Path, response_format: str) -> None:
    with serving(make_app(tmp_path)) as client:
        response = upload(client, tone_wav(), stream="true", response_format=response_format)
    assert_error(response, 400, "invalid_value", param="response_format")


def test_stream_frees_the_model_slot(tmp_path: Path) -> None:
    with serving(make_app(tmp_path, model_concurrency=1, model_queue_timeout_s=0.2)) as client:
        for _ in range(3):  # each would wait, then 503, if a slot leaked
            assert upload(client, tone_wav(), stream="true").status_code == 200


# -- bad uploads -----------------------------------------------------------------------------


def _flac(tmp_path: Path, seconds: float = 1.0) -> Path:
    return encode_audio(tone(440, seconds, 16_000), 16_000, tmp_path / "tone.flac", "flac")


def _flac_claiming(tmp_path: Path, seconds: float) -> bytes:
    """A real FLAC file whose STREAMINFO claims ``seconds`` of audio."""
    data = bytearray(_flac(tmp_path).read_bytes())
    fields = int.from_bytes(data[18:26], "big")
    rate = fields >> 44
    fields = (fields & ~((1 << 36) - 1)) | round(seconds * rate)
    data[18:26] = fields.to_bytes(8, "big")
    return bytes(data)


def _wav_8bit(seconds: float, sample_rate: int = 1000) -> bytes:
    """Silent 8-bit mono WAV: three hours at 1 kHz is only 10.8 MB."""
    data = b"\x80" * round(seconds * sample_rate)
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _wav_header_claiming(seconds: float) -> bytes:
    """A WAV header declaring ``seconds`` of 16 kHz audio, followed by one second of it."""
    real = tone_wav(1.0)
    declared = round(seconds * 16_000 * 2)
    return real[:40] + struct.pack("<I", declared) + real[44:]


BAD_UPLOADS: list[tuple[str, Any, int, str]] = [
    ("text renamed .mp3", lambda p: b"just some text, not audio at all\n" * 20, 415, "not_audio"),
    ("zero bytes", lambda p: b"", 400, "empty_audio"),
    (
        "truncated flac",
        lambda p: truncated(_flac(p, 5.0), keep=0.5).read_bytes(),
        400,
        "corrupt_audio",
    ),
    (
        "unknown wav codec",
        lambda p: wav_bytes(b"\0" * 3200, format_tag=0x1234),
        415,
        "unsupported_audio",
    ),
    ("three hours of wav", lambda p: _wav_8bit(3 * 3600), 413, "audio_too_long"),
    ("flac header claiming 3 h", lambda p: _flac_claiming(p, 3 * 3600), 413, "audio_too_long"),
    (
        "wav header claiming 3 h, 1 s inside",
        lambda p: _wav_header_claiming(3 * 3600),
        400,
        "corrupt_audio",
    ),
]


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [pytest.param(m, s, c, id=name) for name, m, s, c in BAD_UPLOADS],
)
def test_bad_uploads_are_refused_before_any_work(
    tmp_path: Path, engine: ScriptedEngine, make: Any, status: int, code: str
) -> None:
    with serving(make_app(tmp_path, {"tiny.en": engine})) as client:
        calls = len(engine.calls)
        response = upload(client, make(tmp_path), filename="speech.mp3")
    assert_error(response, status, code, param="file")
    assert len(engine.calls) == calls  # nothing reached the engine


BAD_FIELDS: list[tuple[dict[str, Any], int, str, str]] = [
    ({"temperature": "hot"}, 400, "invalid_value", "temperature"),
    ({"temperature": "1.5"}, 400, "invalid_value", "temperature"),
    ({"temperature": "nan"}, 400, "invalid_value", "temperature"),
    ({"response_format": "docx"}, 400, "invalid_value", "response_format"),
    ({"model": "large-v9"}, 404, "model_not_found", "model"),
    ({"model": "/etc"}, 404, "model_not_found", "model"),
    ({"language": "klingon"}, 400, "invalid_value", "language"),
    ({"beam_size": "0"}, 400, "invalid_value", "beam_size"),
    ({"beam_size": "many"}, 400, "invalid_value", "beam_size"),
    ({"stream": "perhaps"}, 400, "invalid_value", "stream"),
    ({"timestamp_granularities[]": "letter"}, 400, "invalid_value", "timestamp_granularities[]"),
    ({"prompt": "x" * 5000}, 400, "invalid_value", "prompt"),
]


@pytest.mark.parametrize(
    ("fields", "status", "code", "param"), BAD_FIELDS, ids=[str(f[0])[:40] for f in BAD_FIELDS]
)
def test_bad_fields_are_refused(
    tmp_path: Path,
    engine: ScriptedEngine,
    fields: dict[str, Any],
    status: int,
    code: str,
    param: str,
) -> None:
    with serving(make_app(tmp_path, {"tiny.en": engine})) as client:
        calls = len(engine.calls)
        response = upload(client, tone_wav(), **fields)
    assert_error(response, status, code, param=param)
    assert len(engine.calls) == calls


def test_a_missing_file_is_a_400(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        no_file = client.post("/v1/audio/transcriptions", data={"model": "tiny.en"})
        text_file = client.post("/v1/audio/transcriptions", data={"file": "not a file"})
        json_body = client.post("/v1/audio/transcriptions", json={"file": "x"})
    assert_error(no_file, 400, "invalid_value", param="file")
    assert_error(text_file, 400, "invalid_value", param="file")
    assert_error(json_body, 400, "invalid_value")


def test_an_upload_over_a_small_limit(tmp_path: Path) -> None:
    with serving(make_app(tmp_path, max_upload_bytes=200_000)) as client:
        within = upload(client, tone_wav(6.0))  # 192 kB
        over = upload(client, tone_wav(7.0))  # 224 kB
    assert within.status_code == 200
    assert_error(over, 413, "file_too_large", param="file")


def test_a_101_mib_upload_is_refused_without_reading_it(tmp_path: Path) -> None:
    """The default limit (100 MiB) against a real 101 MiB file, streamed from disk."""
    big = tmp_path / "big.wav"
    with big.open("wb") as fh:
        fh.write(tone_wav(1.0)[:44])
        fh.truncate(101 * MiB)  # sparse: no 101 MiB of disk writes
    app = make_app(tmp_path)
    assert app.state.echoic.settings.max_upload_bytes == 100 * MiB

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with big.open("rb") as fh:
                response = await client.post(
                    "/v1/audio/transcriptions", files={"file": ("big.wav", fh, "audio/wav")}
                )
                assert fh.tell() < MiB  # the body was never read
                return response

    assert_error(asyncio.run(post()), 413, "file_too_large", param="file")


def test_a_chunked_upload_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    """Without a Content-Length the body is counted as it arrives and stopped at the limit."""
    app = make_app(tmp_path, max_upload_bytes=100_000)
    boundary = "echoic-boundary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        for _ in range(100):  # up to 6.4 MB, in 64 kB chunks
            sent += 65_536
            yield b"\0" * 65_536
        yield f"\r\n--{boundary}--\r\n".encode()

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(
                "/v1/audio/transcriptions",
                content=body(),
                headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            )

    assert_error(asyncio.run(post()), 413, "file_too_large")
    assert sent < 1_000_000


# -- the real model on real speech ------------------------------------------------------------


@pytest.fixture(scope="module")
def jfk_pcm(shared_dir: Path) -> np.ndarray[Any, np.dtype[np.int16]]:
    audio = decode_audio(shared_dir / JFK_PATH)
    return (audio * 32767).astype("<i2")


@pytest.fixture(scope="module")
def jfk_wav(jfk_pcm: np.ndarray[Any, np.dtype[np.int16]]) -> bytes:
    return wav_bytes(jfk_pcm.tobytes())


@pytest.mark.slow
def test_real_model_verbose_json_with_words(
    tmp_path: Path, pool: EnginePool, jfk_wav: bytes
) -> None:
    app = create_app(server_settings(tmp_path), pool, store=None)
    with serving(app) as client:
        response = upload(
            client,
            jfk_wav,
            model="tiny.en",
            response_format="verbose_json",
            data={"timestamp_granularities[]": ["word", "segment"]},
        )
    body = response.json()
    assert response.status_code == 200, body
    assert count_errors(JFK, body["text"]).errors <= 1
    assert count_errors(JFK, " ".join(w["word"] for w in body["words"])).errors <= 1
    assert body["duration"] == pytest.approx(11.0, abs=0.1)
    assert body["metadata"]["model"] == "tiny.en"
    ends = [s["end"] for s in body["segments"]]
    assert ends == sorted(ends)
    assert ends[-1] <= body["duration"]


@pytest.mark.slow
def test_real_model_streams_segment_by_segment(
    tmp_path: Path,
    pool: EnginePool,
    shared_dir: Path,
    jfk_pcm: np.ndarray[Any, np.dtype[np.int16]],
) -> None:
    # Two different recordings, so that the decode stays at temperature 0 and is repeatable.
    printing = (decode_audio(shared_dir / LJ001_0001_PATH) * 32767).astype("<i2")
    silence = np.zeros(8000, "<i2")
    joined = wav_bytes(np.concatenate([jfk_pcm, silence, printing]).tobytes())
    app = create_app(server_settings(tmp_path), pool, store=None)
    with serving(app) as client:
        events = sse_events(upload(client, joined, stream="true").text)
        plain = upload(client, joined).json()
    deltas = [e["delta"] for e in events if e["type"] == "transcript.text.delta"]
    done = events[-1]
    assert done["type"] == "transcript.text.done"
    assert len(deltas) >= 2  # one per decoded segment, not one at the end
    assert "".join(deltas) == done["text"]
    assert done["text"] == plain["text"]  # streaming changes when text arrives, not what
    assert count_errors(f"{JFK} {LJ001_0001}", done["text"]).errors <= 2
    assert done["usage"]["output_tokens"] > 20


@pytest.mark.slow
def test_real_english_only_model_refuses_to_translate(
    tmp_path: Path, pool: EnginePool, jfk_wav: bytes
) -> None:
    app = create_app(server_settings(tmp_path), pool, store=None)
    with serving(app) as client:
        translate = upload(client, jfk_wav, path="/v1/audio/translations", model="tiny.en")
        french = upload(client, jfk_wav, model="tiny.en", language="fr")
    assert_error(translate, 400, "invalid_value", param="model")
    assert_error(french, 400, "invalid_value", param="language")
