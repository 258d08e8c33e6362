"""Helpers of the browser transcription tests (``test_browser_stt*.py``): the pack they need,
the page's lines and what it measured, its socket traffic, and the server's counters."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from prometheus_client.parser import text_string_to_metric_families

from echoic.browser.pack import install_hint, load_pack
from echoic.errors import ModelCorruptError
from echoic.settings import Settings
from tests.process_kit import ServerProcess
from tests.server_kit import metric


def _pack_installed() -> bool:
    try:
        return load_pack(Settings().models_dir) is not None
    except ModelCorruptError:
        return False


needs_pack = pytest.mark.skipif(
    not _pack_installed(), reason=f"the browser pack is not installed ({install_hint()})"
)

LINES = "#utterances > li"
FINALS = f"{LINES}[data-state=final]"
BROWSER_BADGE = re.compile(r"^browser · (WASM|WebGPU)$")
SERVER_BADGE = re.compile(r"^server · (CPU|GPU)$")
#: The first visit downloads ~90 MB and compiles the runtime before the self-test.
LOAD_TIMEOUT_MS = 180_000
FAILED_TOAST = "Transcription in this browser failed — the server transcribes instead."
#: The browser's own line about a request the test refused on purpose.
REFUSED_REQUEST = r"Failed to load resource: the server responded with a status of 404"


def decodes(server: ServerProcess) -> float:
    return metric(httpx.get(f"{server.url}/metrics").text, "echoic_stream_decodes_total")


def downloads(server: ServerProcess) -> dict[str, float]:
    """Full downloads of each browser pack file so far."""
    text = httpx.get(f"{server.url}/metrics").text
    return {
        sample.labels["file"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "echoic_browser_downloads_total"
    }


def socket_log(page: Page) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The JSON the page sends on its live sockets, and the events it receives."""
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    def frames(socket: Any) -> None:
        socket.on("framesent", lambda f: sent.append(json.loads(f)) if isinstance(f, str) else 0)
        socket.on(
            "framereceived", lambda f: received.append(json.loads(f)) if isinstance(f, str) else 0
        )

    page.on("websocket", frames)
    return sent, received


def start(page: Page) -> None:
    expect(page.locator("#server-status")).to_have_text("connected")
    page.click("#start")
    expect(page.locator("#panel-live")).to_have_attribute(
        "data-state", "live", timeout=LOAD_TIMEOUT_MS
    )


def stop(page: Page) -> None:
    page.click("#stop")
    expect(page.locator("#panel-live")).to_have_attribute("data-state", "idle")


def lines(page: Page) -> list[dict[str, Any]]:
    """Every line of the live transcript: state, text, badge and what the page measured."""
    found: list[dict[str, Any]] = page.eval_on_selector_all(
        LINES,
        """nodes => nodes.map(node => ({
            state: node.dataset.state,
            text: node.querySelector('.text').innerText,
            badge: node.querySelector('.badge').innerText,
            first_draft_ms: node.dataset.firstDraftMs ? Number(node.dataset.firstDraftMs) : null,
            final_ms: node.dataset.finalMs ? Number(node.dataset.finalMs) : null,
            stt_ms: node.dataset.sttMs ? Number(node.dataset.sttMs) : null,
            encode_ms: node.dataset.encodeMs ? Number(node.dataset.encodeMs) : null,
            decode_ms: node.dataset.decodeMs ? Number(node.dataset.decodeMs) : null,
        }))""",
    )
    return found
