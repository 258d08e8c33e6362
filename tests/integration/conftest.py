"""Fixtures for the integration tier: where the models and the evaluation data are."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from echoic.engines.faster_whisper import FasterWhisperEngine
from echoic.engines.registry import EnginePool
from echoic.settings import Settings


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The installed models (``make models``), as the CLI would find them."""
    return Settings().models_dir


@pytest.fixture(scope="session")
def eval_dir(shared_dir: Path) -> Path:
    """``eval/dev`` of the shared data checked out beside the repository."""
    return shared_dir / "eval" / "dev"


@pytest.fixture(scope="session")
def pool(models_dir: Path) -> Iterator[EnginePool]:
    """One loaded copy of each model for the whole session, as in the server."""
    engines = EnginePool(models_dir)
    yield engines
    asyncio.run(engines.aclose())


@pytest.fixture(scope="session")
def tiny(pool: EnginePool) -> FasterWhisperEngine:
    return pool.get("tiny.en")
