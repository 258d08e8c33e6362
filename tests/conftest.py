"""Fixtures every tier shares."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The shared data (evaluation clips, seeds) lives in ``shared/`` beside the repository.
SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; CI must have it, a laptop may not."""
    if not SHARED_DIR.is_dir():
        reason = f"shared data not found at {SHARED_DIR} (check it out beside the repository)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return SHARED_DIR
