"""Transcription in the browser (issue 17 B) in real Chromium: the page loads tiny.en from the
server once, transcribes the fake microphone's dev session itself (the server only hears the
audio for VAD and endpoints), and falls back to the server, visibly and without losing a line,
when the model cannot be loaded or is too slow; a server with it turned off keeps every page
on server transcription."""

from __future__ import annotations

import json
import os
import time
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from echoic.bench.text import count_errors
from tests.audio_factory import wav_bytes
from tests.browser.stt_kit import (
    BROWSER_BADGE,
    FAILED_TOAST,
    FINALS,
    LINES,
    REFUSED_REQUEST,
    SERVER_BADGE,
    decodes,
    downloads,
    lines,
    needs_pack,
    socket_log,
    start,
    stop,
)
from tests.browser_kit import SCREENSHOTS, screenshot, wav_seconds
from tests.process_kit import ServerProcess, server_process

if TYPE_CHECKING:
    from tests.browser_kit import OpenPage

pytestmark = pytest.mark.slow


#: How much worse than the server's tiny.en (CTranslate2, beam 5) on the same utterances the
#: page's lines may be: issue 17's 2 points. The same utterances, not the whole file: a batch
#: decode conditions each window on the text before it, a live final hears its utterance alone,
#: and on session_02 (69 words) that alone costs the server's own live stream 1 to 4 errors
#: depending on the machine's CPU (whole-file batch 1.4-4.3 %, live 5.8-7.2 %: "that, as" ->
#: "that has", "therefore" -> "there for"). The whole-file batch WER is recorded beside it.
WER_MARGIN = 0.02
#: Opt in to the server-side run of the same session (the README's latency table).
COMPARE_ENV = "ECHOIC_BROWSER_STT_COMPARE"


def measured(
    page: Page,
    received: list[dict[str, Any]],
    wav: Path,
    name: str,
    *,
    batch_wer: float | None = None,
    utterances_wer: float | None = None,
) -> dict[str, Any]:
    """What the page measured for each line, with the server's own final latency and the
    session's WER, kept in ``bench-results/<name>`` (the README's table)."""
    reference = json.loads(wav.with_suffix(".json").read_text())["text"]
    finals = [e for e in received if e["type"] == "final"]
    shown = lines(page)
    record = {
        "session": wav.name,
        "badge": page.inner_text("#session-badge"),
        "wer": {
            "page": round(count_errors(reference, " ".join(f["text"] for f in finals)).wer, 4),
            "server_batch_tiny.en": None if batch_wer is None else round(batch_wer, 4),
            "server_utterances_tiny.en": None
            if utterances_wer is None
            else round(utterances_wer, 4),
        },
        "first_draft_ms": [line["first_draft_ms"] for line in shown if line["first_draft_ms"]],
        "final_ms": [line["final_ms"] for line in shown],
        "server_total_ms": [(f.get("latency") or {}).get("total_ms") for f in finals],
        "lines": shown,
    }
    SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / name).write_text(json.dumps(record, indent=2) + "\n")
    return record


def batch_text(server: ServerProcess, name: str, audio: bytes) -> str:
    """The server's own batch transcription (tiny.en) of a WAV."""
    response = httpx.post(
        f"{server.api}/audio/transcriptions",
        files={"file": (name, audio, "audio/wav")},
        data={"model": "tiny.en"},
        timeout=300,
    )
    response.raise_for_status()
    text: str = response.json()["text"]
    return text


def utterances_text(server: ServerProcess, wav: Path, finals: list[dict[str, Any]]) -> str:
    """The server's batch transcription of the audio under each final (``audio_start_s`` to
    ``audio_end_s``, the stream's clock, which starts with the fake microphone's file), one
    request per utterance: what the page decoded, decoded by CTranslate2."""
    with wave.open(str(wav), "rb") as reader:
        rate, width = reader.getframerate(), reader.getsampwidth() * reader.getnchannels()
        assert (width, reader.getnchannels()) == (2, 1), "a mono 16-bit session"
        pcm = reader.readframes(reader.getnframes())
    texts = []
    for final in finals:
        start, end = (round(final[k] * rate) * width for k in ("audio_start_s", "audio_end_s"))
        clip = wav_bytes(pcm[start:end], sample_rate=rate)
        texts.append(batch_text(server, f"utterance-{final['utterance_id']}.wav", clip))
    return " ".join(texts)


@needs_pack
def test_the_page_transcribes_in_the_browser_and_a_second_visit_loads_from_its_cache(
    open_page: OpenPage, server: ServerProcess, session_wav: Path, tmp_path: Path
) -> None:
    reference = json.loads(session_wav.with_suffix(".json").read_text())["text"]
    decoded_before = decodes(server)
    page, _ = open_page(server.url, where="auto")
    sent, received = socket_log(page)
    start(page)
    started = time.monotonic()
    expect(page.locator("#session-badge")).to_have_text(BROWSER_BADGE)
    expect(page.locator(f"{LINES} .draft:not(:empty)").first).to_be_visible()
    screenshot(page, "browser-stt", tmp_path)
    page.wait_for_timeout(
        max(0.0, wav_seconds(session_wav) + 1 - (time.monotonic() - started)) * 1000
    )
    stop(page)

    assert sent[0]["type"] == "start"
    assert sent[0]["client_transcripts"] is True
    assert decodes(server) == decoded_before, "the server decoded audio itself"
    finals = [e for e in received if e["type"] == "final"]
    assert len(finals) >= 5, finals  # seven sentences with pauses between them
    assert {(f["source"], f["model"]) for f in finals} == {("client", "browser-tiny.en")}
    assert not [e for e in received if e["type"] in ("fallback", "error", "warning")]
    for final in finals:  # word timings from the browser, on the stream's clock
        words = [w["word"].strip() for w in final["words"]]
        assert len(words) == len(final["text"].split()), final
        starts = [w["start"] for w in final["words"]]
        assert starts == sorted(starts), final
    shown = lines(page)
    assert [line["state"] for line in shown] == ["final"] * len(finals)
    assert all(BROWSER_BADGE.match(line["badge"]) for line in shown), shown

    page_text = " ".join(f["text"] for f in finals)
    page_wer = count_errors(reference, page_text).wer
    server_text = utterances_text(server, session_wav, finals)
    server_wer = count_errors(reference, server_text).wer
    assert page_wer <= server_wer + WER_MARGIN, (page_wer, server_wer, page_text, server_text)
    batch_wer = count_errors(
        reference, batch_text(server, session_wav.name, session_wav.read_bytes())
    ).wer
    record = measured(
        page,
        received,
        session_wav,
        "browser-stt.json",
        batch_wer=batch_wer,
        utterances_wer=server_wer,
    )
    assert record["first_draft_ms"], "no draft was ever shown"
    print(json.dumps({k: v for k, v in record.items() if k != "lines"}))

    # A second visit: the model comes from Cache Storage and the runtime from the HTTP cache.
    downloaded = downloads(server)
    assert downloaded.get("tiny.en/encoder.onnx", 0) >= 1
    page.reload()
    start(page)
    expect(page.locator("#session-badge")).to_have_text(BROWSER_BADGE)
    stop(page)
    again = {f: n - downloaded.get(f, 0) for f, n in downloads(server).items()}
    assert {f: n for f, n in again.items() if n} == {}, "the second visit downloaded these again"


@needs_pack
def test_a_model_that_cannot_be_loaded_sends_the_page_to_the_server(
    open_page: OpenPage, server: ServerProcess, tmp_path: Path
) -> None:
    page, watch = open_page(server.url, where="auto")
    watch.allow(REFUSED_REQUEST)
    page.route("**/browser/models/**", lambda route: route.fulfill(status=404, body="gone"))
    sent, received = socket_log(page)
    start(page)
    expect(page.locator(".toast", has_text=FAILED_TOAST)).to_be_visible()
    expect(page.locator("#session-badge")).to_have_text(SERVER_BADGE)
    expect(page.locator("#stt-state")).to_contain_text("the server answered 404")
    expect(page.locator(FINALS).nth(1)).to_be_visible()
    screenshot(page, "browser-stt-fallback", tmp_path)
    stop(page)
    assert "client_transcripts" not in sent[0]
    shown = lines(page)
    assert [line["state"] for line in shown] == ["final"] * len(shown), shown  # none lost
    assert all(SERVER_BADGE.match(line["badge"]) and line["text"] for line in shown), shown
    assert {e["source"] for e in received if e["type"] == "final"} == {"local"}
    breaker = page.evaluate("JSON.parse(localStorage.getItem('echoic.browserStt.breaker'))")
    assert breaker["failures"] == 1


@needs_pack
def test_a_self_test_slower_than_the_bound_sends_the_page_to_the_server(
    open_page: OpenPage, server: ServerProcess
) -> None:
    def tight_bound(route: Route) -> None:
        response = route.fetch()
        config = response.json()
        config["self_test_max_s"] = 0.001  # no machine transcribes 1 s of audio in 1 ms
        route.fulfill(response=response, json=config)

    page, _ = open_page(server.url, where="auto")
    page.route("**/v1/browser", tight_bound)
    sent, received = socket_log(page)
    start(page)
    expect(page.locator(".toast", has_text=FAILED_TOAST)).to_contain_text("more than 0.001 s")
    expect(page.locator("#session-badge")).to_have_text(SERVER_BADGE)
    expect(page.locator(FINALS).nth(1)).to_be_visible()
    stop(page)
    assert "client_transcripts" not in sent[0]
    shown = lines(page)
    assert [line["state"] for line in shown] == ["final"] * len(shown), shown
    assert {e["source"] for e in received if e["type"] == "final"} == {"local"}


def test_turned_off_on_the_server_the_page_does_not_try(
    open_page: OpenPage, tmp_path: Path
) -> None:
    with server_process(
        ["--say", "said by the server"],
        tmp_path,
        module="tests.scripted_server",
        env={"ECHOIC_BROWSER_STT": "false"},
    ) as off:
        page, _ = open_page(off.url, where="auto")
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        sent, _ = socket_log(page)
        start(page)
        expect(page.locator("#stt-state")).to_contain_text("turned off on this server")
        expect(page.locator(FINALS).first.locator(".text")).to_have_text("said by the server")
        stop(page)
        assert "client_transcripts" not in sent[0]
        assert not [url for url in asked if "/browser/" in url], asked

        # "In this browser only" refuses to start rather than use the server unasked.
        page.select_option("#stt-where", "force_local")
        page.click("#start")
        expect(page.locator("#live-notice")).to_contain_text("not possible")
        expect(page.locator("#panel-live")).to_have_attribute("data-state", "idle")
        expect(page.locator("#session-badge")).to_have_text("browser: unavailable")


@pytest.mark.skipif(
    os.environ.get(COMPARE_ENV) != "1", reason=f"opt in with {COMPARE_ENV}=1 (README's table)"
)
def test_the_same_session_on_the_server_for_comparison(
    open_page: OpenPage, server: ServerProcess, session_wav: Path
) -> None:
    """The server's side of the README's table: the same session, measured by the same page,
    transcribed by the server (tiny.en)."""
    page, _ = open_page(server.url, where="auto")
    page.select_option("#stt-where", "force_server")
    _, received = socket_log(page)
    start(page)
    started = time.monotonic()
    page.wait_for_timeout(
        max(0.0, wav_seconds(session_wav) + 1 - (time.monotonic() - started)) * 1000
    )
    stop(page)
    record = measured(page, received, session_wav, "browser-stt-server.json")
    assert {e["source"] for e in received if e["type"] == "final"} == {"local"}
    print(json.dumps({k: v for k, v in record.items() if k != "lines"}))
