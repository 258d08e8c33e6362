"""Which models a live stream uses, for every combination of what the client and the server say."""

from __future__ import annotations

from pathlib import Path

import pytest

from echoic.engines.model_catalog import MANIFEST
from echoic.errors import InvalidRequestError
from echoic.server.models import with_confirm_model
from echoic.settings import Settings
from echoic.streaming.modes import StreamMode, auto_confirm_model, stream_models

SINGLE, SPECULATIVE = StreamMode.SINGLE, StreamMode.SPECULATIVE


@pytest.mark.parametrize(
    ("mode", "confirm", "server_confirm", "expected"),
    [
        (None, None, None, (SINGLE, ["tiny.en"])),
        (None, "base", None, (SPECULATIVE, ["tiny.en", "base"])),
        (None, None, "base", (SPECULATIVE, ["tiny.en", "base"])),
        (None, "tiny.en", None, (SPECULATIVE, ["tiny.en"])),  # confirms itself
        (SPECULATIVE, None, None, (SPECULATIVE, ["tiny.en"])),  # the default pairing
        (SPECULATIVE, None, "base", (SPECULATIVE, ["tiny.en", "base"])),
        (SPECULATIVE, "small", "base", (SPECULATIVE, ["tiny.en", "small"])),  # the client's wins
        (SINGLE, None, "base", (SINGLE, ["tiny.en"])),  # the server's pairing is only a default
    ],
)
def test_stream_models(
    mode: StreamMode | None,
    confirm: str | None,
    server_confirm: str | None,
    expected: tuple[StreamMode, list[str]],
) -> None:
    models = stream_models(
        "tiny.en", mode=mode, confirm_model=confirm, default_confirm_model=server_confirm
    )
    assert (models.mode, models.names) == expected
    assert models.speculative is (expected[0] is SPECULATIVE)
    assert models.confirm_model == expected[1][-1]


def test_a_confirming_model_in_single_mode_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="speculative"):
        stream_models("tiny.en", mode=SINGLE, confirm_model="base")


@pytest.mark.parametrize(
    ("model", "device", "installed", "english_only", "expected"),
    [
        ("tiny.en", "cpu", {"tiny.en", "base", "small"}, True, None),  # CPU: the model itself
        ("tiny.en", "cuda", {"tiny.en", "base"}, True, None),  # base is not worth it
        ("tiny.en", "cuda", {"tiny.en", "small"}, True, "small"),
        ("tiny.en", "cuda", {"small", "small.en"}, True, "small.en"),  # English drafts: .en
        ("tiny", "cuda", {"small", "small.en"}, False, "small"),  # multilingual: never .en
        ("tiny", "cuda", {"small.en"}, False, None),
        ("tiny.en", "cuda", {"small", "large-v3", "large-v3-turbo"}, True, "large-v3-turbo"),
        ("tiny.en", "cuda", {"medium", "small"}, True, "medium"),
        ("small", "cuda", {"small"}, False, None),  # not itself
    ],
)
def test_auto_confirm_model(
    model: str, device: str, installed: set[str], english_only: bool, expected: str | None
) -> None:
    chosen = auto_confirm_model(
        model, device=device, installed=installed, english_only=english_only
    )
    assert chosen == expected


def test_auto_is_resolved_from_the_installed_models(tmp_path: Path) -> None:
    for name in ("tiny.en", "base", "small"):
        (tmp_path / name).mkdir()
        (tmp_path / name / MANIFEST).write_text("{}")
    settings = Settings(models_dir=tmp_path, confirm_model="auto", device="cuda")
    assert with_confirm_model(settings).confirm_model == "small"
    on_cpu = settings.model_copy(update={"device": "cpu"})
    assert with_confirm_model(on_cpu).confirm_model is None
    named = settings.model_copy(update={"confirm_model": "base"})
    assert with_confirm_model(named) is named
