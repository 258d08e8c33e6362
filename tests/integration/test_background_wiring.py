"""REST transcriptions (plain and streamed) and the in-process job worker decode inside the
live hub's compute slots at background priority; live streams' own decodes do not."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echoic.audio import decode_audio
from echoic.engines.base import ProgressCallback
from echoic.engines.gate import SlotTurn, chunk_slots
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.server.state import ServerState
from echoic.streaming.scheduler import ComputeSlots
from echoic.types import SAMPLE_RATE, Audio, TranscribeOptions, Transcript
from tests.server_kit import SAID, make_app, serving, tone_wav, upload
from tests.speech import JFK_PATH


@dataclass(kw_only=True)
class SlotsSeen(ScriptedEngine):
    """Records, for each call, the slots its decode would take turns for (None: ungated)."""

    seen: list[SlotTurn | None] = field(default_factory=list)

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        self.seen.append(chunk_slots.get())
        return await super().transcribe(audio, options, progress=progress)


def hub_slots(state: ServerState, engine: SlotsSeen) -> ComputeSlots:
    return state.hub.compute_slots(engine)


def slots_of(turn: SlotTurn | None) -> Any:
    assert turn is not None
    return getattr(turn, "slots", None)


def test_rest_decodes_take_the_hubs_slots_in_the_background(tmp_path: Path) -> None:
    engine = SlotsSeen(steps=[Step(text=SAID)])
    app = make_app(tmp_path, {"tiny.en": engine}, workers_in_process=0)
    with serving(app) as client:
        assert engine.seen == [None]  # the startup self-test runs ungated
        plain = upload(client, tone_wav())
        streamed = upload(client, tone_wav(), stream="true")
        slots = hub_slots(app.state.echoic, engine)
    assert plain.status_code == streamed.status_code == 200
    assert SAID in plain.json()["text"]
    assert len(engine.seen) == 3
    assert [slots_of(turn) for turn in engine.seen[1:]] == [slots, slots]
    assert chunk_slots.get() is None  # nothing leaked into the caller's context


def test_the_in_process_worker_decodes_in_the_background_too(tmp_path: Path) -> None:
    engine = SlotsSeen(steps=[Step(text=SAID)])
    app = make_app(tmp_path, {"tiny.en": engine}, workers_in_process=1)
    with serving(app) as client:
        job = client.post("/v1/jobs", files={"file": ("tone.wav", tone_wav(2.0))}).json()
        deadline = time.monotonic() + 20
        while client.get(f"/v1/jobs/{job['id']}").json()["status"] != "completed":
            assert time.monotonic() < deadline, "the job did not complete"
            time.sleep(0.02)
        slots = hub_slots(app.state.echoic, engine)
    assert slots_of(engine.seen[-1]) is slots


def test_a_live_streams_decodes_are_not_gated(tmp_path: Path, shared_dir: Path) -> None:
    speech = decode_audio(shared_dir / JFK_PATH)
    padded = np.concatenate([speech, np.zeros(SAMPLE_RATE, np.float32)])
    pcm = (np.clip(padded, -1, 1) * 32767).astype("<i2").tobytes()
    engine = SlotsSeen(steps=[Step(text=SAID)])
    app = make_app(tmp_path, {"tiny.en": engine}, workers_in_process=0)
    with serving(app) as client:
        upload(client, tone_wav())  # a REST decode first: its context must not stick
        calls = len(engine.seen)
        with client.websocket_connect("/v1/listen") as ws:
            ws.send_json({"type": "start", "sample_rate": SAMPLE_RATE})
            for offset in range(0, len(pcm), 1280):
                ws.send_bytes(pcm[offset : offset + 1280])
            ws.send_json({"type": "stop"})
            types: list[str] = []
            while not types or types[-1] != "end":
                types.append(ws.receive_json()["type"])
    assert "final" in types
    live = engine.seen[calls:]
    assert live
    assert live == [None] * len(live)
