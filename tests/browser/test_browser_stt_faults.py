"""Transcription in the browser when the model misbehaves (issue 17 B): a scripted
``whisper.js`` in place of the real one (served by Playwright), so a crash or a late final comes
exactly when the test wants it, with the real pack, page, worker and server around it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.stt_kit import (
    BROWSER_BADGE,
    FAILED_TOAST,
    FINALS,
    SERVER_BADGE,
    lines,
    needs_pack,
    socket_log,
    start,
    stop,
)
from tests.process_kit import ServerProcess

if TYPE_CHECKING:
    from tests.browser_kit import OpenPage

pytestmark = pytest.mark.slow


#: A model that passes the self-test, then takes its worker down (an uncaught error, as a
#: WebAssembly trap or an out-of-memory would) on the first utterance.
CRASHING_WHISPER = """
let calls = 0;
export async function createWhisper() {
  return {
    async transcribe() {
      calls += 1;
      if (calls === 1) return { text: "", tokens: [], encodeMs: 1, decodeMs: 1 };
      setTimeout(() => { throw new Error("scripted worker crash"); });
      return new Promise(() => {});
    },
  };
}
"""


@needs_pack
def test_a_crashed_worker_leaves_the_stream_to_the_server_and_no_line_is_lost(
    open_page: OpenPage, server: ServerProcess
) -> None:
    page, watch = open_page(server.url, where="auto")
    watch.allow("scripted worker crash")
    page.route(
        "**/web/stt/whisper.js",
        lambda route: route.fulfill(body=CRASHING_WHISPER, content_type="text/javascript"),
    )
    _, received = socket_log(page)
    start(page)
    expect(page.locator("#session-badge")).to_have_text(BROWSER_BADGE)
    expect(page.locator(".toast", has_text=FAILED_TOAST)).to_contain_text("worker failed")
    expect(page.locator("#session-badge")).to_have_text(SERVER_BADGE)
    expect(page.locator(FINALS).nth(1)).to_be_visible()
    stop(page)
    shown = lines(page)
    assert [line["state"] for line in shown] == ["final"] * len(shown), shown
    assert all(SERVER_BADGE.match(line["badge"]) and line["text"] for line in shown), shown
    # The server's grace timer covered the line the worker never answered.
    fallbacks = [e for e in received if e["type"] == "fallback"]
    assert fallbacks
    assert {(e["from"], e["reason"]) for e in fallbacks} == {("client", "grace_expired")}


#: A model that answers at once, except the first final (the call that asks for word timings),
#: which comes 3 s late: after the server's 2 s grace period.
LATE_ONCE_WHISPER = """
let finals = 0;
export async function createWhisper() {
  return {
    async transcribe(samples, { wordTimestamps }) {
      if (wordTimestamps) {
        finals += 1;
        if (finals === 1) await new Promise((resolve) => setTimeout(resolve, 3000));
      }
      return { text: `scripted line ${finals}`, tokens: [], encodeMs: 1, decodeMs: 1, words: [] };
    },
  };
}
"""


@needs_pack
def test_a_late_final_leaves_only_its_line_to_the_server(
    open_page: OpenPage, server: ServerProcess
) -> None:
    page, _ = open_page(server.url, where="auto")
    page.route(
        "**/web/stt/whisper.js",
        lambda route: route.fulfill(body=LATE_ONCE_WHISPER, content_type="text/javascript"),
    )
    _, received = socket_log(page)
    start(page)
    toast = page.locator(".toast", has_text="the server transcribes this line")
    expect(toast).to_contain_text("utterance 1 was not transcribed within 2000 ms")
    expect(page.locator(f"{FINALS} .text", has_text="scripted line 2")).to_be_visible()
    stop(page)
    shown = lines(page)
    assert [line["state"] for line in shown] == ["final"] * len(shown), shown
    assert SERVER_BADGE.match(shown[0]["badge"]), shown  # the late line: the server's text
    assert shown[0]["text"]
    assert not shown[0]["text"].startswith("scripted")
    assert all(BROWSER_BADGE.match(line["badge"]) for line in shown[1:]), shown
    # The page kept its late text to itself: no "late_transcript" warning from the server.
    assert not [e for e in received if e["type"] in ("warning", "error")]
    fallbacks = [(e["utterance_id"], e["reason"]) for e in received if e["type"] == "fallback"]
    assert fallbacks == [(1, "grace_expired")]
    # One failure, then a line the server took from the page: the breaker is closed again.
    breaker = page.evaluate("JSON.parse(localStorage.getItem('echoic.browserStt.breaker'))")
    assert breaker == {"failures": 0, "openUntil": 0}
