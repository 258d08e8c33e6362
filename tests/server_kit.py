"""Helpers for the server tests: apps on scripted engines, audio bodies, errors, metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from echoic.engines.base import Engine
from echoic.engines.scripted import ScriptedEngine
from echoic.server import create_app
from echoic.settings import Settings
from echoic.storage.keys import KeyStore, MemoryKeyStore
from tests.audio_factory import wav_bytes

SAID = "ask not what your country can do for you"


def tone_wav(seconds: float = 1.0, sample_rate: int = 16_000) -> bytes:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    return wav_bytes(samples.tobytes(), sample_rate=sample_rate)


def server_settings(tmp_path: Path, **changes: Any) -> Settings:
    """Loopback, no rate limit, data in ``tmp_path``: each test turns on what it tests."""
    base: dict[str, Any] = {"model": "tiny.en", "data_dir": tmp_path, "rate_limit": ""}
    return Settings(**{**base, **changes})


def make_app(
    tmp_path: Path,
    engines: Mapping[str, Engine] | None = None,
    store: KeyStore | None = None,
    **changes: Any,
) -> FastAPI:
    engines = engines if engines is not None else {"tiny.en": ScriptedEngine.saying(SAID)}
    return create_app(server_settings(tmp_path, **changes), engines, store or MemoryKeyStore())


def wait_ready(client: TestClient | httpx.Client, timeout_s: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get("/ready")
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout_s} s: {response.text}")
        time.sleep(0.02)


@contextmanager
def serving(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        wait_ready(client)
        yield client


class Response(Protocol):
    """What the tests read from a response (``httpx`` and Starlette's test client's alike)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


def upload(
    client: TestClient,
    body: bytes,
    *,
    path: str = "/v1/audio/transcriptions",
    filename: str = "audio.wav",
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
    **fields: str,
) -> Response:
    """POST ``body`` as the ``file`` of a multipart form with the other ``fields``; ``data``
    for fields whose names are not Python identifiers (``timestamp_granularities[]``)."""
    response: Response = client.post(
        path,
        files={"file": (filename, body, "application/octet-stream")},
        data={**fields, **(data or {})},
        headers=dict(headers or {}),
    )
    return response


def assert_error(
    response: Response, status: int, code: str, *, param: str | None = None
) -> dict[str, Any]:
    """An OpenAI-shaped error with this status and code; returns its ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    if param is not None:
        assert error["param"] == param, error
    return error


def metric(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The sum of the samples of ``name`` in a Prometheus text exposition whose labels include
    ``labels`` (0 when there are none)."""
    wanted = dict(labels or {})
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in wanted.items()):
                total += float(sample.value)
    return total
