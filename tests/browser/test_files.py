"""The files view in real Chromium: a dev recording chosen in the page becomes a job whose
progress the page follows, then a transcript to play and download (issue 12)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from echoic.bench.text import count_errors
from tests.browser_kit import screenshot
from tests.process_kit import ServerProcess

if TYPE_CHECKING:
    from tests.browser_kit import OpenPage

pytestmark = pytest.mark.slow

#: Records every state the job line shows, with the progress bar's value at the time.
JOB_STATES = """
(() => {
  const states = [];
  window.__echoicJob = states;
  new MutationObserver(() => {
    const state = document.getElementById("job-state")?.textContent || "";
    const bar = document.getElementById("job-progress");
    if (state && states[states.length - 1]?.state !== state) {
      states.push({ state, value: bar?.hasAttribute("value") ? bar.value : null });
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""


def test_a_chosen_file_shows_its_progress_then_a_transcript_to_play_and_download(
    open_page: OpenPage, server: ServerProcess, shared_dir: Path, tmp_path: Path
) -> None:
    audio = shared_dir / "eval/dev/sessions/session_03.wav"  # 58 s: long enough to report progress
    reference = json.loads(audio.with_suffix(".json").read_text())["text"]
    page, _ = open_page(f"{server.url}/#files", init_script=JOB_STATES)
    expect(page.locator("#panel-files")).to_be_visible()
    expect(page.locator("#server-status")).to_have_text("connected")
    page.set_input_files("#file-input", audio)

    expect(page.locator("#job")).to_be_visible()
    segments = page.locator("#segments button.segment")
    expect(segments.first).to_be_visible(timeout=90_000)
    states: list[dict[str, object]] = page.evaluate("window.__echoicJob")
    shown = [str(s["state"]) for s in states]
    assert shown[0].startswith("Uploading"), shown
    assert any(s.startswith(("Queued", "Transcribing")) for s in shown), shown
    percents = [
        s for s in states if re.fullmatch(r"Transcribing… \d+ % \(\d+ s of 58 s\)", str(s["state"]))
    ]
    assert percents, shown  # fed by the job's progress events
    assert all(0 < float(str(s["value"])) < 100 for s in percents), percents
    assert shown[-1] == "Done"
    assert page.locator("#job-progress").evaluate("bar => bar.value") == 100

    (transcript,) = httpx.get(f"{server.api}/transcripts?limit=1", timeout=10).json()["data"]
    texts = page.locator("#segments .segment .text").all_inner_texts()
    times = page.locator("#segments .segment .time").all_inner_texts()
    assert count_errors(reference, " ".join(texts)).wer < 0.15
    assert all(re.fullmatch(r"\d+:\d\d\.\d", t) for t in times), times
    starts = [float(s) for s in segments.evaluate_all("bs => bs.map(b => b.dataset.start)")]
    assert starts == sorted(starts)
    assert starts[-1] > 30
    expect(page.locator("#tr-title")).to_have_text("session_03.wav")
    screenshot(page, "files", tmp_path)

    # A segment plays from its own start.
    chosen = len(starts) // 2
    segments.nth(chosen).click()
    page.wait_for_function(
        "start => { const p = document.getElementById('player');"
        " return p.currentTime >= start - 0.05 && p.currentTime < start + 3; }",
        arg=starts[chosen],
    )

    # The SRT download is the server's own SRT of that transcript.
    with page.expect_download() as download:
        page.click("#transcript button[data-format=srt]")
    assert download.value.suggested_filename == "session_03.srt"
    saved = Path(download.value.path()).read_text()
    served = httpx.get(
        f"{server.api}/transcripts/{transcript['id']}",
        params={"response_format": "srt"},
        timeout=10,
    )
    assert saved == served.text
    assert saved.startswith("1\n00:00:")

    # The past transcripts list has it, by the file's name; after a reload it opens without
    # the audio, which only the page that uploaded it holds.
    page.reload()
    listed = page.locator("#history .history-item", has_text="session_03.wav").first
    listed.click()
    expect(page.locator("#segments button.segment")).to_have_count(len(starts))
    expect(page.locator("#tr-noaudio")).to_be_visible()
    expect(page.locator("#player")).to_be_hidden()


def test_a_file_that_is_not_audio_gets_the_servers_reason(
    open_page: OpenPage, server: ServerProcess, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.wav"
    notes.write_text("These are my meeting notes, not a recording.\n")
    page, watch = open_page(f"{server.url}/#files")
    watch.allow(r"status of 415")  # the browser's own line about the refused upload
    expect(page.locator("#server-status")).to_have_text("connected")
    # Dropped on the page, as a file from the desktop.
    dropped = page.evaluate_handle(
        """text => {
            const data = new DataTransfer();
            data.items.add(new File([text], "notes.wav", { type: "audio/wav" }));
            return data;
        }""",
        notes.read_text(),
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    message = page.locator("#files-notice")
    expect(message).to_be_visible()
    expect(message).to_contain_text("notes.wav")
    expect(message).to_contain_text("not an audio file")
    expect(page.locator("#job")).to_be_hidden()
    expect(page.locator("#choose-file")).to_be_enabled()  # the page goes on working
