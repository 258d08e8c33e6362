"""Where one stream's decodes go (DESIGN.md §3 "Dual-model"): its drafts to the fast model's
:class:`~echoic.streaming.scheduler.ModelScheduler`, its confirmations and finals to the
confirming model's; the two share the device's compute slots."""

from __future__ import annotations

from dataclasses import dataclass

from echoic.engines.base import Engine
from echoic.streaming.decoding import DecodeKind, DecodeRequest
from echoic.streaming.scheduler import DEFAULT_MAX_BATCH, DUAL_FINAL_HEADROOM, ModelScheduler
from echoic.streaming.slots import ComputeSlots


@dataclass(frozen=True)
class Schedulers:
    """Where a stream's decodes go: drafts to the fast model, confirmations and finals to the
    confirming one. In single-model mode both are the same scheduler."""

    draft: ModelScheduler
    confirm: ModelScheduler

    @classmethod
    def single(cls, scheduler: ModelScheduler) -> Schedulers:
        return cls(draft=scheduler, confirm=scheduler)

    @classmethod
    def of(
        cls,
        draft: Engine,
        confirm: Engine | None = None,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        final_headroom: int = DUAL_FINAL_HEADROOM,
        final_batch: int = 1,
    ) -> Schedulers:
        """Fresh schedulers for ``draft`` and ``confirm`` (the same engine when ``None``); two
        different engines share compute slots, as many as the drafting one runs calls at once,
        and a final may run beside them over that by ``final_headroom``
        (:class:`~echoic.streaming.slots.ComputeSlots`). ``max_batch``: drafts one call runs at
        most (1: one at a time); ``final_batch``: finals likewise."""
        if confirm is None or confirm is draft:
            return cls.single(
                ModelScheduler(draft, max_batch=max_batch, max_final_batch=final_batch)
            )
        slots = ComputeSlots(
            max(1, draft.capabilities.parallel_calls), final_headroom=final_headroom
        )
        return cls(
            draft=ModelScheduler(
                draft, slots=slots, max_batch=max_batch, max_final_batch=final_batch
            ),
            confirm=ModelScheduler(
                confirm, slots=slots, max_batch=max_batch, max_final_batch=final_batch
            ),
        )

    @property
    def dual(self) -> bool:
        return self.draft is not self.confirm

    def for_request(self, request: DecodeRequest) -> ModelScheduler:
        if request.kind is DecodeKind.DRAFT or request.fast:
            return self.draft
        return self.confirm

    def cancel(self, session_id: str, request_id: int) -> None:
        if not self.draft.cancel(session_id, request_id) and self.dual:
            self.confirm.cancel(session_id, request_id)

    async def aclose(self) -> None:
        await self.draft.aclose()
        if self.dual:
            await self.confirm.aclose()
