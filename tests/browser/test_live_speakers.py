"""Live speaker labels in real Chromium: a conversation of two voices (A B A) played into the
fake microphone with "Label speakers" ticked comes back as lines named by voice."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Playwright, expect

from echoic.bench.stream_clients import pcm16
from tests.audio_factory import wav_bytes
from tests.browser.test_live import FINALS, start_listening, stop_listening
from tests.browser_kit import fake_microphone, launch, wav_seconds
from tests.e2e.test_listen_diarization import VOICES
from tests.integration.test_ws_diarization import conversation
from tests.process_kit import ServerProcess

if TYPE_CHECKING:
    from tests.browser_kit import OpenPage

pytestmark = pytest.mark.slow


def test_label_speakers_names_each_voice_on_its_lines(
    open_page: OpenPage,
    pw: Playwright,
    chromium: str,
    server: ServerProcess,
    shared_dir: Path,
    tmp_path: Path,
) -> None:
    # A B A (about 20 s in real time; the e2e test streams the three-voice one)
    audio, _ = conversation(shared_dir, [VOICES[0], VOICES[4], VOICES[3]])
    wav = tmp_path / "conversation.wav"
    wav.write_bytes(wav_bytes(pcm16(audio)))
    speaking = launch(pw, chromium, fake_microphone(wav))
    try:
        page, _ = open_page(server.url, in_browser=speaking)
        page.check("#speakers")
        start_listening(page)
        expect(page.locator("#live-info")).to_contain_text("speakers")
        page.wait_for_timeout((wav_seconds(wav) + 1.0) * 1000)  # it plays once, in real time
        stop_listening(page)
        finals = page.locator(f"{FINALS} .speaker")
        labels: list[str] = finals.evaluate_all("nodes => nodes.map((n) => n.dataset.speaker)")
        names = finals.all_inner_texts()
        page.reload()
        expect(page.locator("#speakers")).to_be_checked()  # kept for the next visit
    finally:
        for context in speaking.contexts:
            context.close()
        speaking.close()

    turns = [label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label]
    assert turns == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00"], labels
    assert set(names) == {"Speaker 1", "Speaker 2"}
