"""Which models a live stream uses, for every combination of what the client and the server say."""

from __future__ import annotations

import pytest

from echoic.errors import InvalidRequestError
from echoic.streaming.modes import StreamMode, stream_models

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
