"""Real headless Chromium for the browser tests (``tests/browser``): the machine's ``chromium``
driven by Playwright, with a WAV file as the microphone.

    browser = launch(playwright, executable, fake_microphone(session_wav))
    watch = Watch.on(page, server.url)
    ...
    watch.check()   # no uncaught exception, no console error, nothing fetched from elsewhere

Playwright's own browser builds are never used (``playwright install`` downloads them): the
browser is Debian's ``chromium`` (``apt-get install chromium``), or ``ECHOIC_CHROMIUM``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from echoic.settings import Settings
from tests.process_kit import REPO, ServerProcess, wait_ready

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, WebSocket

    #: The ``open_page`` fixture: ``open_page(url, …) -> (page, watch)``; watches are checked
    #: when the test ends.
    OpenPage = Callable[..., tuple[Page, "Watch"]]

SCREENSHOTS = REPO / "bench-results" / "screenshots"
#: Opt in to refresh the README's screenshot (a tracked file) from the live test.
README_SCREENSHOT_ENV = "ECHOIC_README_SCREENSHOT"
README_SCREENSHOT = REPO / "docs" / "screenshot-live.png"


def chromium_executable() -> str | None:
    given = os.environ.get("ECHOIC_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> str:
    """The chromium to drive. Where it or Playwright is missing the browser tests are skipped
    (call at module level), except in CI (``CI=true``), which must run them."""
    executable = chromium_executable()
    problem = None
    if importlib.util.find_spec("playwright") is None:
        problem = "Playwright for Python is not installed (pip install -e '.[dev]')"
    elif executable is None:
        problem = "chromium not found (apt-get install chromium, or set ECHOIC_CHROMIUM)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem, allow_module_level=True)
    assert executable is not None
    return executable


def fake_microphone(wav: Path, *, loop: bool = False) -> list[str]:
    """Chromium flags: grant the microphone without asking, and let it play ``wav`` in real
    time — once, then silence, unless ``loop``."""
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}{'' if loop else '%noloop'}",
    ]


def launch(playwright: Playwright, executable: str, args: Sequence[str] = ()) -> Browser:
    return playwright.chromium.launch(
        executable_path=executable,
        args=[*args, "--autoplay-policy=no-user-gesture-required"],
    )


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        frames: int = audio.getnframes()
        rate: int = audio.getframerate()
    return frames / rate


@dataclass
class Watch:
    """What a page did that its user would not see: uncaught exceptions, console errors, and
    requests to anywhere but the server it came from."""

    origin: str
    exceptions: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    @classmethod
    def on(cls, page: Page, origin: str) -> Watch:
        watch = cls(origin.rstrip("/"))
        page.on("pageerror", lambda error: watch.exceptions.append(str(error)))
        page.on("console", watch._console)
        page.on("request", lambda request: watch._request(request.url))
        page.on("websocket", lambda socket: watch._socket(socket))
        return watch

    def allow(self, *patterns: str) -> None:
        """Console errors a test provokes on purpose: only the browser's own lines about a
        refused request or a dropped socket (the page itself must never log an error)."""
        self.allowed.extend(re.compile(p) for p in patterns)

    def problems(self) -> list[str]:
        unexpected = [
            line
            for line in self.console_errors
            if not any(pattern.search(line) for pattern in self.allowed)
        ]
        return (
            [f"uncaught: {e}" for e in self.exceptions]
            + [f"console error: {line}" for line in unexpected]
            + [f"fetched from elsewhere: {url}" for url in self.foreign]
        )

    def check(self) -> None:
        problems = self.problems()
        assert not problems, "\n".join(problems)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} @ {message.location.get('url', '')}")

    def _request(self, url: str) -> None:
        if not url.startswith((f"{self.origin}/", "blob:", "data:")):
            self.foreign.append(url)

    def _socket(self, socket: WebSocket) -> None:
        own = self.origin.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        if not socket.url.startswith(f"{own}/"):
            self.foreign.append(socket.url)


def screenshot(page: Page, name: str, folder: Path) -> Path:
    """``name.png`` in ``folder`` (the test's temporary directory) and in
    ``bench-results/screenshots/``, where CI keeps it as an artifact."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOTS / path.name)
    return path


def serve_on(
    port: int,
    args: Sequence[str],
    data_dir: Path,
    *,
    module: str = "echoic",
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 120,
) -> ServerProcess:
    """``python -m MODULE ARGS --port PORT``, once ready: a server that can be started again
    on the same port (``process_kit`` picks a new port each time)."""
    log = data_dir / f"server-{port}-{len(list(data_dir.glob('server-*.log')))}.log"
    environment = {
        **os.environ,
        "ECHOIC_MODELS_DIR": str(Settings().models_dir),
        "ECHOIC_DATA_DIR": str(data_dir),
        "ECHOIC_LOG_FORMAT": "json",
        **(env or {}),
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=REPO,
        )
    server = ServerProcess(url=f"http://127.0.0.1:{port}", log=log, process=process)
    try:
        wait_ready(server, ready_timeout_s)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return server


def echoic(
    *args: str | Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``echoic`` CLI as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "echoic", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )
