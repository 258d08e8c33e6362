"""Diarization on ``/v1/audio/transcriptions`` in process, with a scripted diarizer: the
speaker labels in every format, the bad values refused before any work, the feature flag, the
voice encoder missing, streaming, stored transcripts. (Real speech through the real diarizer:
``tests/e2e/test_diarization.py``.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import srt
import webvtt
from fastapi import FastAPI

from echoic.diarize.scripted import ScriptedDiarizer
from echoic.diarize.types import SpeakerCount, SpeakerTurns, Turn
from echoic.engines.scripted import ScriptedEngine
from echoic.server import create_app
from echoic.storage.keys import MemoryKeyStore
from tests.server_kit import SAID, assert_error, server_settings, serving, tone_wav, upload


def diarizing_app(
    tmp_path: Path,
    diarizer: ScriptedDiarizer | None,
    engine: ScriptedEngine | None = None,
    **changes: Any,
) -> FastAPI:
    settings = server_settings(tmp_path, models_dir=tmp_path / "models", **changes)
    engines = {"tiny.en": engine or ScriptedEngine.saying(SAID)}
    return create_app(settings, engines, MemoryKeyStore(), diarizer=diarizer)


def one_speaker() -> ScriptedDiarizer:
    return ScriptedDiarizer(
        turns_=SpeakerTurns(turns=(Turn(start=0, end=60, speaker="SPEAKER_00"),))
    )


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(b.removeprefix("data: ")) for b in text.split("\n\n") if b.strip()]


def test_segments_carry_speakers_and_the_block_counts_them(tmp_path: Path) -> None:
    engine = ScriptedEngine.saying(SAID)
    diarizer = one_speaker()
    with serving(diarizing_app(tmp_path, diarizer, engine)) as client:
        response = upload(client, tone_wav(2.0), response_format="verbose_json", diarization="true")
    body = response.json()
    assert response.status_code == 200, body
    assert [s["speaker"] for s in body["segments"]] == ["SPEAKER_00"]
    assert body["diarization"] == {"enabled": True, "speakers": 1}
    # One speaker: no segment to split, so no word timings were decoded (nor returned).
    assert not any(c.options.word_timestamps for c in engine.calls)
    assert "words" not in body
    assert "words" not in body["segments"][0]
    (call,) = diarizer.calls
    assert call.count == SpeakerCount()
    assert call.duration_s == pytest.approx(2.0)
    assert call.thread != "MainThread"


def test_a_segment_is_split_where_the_speaker_changes(tmp_path: Path) -> None:
    # The scripted engine spreads the nine words evenly over the 2 s: "country" is 0.889-1.111 s,
    # mostly in the second turn.
    turns = (
        Turn(start=0.0, end=0.95, speaker="guest"),
        Turn(start=0.95, end=2.0, speaker="host"),
    )
    diarizer = ScriptedDiarizer(turns_=SpeakerTurns(turns=turns))
    engine = ScriptedEngine.saying(SAID)
    with serving(diarizing_app(tmp_path, diarizer, engine)) as client:
        body = upload(client, tone_wav(2.0), response_format="diarized_json").json()
        # The segment two speakers share was decoded again, alone, with word timings.
        assert [c.options.word_timestamps for c in engine.calls[-2:]] == [False, True]
        assert [c.duration_s for c in engine.calls[-2:]] == pytest.approx([2.0, 2.0])
        vtt = upload(client, tone_wav(2.0), response_format="vtt", diarization="true").text
    assert [(s["speaker"], s["text"], s["start"], s["end"]) for s in body["segments"]] == [
        ("SPEAKER_00", "ask not what your", 0.0, 0.889),
        ("SPEAKER_01", "country can do for you", 0.889, 2.0),
    ]
    assert [s["id"] for s in body["segments"]] == ["0", "1"]
    assert body["diarization"] == {"enabled": True, "speakers": 2}
    captions = webvtt.from_string(vtt).captions
    assert [(c.voice, c.text) for c in captions] == [
        ("SPEAKER_00", "ask not what your"),
        ("SPEAKER_01", "country can do for you"),
    ]


def test_without_diarization_nothing_is_labelled_and_the_diarizer_is_not_called(
    tmp_path: Path,
) -> None:
    engine = ScriptedEngine.saying(SAID)
    diarizer = one_speaker()
    with serving(diarizing_app(tmp_path, diarizer, engine)) as client:
        body = upload(client, tone_wav(2.0), response_format="verbose_json").json()
    assert body["diarization"] == {"enabled": False, "speakers": None}
    assert body["segments"][0]["speaker"] is None
    assert not engine.calls[-1].options.word_timestamps
    assert diarizer.calls == []


def test_the_diarizer_runs_while_the_engine_transcribes(tmp_path: Path) -> None:
    engine = ScriptedEngine.saying(SAID, delay_s=0.5)
    diarizer = ScriptedDiarizer.alternating(1, every_s=60.0, delay_s=0.5)
    with serving(diarizing_app(tmp_path, diarizer, engine)) as client:
        response = upload(client, tone_wav(), diarization="true")
    assert response.status_code == 200, response.text
    (call,) = diarizer.calls
    transcription = engine.calls[-1]
    assert call.started_at < transcription.started_at + 0.5  # before the engine was done


def test_diarized_json_implies_diarization_and_has_openais_shape(tmp_path: Path) -> None:
    with serving(diarizing_app(tmp_path, one_speaker())) as client:
        response = upload(client, tone_wav(2.0), response_format="diarized_json", num_speakers="1")
    body = response.json()
    assert response.status_code == 200, body
    assert response.headers["content-type"] == "application/json"
    assert body["segments"] == [
        {
            "type": "transcript.text.segment",
            "id": "0",
            "start": 0.0,
            "end": 2.0,
            "text": SAID,
            "speaker": "SPEAKER_00",
        }
    ]
    assert (body["task"], body["text"], body["duration"]) == ("transcribe", SAID, 2.0)
    assert body["diarization"] == {"enabled": True, "speakers": 1}


def test_subtitles_and_text_name_the_speaker(tmp_path: Path) -> None:
    with serving(diarizing_app(tmp_path, one_speaker())) as client:
        vtt = upload(client, tone_wav(2.0), response_format="vtt", diarization="true").text
        srt_body = upload(client, tone_wav(2.0), response_format="srt", diarization="true").text
        text = upload(client, tone_wav(2.0), response_format="text", diarization="true").text
    assert [c.voice for c in webvtt.from_string(vtt).captions] == ["SPEAKER_00"]
    assert [c.content for c in srt.parse(srt_body)] == [f"[SPEAKER_00] {SAID}"]
    assert text == f"SPEAKER_00: {SAID}\n"


def test_silence_gets_no_speakers(tmp_path: Path) -> None:
    engine = ScriptedEngine.saying("")
    with serving(diarizing_app(tmp_path, ScriptedDiarizer(), engine)) as client:
        body = upload(client, tone_wav(), response_format="verbose_json", diarization="true")
    assert body.json()["segments"] == []
    assert body.json()["diarization"] == {"enabled": True, "speakers": 0}


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        ({"diarization": "true", "num_speakers": "0"}, "num_speakers", "between 1 and 32"),
        ({"diarization": "true", "num_speakers": "33"}, "num_speakers", "between 1 and 32"),
        ({"diarization": "true", "min_speakers": "-1"}, "min_speakers", "between 1 and 32"),
        (
            {"diarization": "true", "min_speakers": "3", "max_speakers": "2"},
            "max_speakers",
            "must not be below",
        ),
        (
            {"diarization": "true", "num_speakers": "5", "max_speakers": "4"},
            "num_speakers",
            "outside",
        ),
        (
            {"response_format": "diarized_json", "num_speakers": "1", "min_speakers": "2"},
            "num_speakers",
            "outside",
        ),
        ({"diarization": "true", "num_speakers": "two"}, "num_speakers", "integer"),
        ({"diarization": "true", "max_speakers": "2.5"}, "max_speakers", "integer"),
        ({"diarization": "perhaps"}, "diarization", "boolean"),
        ({"num_speakers": "2"}, "num_speakers", "diarization=true"),
        ({"diarization": "false", "max_speakers": "2"}, "max_speakers", "diarization=true"),
    ],
)
def test_bad_speaker_fields_are_400s_before_any_work(
    tmp_path: Path, fields: dict[str, str], param: str, message: str
) -> None:
    engine = ScriptedEngine.saying(SAID)
    diarizer = one_speaker()
    with serving(diarizing_app(tmp_path, diarizer, engine)) as client:
        calls = len(engine.calls)  # the self-test's
        response = upload(client, tone_wav(), data=fields)
    error = assert_error(response, 400, "invalid_value", param=param)
    assert message in error["message"], error
    assert len(engine.calls) == calls
    assert diarizer.calls == []


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"diarization": "true"}, "diarization"),
        ({"response_format": "diarized_json"}, "response_format"),
    ],
)
def test_a_server_with_diarization_turned_off_refuses_it(
    tmp_path: Path, fields: dict[str, str], param: str
) -> None:
    app = diarizing_app(tmp_path, one_speaker(), diarization_enabled=False)
    with serving(app) as client:
        refused = upload(client, tone_wav(), data=fields)
        plain = upload(client, tone_wav())
    error = assert_error(refused, 400, "invalid_value", param=param)
    assert "turned off on this server" in error["message"]
    assert plain.status_code == 200


def test_without_the_voice_encoder_the_error_names_the_install_command(tmp_path: Path) -> None:
    with serving(diarizing_app(tmp_path, None)) as client:
        refused = upload(client, tone_wav(), diarization="true")
        plain = upload(client, tone_wav())
    error = assert_error(refused, 503, "model_not_installed")
    assert "echoic models install voice-encoder" in error["message"]
    assert plain.status_code == 200


def test_translations_diarize_too(tmp_path: Path) -> None:
    with serving(diarizing_app(tmp_path, one_speaker())) as client:
        response = upload(
            client,
            tone_wav(2.0),
            path="/v1/audio/translations",
            response_format="verbose_json",
            diarization="true",
        )
    body = response.json()
    assert response.status_code == 200, body
    assert (body["task"], body["diarization"]["speakers"]) == ("translate", 1)
    assert body["segments"][0]["speaker"] == "SPEAKER_00"


def test_a_stream_sends_the_labelled_segments_before_done(tmp_path: Path) -> None:
    with serving(diarizing_app(tmp_path, one_speaker())) as client:
        response = upload(client, tone_wav(2.0), stream="true", response_format="diarized_json")
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    assert [e["type"] for e in events] == [
        "transcript.text.delta",
        "transcript.text.segment",
        "transcript.text.done",
    ]
    assert events[1] == {
        "type": "transcript.text.segment",
        "id": "0",
        "start": 0.0,
        "end": 2.0,
        "text": SAID,
        "speaker": "SPEAKER_00",
    }
    assert events[-1]["text"] == SAID


def test_a_stored_transcript_stays_diarized(tmp_path: Path) -> None:
    with serving(diarizing_app(tmp_path, one_speaker())) as client:
        response = upload(client, tone_wav(2.0), diarization="true", store="true", max_speakers="3")
        transcript_id = response.headers["X-Echoic-Transcript-Id"]
        stored = client.get(
            f"/v1/transcripts/{transcript_id}", params={"response_format": "verbose_json"}
        ).json()
        vtt = client.get(f"/v1/transcripts/{transcript_id}", params={"response_format": "vtt"})
        (version,) = client.get(f"/v1/transcripts/{transcript_id}/versions").json()["data"]
        edited = client.patch(
            f"/v1/transcripts/{transcript_id}",
            json={"segments": [{"id": 0, "speaker": "Ann"}]},
        )
        after = client.get(
            f"/v1/transcripts/{transcript_id}", params={"response_format": "diarized_json"}
        ).json()
    assert stored["diarization"] == {"enabled": True, "speakers": 1}
    assert stored["segments"][0]["speaker"] == "SPEAKER_00"
    assert "<v SPEAKER_00>" in vtt.text
    assert version["options"]["diarization"] is True
    assert version["options"]["max_speakers"] == 3
    assert edited.status_code == 200, edited.text
    assert after["segments"][0]["speaker"] == "Ann"
    assert after["diarization"] == {"enabled": True, "speakers": 1}
