"""The live view in real Chromium: a dev session played into the fake microphone, streamed by
the page's AudioWorklet to a real server, drawn as drafts then confirmed lines (issue 12)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from echoic.bench.text import count_errors, normalize
from tests.browser_kit import (
    README_SCREENSHOT,
    README_SCREENSHOT_ENV,
    echoic,
    screenshot,
    wav_seconds,
)
from tests.process_kit import ServerProcess, server_process

if TYPE_CHECKING:
    from tests.browser_kit import OpenPage

pytestmark = pytest.mark.slow

#: Records, in the page, when each line first shows draft text and when it turns final.
TRACE = """
(() => {
  const trace = [];
  const seen = new Set();
  window.__echoicTrace = trace;
  const scan = () => {
    for (const line of document.querySelectorAll("#utterances > li")) {
      const key = line.dataset.key;
      const draft = line.querySelector(".draft")?.textContent || "";
      if (draft && !seen.has("draft " + key)) {
        seen.add("draft " + key);
        trace.push({ kind: "draft", key, t: performance.now() });
      }
      if (line.dataset.state === "final" && !seen.has("final " + key)) {
        seen.add("final " + key);
        trace.push({ kind: "final", key, t: performance.now() });
      }
    }
  };
  new MutationObserver(scan).observe(document, {
    subtree: true, childList: true, characterData: true, attributes: true,
    attributeFilter: ["data-state"],
  });
})();
"""

FINALS = "#utterances > li[data-state=final]"


def start_listening(page: Page) -> None:
    expect(page.locator("#server-status")).to_have_text("connected")
    page.click("#start")
    expect(page.locator("#panel-live")).to_have_attribute("data-state", "live")


def stop_listening(page: Page) -> None:
    page.click("#stop")
    expect(page.locator("#panel-live")).to_have_attribute("data-state", "idle")


def final_texts(page: Page) -> list[str]:
    return page.locator(f"{FINALS} .text").all_inner_texts()


def test_speech_into_the_microphone_becomes_drafts_then_confirmed_lines(
    open_page: OpenPage, server: ServerProcess, session_wav: Path, tmp_path: Path
) -> None:
    reference = json.loads(session_wav.with_suffix(".json").read_text())["text"]
    page, _ = open_page(server.url, init_script=TRACE)
    start_listening(page)
    started = time.monotonic()
    expect(page.locator("#session-badge")).to_have_text(re.compile(r"^local · (CPU|GPU)$"))
    expect(page.locator(FINALS).nth(2)).to_be_visible()
    expect(page.locator("#utterances .draft:not(:empty)").first).to_be_visible()
    screenshot(page, "live", tmp_path)  # confirmed lines and a grey draft
    if os.environ.get(README_SCREENSHOT_ENV) == "1":
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "live.png", README_SCREENSHOT)
    # The fake microphone plays the file once in real time: let it finish, then stop.
    remaining_s = wav_seconds(session_wav) + 0.5 - (time.monotonic() - started)
    page.wait_for_timeout(max(0.0, remaining_s) * 1000)
    screenshot(page, "live-end", tmp_path)
    stop_listening(page)

    lines = final_texts(page)
    assert len(lines) >= 5, lines  # seven sentences with pauses between them
    page_wer = count_errors(reference, " ".join(lines)).wer

    done = echoic("listen", "--input", session_wav, "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    cli_text = " ".join(e["text"] for e in events if e["type"] == "final")
    cli_wer = count_errors(reference, cli_text).wer
    assert page_wer <= cli_wer + 0.03, (page_wer, cli_wer, lines)

    # Grey drafts came before the solid text, line by line.
    trace: list[dict[str, Any]] = page.evaluate("window.__echoicTrace")
    drafted = {e["key"]: e["t"] for e in trace if e["kind"] == "draft"}
    finals = {e["key"]: e["t"] for e in trace if e["kind"] == "final"}
    assert len(finals) == len(lines)
    assert drafted, "no draft text was ever shown"
    assert min(drafted.values()) < min(finals.values())
    early = [key for key, t in finals.items() if key in drafted and drafted[key] < t]
    assert len(early) >= len(finals) - 1, (drafted, finals)
    assert not page.locator("#utterances .draft:not(:empty)").count()  # none left grey

    badges = page.locator(f"{FINALS} .badge").all_inner_texts()
    assert len(badges) == len(lines)
    assert all(re.fullmatch(r"local · (CPU|GPU)", b) for b in badges), badges
    latencies = page.locator(f"{FINALS} .latency").all_inner_texts()
    assert all(re.fullmatch(r"\d+\.\d+ s( \(slow\))?", text) for text in latencies), latencies
    # Screen readers hear each final through the polite live region.
    assert page.get_attribute("#announcer", "aria-live") == "polite"
    assert normalize(lines[-1]) in normalize(page.inner_text("#announcer"))


def test_the_cloud_takes_over_when_the_local_engine_fails_mid_session(
    open_page: OpenPage, server: ServerProcess, session_wav: Path, tmp_path: Path
) -> None:
    """The session's own server (tiny.en) stands in for the cloud; the local server's real
    tiny.en fails while the test holds its switch."""
    switch = tmp_path / "local-off"
    env = {
        "ECHOIC_CLOUD_URL": server.api,
        "ECHOIC_CLOUD_MODEL": "tiny.en",
        "ECHOIC_ROUTE_RETRIES": "0",
        "ECHOIC_BREAKER_COOLDOWN_S": "2",
        "ECHOIC_RATE_LIMIT": "",
    }
    reference = set(
        normalize(json.loads(session_wav.with_suffix(".json").read_text())["text"]).split()
    )
    with server_process(
        ["--switch", str(switch)], tmp_path, env=env, module="tests.browser.switch_server"
    ) as local:
        page, _ = open_page(local.url)
        start_listening(page)
        finals = page.locator(FINALS)
        expect(finals.first.locator(".badge")).to_have_text(re.compile("^local"))
        switch.touch()

        toast = page.locator(
            ".toast",
            has_text=re.compile(r"Local transcription \((CPU|GPU)\) .* switched to the cloud"),
        )
        expect(toast).to_be_visible()
        cloud_lines = page.locator(f"{FINALS}:has(.badge[data-source=cloud])")
        expect(cloud_lines.nth(1)).to_be_visible()  # the text keeps coming
        expect(page.locator("#session-badge")).to_have_text("cloud")
        screenshot(page, "fallback", tmp_path)
        for text in cloud_lines.locator(".text").all_inner_texts():
            words = normalize(text).split()
            assert words, text
            assert sum(w in reference for w in words) >= 0.7 * len(words), text

        switch.unlink()
        back = page.locator(
            ".toast", has_text=re.compile(r"Local transcription \((CPU|GPU)\) is back")
        )
        expect(back).to_be_visible()
        expect(finals.last.locator(".badge")).to_have_text(re.compile("^local"))
        expect(page.locator("#session-badge")).to_have_text(re.compile("^local"))
        stop_listening(page)


def test_a_final_later_than_three_seconds_shows_the_slow_state(
    open_page: OpenPage, tmp_path: Path
) -> None:
    """Seed 003: "transcription slow" once an utterance's text takes more than 3 s."""
    with server_process(
        ["--say", "slow but sure", "--delay", "4"], tmp_path, module="tests.scripted_server"
    ) as slow:
        page, _ = open_page(slow.url)
        start_listening(page)
        expect(page.locator("#slow")).to_contain_text("Transcription slow")
        waiting = page.locator("#utterances > li.slow").first
        expect(waiting.locator(".latency")).to_have_text("slow…")
        line = page.locator(FINALS).first
        expect(line.locator(".text")).to_have_text("slow but sure")
        expect(line.locator(".latency")).to_have_text(re.compile(r"^\d+\.\d+ s \(slow\)$"))
        expect(line).not_to_have_class(re.compile("slow"))
        stop_listening(page)
        expect(page.locator("#slow")).to_be_hidden()
