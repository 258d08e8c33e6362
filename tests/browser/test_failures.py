"""What a person sees in real Chromium when things go wrong — a refused or revoked API key, a
server that goes away, a microphone that is not allowed — and the page on a narrow window,
driven from the keyboard (issue 12). Every page here also fails its test on a console error
the test did not provoke."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.browser_kit import echoic, launch, screenshot, serve_on
from tests.process_kit import ServerProcess, free_port, server_process
from tests.speech import JFK_PATH

if TYPE_CHECKING:
    from tests.browser_kit import OpenPage

pytestmark = pytest.mark.slow

#: The browser's own console lines when a request is refused or the server is gone.
REFUSED = r"status of 401 \(Unauthorized\)"
GONE = (
    r"WebSocket connection to 'ws://127\.0\.0\.1:\d+/v1/listen' failed",
    r"net::ERR_CONNECTION_REFUSED",
)


def start_listening(page: Page) -> None:
    page.click("#start")
    expect(page.locator("#panel-live")).to_have_attribute("data-state", "live")


def test_a_key_is_asked_for_kept_and_refused_once_revoked(
    open_page: OpenPage, shared_dir: Path, tmp_path: Path
) -> None:
    env = {"ECHOIC_DATA_DIR": str(tmp_path)}
    created = echoic("keys", "create", "--name", "browser", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    found = re.search(r"created (ek_\w+)", created.stderr)
    assert found, created.stderr
    with server_process(
        ["serve", "--model", "tiny.en"],
        tmp_path,
        env={"ECHOIC_AUTH": "required", "ECHOIC_RATE_LIMIT": ""},
    ) as secured:
        page, watch = open_page(secured.url)
        watch.allow(REFUSED)
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        expect(page.locator("#key-reason")).to_contain_text("needs an API key")

        page.fill("#key-input", "ek_not_a_key")
        page.keyboard.press("Enter")
        expect(page.locator("#key-error")).to_contain_text("refused this key")
        page.fill("#key-input", token)
        page.keyboard.press("Enter")
        expect(dialog).to_be_hidden()
        expect(page.locator("#server-status")).to_have_text("connected")
        assert page.evaluate("localStorage.getItem('echoic.apiKey')") == token

        # The key opens a live stream (sent as the WebSocket's first message) …
        start_listening(page)
        expect(page.locator("#session-badge")).to_have_text(re.compile("^local"))
        page.click("#stop")
        expect(page.locator("#panel-live")).to_have_attribute("data-state", "idle")

        # … until it is revoked: then the page says so instead of failing silently.
        revoked = echoic("keys", "revoke", found.group(1), env=env)
        assert revoked.returncode == 0, revoked.stderr
        page.click("#start")
        expect(page.locator("#live-notice")).to_contain_text("refused the API key")
        expect(page.locator("#banner")).to_contain_text("refused the API key")
        expect(page.locator("#panel-live")).to_have_attribute("data-state", "idle")

        page.click("#tab-files")
        page.set_input_files("#file-input", shared_dir / JFK_PATH)
        expect(page.locator("#files-notice")).to_contain_text("refused the API key")

        page.reload()  # the stored key is tried, refused, and a new one asked for
        expect(dialog).to_be_visible()
        expect(page.locator("#key-reason")).to_contain_text("refused the stored API key")


def test_a_server_that_goes_away_is_reported_and_reconnected_to(
    open_page: OpenPage, shared_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    scripted = ["--say", "hello from the local engine"]
    first = serve_on(port, scripted, tmp_path, module="tests.scripted_server")
    second: ServerProcess | None = None
    try:
        page, watch = open_page(first.url)
        watch.allow(*GONE)
        expect(page.locator("#server-status")).to_have_text("connected")
        start_listening(page)
        expect(page.locator("#utterances > li[data-state=final]").first).to_be_visible()

        first.process.kill()  # gone at once, as a crash or a pulled cable looks to a client
        first.process.wait()
        notice = page.locator("#live-notice")
        expect(notice).to_contain_text("Connection lost — reconnecting")
        expect(page.locator("#server-status")).to_have_text("unreachable")
        expect(notice).to_contain_text("Server unreachable — still reconnecting")

        page.click("#tab-files")
        page.set_input_files("#file-input", shared_dir / JFK_PATH)
        expect(page.locator("#files-notice")).to_contain_text("Cannot reach the echoic server")
        page.click("#tab-live")

        second = serve_on(port, scripted, tmp_path, module="tests.scripted_server")
        expect(page.locator(".toast", has_text="Reconnected")).to_be_visible()
        expect(notice).to_be_hidden()
        expect(page.locator("#server-status")).to_have_text("connected")
        finals = page.locator("#utterances > li[data-state=final]")
        before = finals.count()
        expect(finals.nth(before)).to_be_visible()  # the text keeps coming
        page.click("#stop")
        expect(page.locator("#panel-live")).to_have_attribute("data-state", "idle")
    finally:
        for server in (first, second):
            if server is not None and server.process.poll() is None:
                server.stop()


def test_a_denied_microphone_is_explained(
    open_page: OpenPage, pw: Playwright, chromium: str, server: ServerProcess
) -> None:
    denying: Browser = launch(
        pw, chromium, ["--use-fake-device-for-media-stream", "--deny-permission-prompts"]
    )
    try:
        page, _ = open_page(server.url, in_browser=denying)
        expect(page.locator("#server-status")).to_have_text("connected")
        page.click("#start")
        expect(page.locator("#live-notice")).to_contain_text("Microphone access was denied")
        expect(page.locator("#panel-live")).to_have_attribute("data-state", "idle")
        expect(page.locator("#start")).to_be_enabled()
    finally:
        for context in denying.contexts:
            context.close()
        denying.close()


def test_a_narrow_window_and_the_keyboard_are_enough(
    open_page: OpenPage, server: ServerProcess, tmp_path: Path
) -> None:
    page, _ = open_page(server.url, viewport={"width": 390, "height": 800})
    expect(page.locator("#server-status")).to_have_text("connected")
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    side = page.locator("#panel-live .side").bounding_box()
    transcript = page.locator("#panel-live .main-column").bounding_box()
    assert side is not None
    assert transcript is not None
    assert side["y"] + side["height"] <= transcript["y"]  # one column

    page.focus("#start")
    page.keyboard.press("Enter")
    expect(page.locator("#panel-live")).to_have_attribute("data-state", "live")
    page.keyboard.down("Space")  # push-to-talk (Start, disabled now, no longer has the focus)
    expect(page.locator("#talk")).to_have_attribute("aria-pressed", "true")
    page.keyboard.up("Space")
    expect(page.locator("#talk")).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("p")
    expect(page.locator("#pause")).to_have_text("Resume")
    page.keyboard.press("p")
    expect(page.locator("#pause")).to_have_text("Pause")
    expect(page.locator("#utterances > li[data-state=final]").first).to_be_visible()
    # Push-to-talk mode: paused but while Space is held.
    page.check("#ptt")
    page.evaluate("document.activeElement.blur()")  # Space on the checkbox would toggle it
    expect(page.locator("#pause")).to_have_text("Resume")
    page.keyboard.down("Space")
    expect(page.locator("#pause")).to_have_text("Pause")
    page.keyboard.up("Space")
    expect(page.locator("#pause")).to_have_text("Resume")
    page.uncheck("#ptt")
    expect(page.locator("#pause")).to_have_text("Pause")
    page.evaluate("document.activeElement.blur()")
    assert page.evaluate(overflow) <= 0
    screenshot(page, "live-narrow", tmp_path)
    page.keyboard.press("Escape")
    expect(page.locator("#panel-live")).to_have_attribute("data-state", "idle")

    page.focus("#tab-live")
    page.keyboard.press("ArrowRight")  # the tabs follow the arrow keys
    expect(page.locator("#panel-files")).to_be_visible()
    expect(page.locator("#tab-files")).to_be_focused()
    assert page.evaluate(overflow) <= 0
