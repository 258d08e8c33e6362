"""Live diarization on a real ``echoic serve`` (tiny.en, the installed voice encoder): a
conversation of three voices streamed through ``/v1/listen`` in real time comes back with each
final labelled by its voice, and the labels cost the finals no latency.

The server's latency records say how long each final waited for its voice embedding after its
decode answered (``speaker_wait_ms``): the two run side by side. Run with ``-s`` for figures.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from echoic.bench.stream_clients import stream_listen
from tests.integration.test_ws_diarization import check_speakers, conversation
from tests.process_kit import ServerProcess, server_process

pytestmark = pytest.mark.slow

#: Three readers, twice each, in turn (the dev set's recordings, 47 s with the gaps).
VOICES = [
    ("A", "eval/dev/audio/ls-1688-142285-0003.wav"),
    ("B", "eval/dev/audio/lj-LJ001-0003.wav"),
    ("C", "eval/dev/audio/ls-2033-164914-0001.wav"),
    ("A", "eval/dev/audio/ls-1688-142285-0004.wav"),
    ("B", "eval/dev/audio/lj-LJ001-0004.wav"),
    ("C", "eval/dev/audio/ls-2033-164914-0002.wav"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(
        ["serve", "--model", "tiny.en", "--workers", "0"],
        tmp_path_factory.mktemp("server"),
        env={"ECHOIC_RATE_LIMIT": "", "ECHOIC_LOG_LEVEL": "info"},
    ) as running:
        yield running


def test_a_live_conversation_is_labelled_by_voice_without_delaying_finals(
    server: ServerProcess, shared_dir: Path
) -> None:
    audio, spans = conversation(shared_dir, VOICES[:4])  # A B C A: 31 s in real time
    logged = len(server.log_lines())
    arrivals, _ = asyncio.run(stream_listen(server.ws, audio, 20, 60, start={"diarization": True}))
    events = [message for _, message in arrivals]
    assert events[0]["type"] == "ready"
    assert events[0]["diarization"] is True
    assert events[-1]["type"] == "end"
    finals = [e for e in events if e["type"] == "final"]
    heard = check_speakers(finals, spans)
    assert all(f["text"] for f in finals)

    records = [
        record
        for line in server.log_lines()[logged:]
        if line.get("logger") == "echoic.latency"
        and (record := json.loads(line["message"]))["state"] == "done"
    ]
    waits = [r["speaker_wait_ms"] for r in records]
    decodes = [r["stt_ms"] for r in records]
    print(json.dumps({"heard": heard, "speaker_wait_ms": waits, "stt_ms": decodes}))
    assert len(waits) == len(finals)
    # The embedding (tens of ms) ran while the final was decoded (hundreds): the finals did
    # not wait for it, but for the odd one when the two cores were busy elsewhere.
    assert statistics.median(waits) <= 20, waits
