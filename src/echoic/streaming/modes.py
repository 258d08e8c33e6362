"""Which models a live stream uses: single-model or speculative (DESIGN.md §3 "Dual-model").

- ``single``: one model drafts (greedy, short encoder input) and makes each final (beam 5).
- ``speculative``: drafts as in single mode, and the confirming model also confirms the open
  utterance every ``confirm_interval_ms`` (``confidence: "confirmed"`` partials) before it makes
  the final. Without a confirming model the drafting model confirms itself, with the final
  decode settings: on the dev sessions that was the best measured pairing (tiny.en → tiny.en:
  streaming WER 7.95 % against tiny.en → base 9.47 %; README, "Single vs dual-model").

With no mode given, a stream is speculative exactly when it has a confirming model (its own or
the server's ``ECHOIC_CONFIRM_MODEL``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from echoic.errors import InvalidRequestError


class StreamMode(StrEnum):
    SINGLE = "single"
    SPECULATIVE = "speculative"


@dataclass(frozen=True, kw_only=True)
class StreamModels:
    mode: StreamMode
    model: str
    #: Makes the finals (and, in speculative mode, the confirmations); ``model`` in single mode.
    confirm_model: str

    @property
    def speculative(self) -> bool:
        return self.mode is StreamMode.SPECULATIVE

    @property
    def names(self) -> list[str]:
        """The distinct models, drafting one first."""
        if self.confirm_model == self.model:
            return [self.model]
        return [self.model, self.confirm_model]


def stream_models(
    model: str,
    *,
    mode: StreamMode | None = None,
    confirm_model: str | None = None,
    default_confirm_model: str | None = None,
) -> StreamModels:
    """The mode and models of a stream that asked for ``mode`` and ``confirm_model`` on a
    server whose own confirming model is ``default_confirm_model``.

    Raises :class:`InvalidRequestError` for a confirming model in single mode.
    """
    if mode is StreamMode.SINGLE:
        if confirm_model is not None:
            raise InvalidRequestError(
                "confirm_model needs mode 'speculative' (single mode has one model)"
            )
        return StreamModels(mode=StreamMode.SINGLE, model=model, confirm_model=model)
    confirm = confirm_model or default_confirm_model
    if mode is None and confirm is None:
        return StreamModels(mode=StreamMode.SINGLE, model=model, confirm_model=model)
    return StreamModels(mode=StreamMode.SPECULATIVE, model=model, confirm_model=confirm or model)


#: ``ECHOIC_CONFIRM_MODEL=auto`` on CUDA: the confirming models worth their cost there, most
#: accurate first (issue 14: a heavier model's finals at the light one's latency). base is not
#: among them: on the dev sessions it streamed worse than tiny.en (README "Single vs dual-model").
CUDA_CONFIRMERS = ("large-v3-turbo", "large-v3", "medium", "small")
AUTO = "auto"


def auto_confirm_model(
    model: str, *, device: str, installed: Collection[str], english_only: bool
) -> str | None:
    """The confirming model ``ECHOIC_CONFIRM_MODEL=auto`` means (pure).

    On CPU, none: finals come from ``model`` itself, as measured best there. On CUDA, the first
    of :data:`CUDA_CONFIRMERS` that is ``installed`` (the English-only variant first when
    ``model``, the drafting model, is English-only, ``medium.en`` before ``medium``; a
    multilingual drafter never gets an English-only confirmer); none when none is.
    """
    if device != "cuda":
        return None
    for size in CUDA_CONFIRMERS:
        variants = (f"{size}.en", size) if english_only else (size,)
        for name in variants:
            if name in installed and name != model:
                return name
    return None
