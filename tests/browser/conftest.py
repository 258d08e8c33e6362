"""Fixtures of the browser tests: one Chromium whose microphone plays a dev session, one real
``echoic serve`` on tiny.en, and pages that fail their test on any console error."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser_kit import Watch, fake_microphone, launch, require_browser
from tests.process_kit import ServerProcess, server_process

CHROMIUM = require_browser()  # skips this folder (fails in CI) without Playwright or Chromium

from playwright.sync_api import (  # noqa: E402  (only once it is known to be there)
    Browser,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

if TYPE_CHECKING:
    from tests.browser_kit import OpenPage

expect.set_options(timeout=30_000)

SESSION = "eval/dev/sessions/session_02.wav"
#: Whether a test's own steps failed: its pages' console is then not checked on top (a page
#: left open on a server the failed test stopped only adds noise).
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def chromium() -> str:
    return CHROMIUM


@pytest.fixture(scope="package")
def pw() -> Iterator[Playwright]:
    """Playwright's sync API runs an event loop on this thread while it is open: it must be
    closed when the browser tests end (package scope), or every later test's ``asyncio.run``
    fails with "cannot be called from a running event loop"."""
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def session_wav(shared_dir: Path) -> Path:
    """34 s of read speech in seven utterances with pauses (16 kHz mono)."""
    return shared_dir / SESSION


@pytest.fixture(scope="package")
def browser(pw: Playwright, chromium: str, session_wav: Path) -> Iterator[Browser]:
    """Chromium whose microphone plays ``session_wav`` once, from the start, for each page
    that opens it."""
    browser = launch(pw, chromium, fake_microphone(session_wav))
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``echoic serve`` as ``make run`` starts it (tiny.en, a SQLite store, one job worker)."""
    with server_process(
        ["serve", "--model", "tiny.en"],
        tmp_path_factory.mktemp("server"),
        env={"ECHOIC_RATE_LIMIT": ""},
    ) as process:
        yield process


#: Sets the page's Transcribe setting before its scripts run (a choice the page saved, e.g.
#: by a test's own select, is kept across reloads).
WHERE = """
(() => {
  const key = "echoic.settings";
  try {
    const saved = JSON.parse(localStorage.getItem(key) || "{}") || {};
    if (!saved.where) localStorage.setItem(key, JSON.stringify({ ...saved, where: %s }));
  } catch {}
})();
"""


@pytest.fixture
def open_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[OpenPage]:
    """Open ``url`` in a fresh browser context; every page's watch is checked at the end.

    ``where``: the page's Transcribe setting. The server by default, which is what the live
    tests test (with the browser pack installed the page's own default, ``auto``, would
    transcribe in the browser); the browser transcription tests pass ``auto``."""
    opened: list[tuple[Page, Watch]] = []

    def open_(
        url: str,
        *,
        in_browser: Browser | None = None,
        viewport: ViewportSize | None = None,
        init_script: str | None = None,
        where: str = "force_server",
    ) -> tuple[Page, Watch]:
        context = (in_browser or browser).new_context(
            accept_downloads=True, viewport=viewport or {"width": 1280, "height": 800}
        )
        context.set_default_timeout(30_000)
        context.add_init_script(WHERE % json.dumps(where))
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        watch = Watch.on(page, url.split("/#")[0])
        opened.append((page, watch))
        page.goto(url)
        return page, watch

    yield open_
    for page, _ in opened:
        page.context.close()
    if not request.node.stash.get(CALL_FAILED, False):
        for _, watch in opened:
            watch.check()
