"""The router: an engine that wraps an ordered chain of engines (DESIGN.md §4).

    router = Router([Tier(name="local:cpu", source="local", engine=local),
                     Tier(name="cloud", source="cloud", engine=remote)])
    transcript = await router.transcribe(audio, options)
    transcript.metadata.provider   # "local" or "cloud": which tier answered
    transcript.metadata.fallback   # the tiers skipped on the way, with reasons

For each tier allowed by the call's mode, in order: skip it if its circuit is open; otherwise
call it under the tier's own time budget (``timeout_s`` + ``timeout_per_audio_s`` × audio
seconds, each the same for every tier or set per tier: :mod:`echoic.routing.budget`), retry
transient failures with jittered backoff, and on failure go to the next tier, which gets its own
whole budget. Errors the request itself caused (bad audio, unsupported options) are raised at
once: another tier would refuse them too. Every skip is logged and reported to ``on_skip`` (the
server counts it in ``echoic_stt_fallbacks_total``) and travels with the result, so live
streams can send a ``fallback`` event. When no tier is left,
:class:`~echoic.errors.ProviderUnavailableError` lists what happened to each.

A local decode that timed out keeps its inference thread busy until it finishes (CTranslate2
cannot be interrupted); later local calls queue behind it, and after ``BreakerConfig.failures``
such timeouts the breaker stops sending work there for its cool-down.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from echoic.clock import Clock, SystemClock
from echoic.engines.base import (
    BatchEngine,
    Capabilities,
    Engine,
    Health,
    LanguageGuess,
    ProgressCallback,
)
from echoic.errors import EchoicError, EngineError, EngineTimeoutError, ProviderUnavailableError
from echoic.routing.breaker import BreakerState, CircuitBreaker
from echoic.routing.budget import DEFAULT_TIMEOUT_PER_AUDIO_S, DEFAULT_TIMEOUT_S, PerTier
from echoic.routing.classify import classify
from echoic.routing.retry import RetryPolicy
from echoic.types import (
    SAMPLE_RATE,
    Audio,
    Fallback,
    Segment,
    SttMode,
    TranscribeOptions,
    Transcript,
)

log = logging.getLogger(__name__)

SkipObserver = Callable[[Fallback], None]
SegmentCallback = Callable[[Segment], None]
R = TypeVar("R")


@dataclass(kw_only=True, eq=False)
class Tier:
    """One provider in the chain: ``source`` is ``local`` or ``cloud``; the breaker is the
    provider's, shared by every router that uses the provider."""

    name: str
    source: str
    engine: Engine
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)


@dataclass(frozen=True, kw_only=True)
class RouterConfig:
    """A tier's budget per call is ``timeout_s`` plus ``timeout_per_audio_s`` for every second
    of audio (long audio gets longer). A number holds for every tier; a :class:`PerTier` gives
    tiers their own (a tight one for a local engine, a generous one for the cloud)."""

    timeout_s: float | PerTier = DEFAULT_TIMEOUT_S
    timeout_per_audio_s: float | PerTier = DEFAULT_TIMEOUT_PER_AUDIO_S
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def timeout_for(self, audio_s: float, tier: Tier | None = None) -> float:
        """``tier``'s budget for ``audio_s`` of audio (``None``: a tier no entry names)."""
        name, source = (tier.name, tier.source) if tier is not None else ("", "")
        return _for_tier(self.timeout_s, name, source) + audio_s * _for_tier(
            self.timeout_per_audio_s, name, source
        )


def _for_tier(value: float | PerTier, name: str, source: str) -> float:
    return value.value_for(name, source) if isinstance(value, PerTier) else value


def tiers_for(tiers: Sequence[Tier], mode: SttMode) -> list[Tier]:
    if mode is SttMode.FORCE_LOCAL:
        return [t for t in tiers if t.source == "local"]
    if mode is SttMode.FORCE_CLOUD:
        return [t for t in tiers if t.source == "cloud"]
    return list(tiers)


class Router:
    def __init__(
        self,
        tiers: Sequence[Tier],
        *,
        config: RouterConfig | None = None,
        clock: Clock | None = None,
        on_skip: SkipObserver | None = None,
        rng: random.Random | None = None,
        name: str | None = None,
    ) -> None:
        if not tiers:
            raise ValueError("a router needs at least one tier")
        self.tiers = list(tiers)
        self.config = config or RouterConfig()
        self._clock = clock or SystemClock()
        self._on_skip = on_skip
        self._rng = rng or random.Random()
        self._name = name or f"router:{self.tiers[0].engine.name}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        """The first tier's: what a call gets when nothing fails."""
        return self.tiers[0].engine.capabilities

    def capabilities_for(self, mode: SttMode | None) -> Capabilities:
        tiers = tiers_for(self.tiers, mode or SttMode.AUTO)
        return (tiers or self.tiers)[0].engine.capabilities

    def local_engine(self) -> Engine | None:
        return next((t.engine for t in self.tiers if t.source == "local"), None)

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        def call(tier: Tier) -> Awaitable[Transcript]:
            return tier.engine.transcribe(audio, options, progress=progress)

        return await self._route(audio, options, call)

    async def transcribe_progressive(
        self, audio: Audio, options: TranscribeOptions, on_segment: SegmentCallback
    ) -> Transcript:
        """:meth:`transcribe`, reporting segments as they are decoded (a streamed REST answer).

        If a tier fails after it reported segments, the next tier's segments that end before
        the last one reported are not reported again.
        """
        reported_until = -1.0

        def report(segment: Segment) -> None:
            nonlocal reported_until
            if segment.end > reported_until:
                reported_until = segment.end
                on_segment(segment)

        async def call(tier: Tier) -> Transcript:
            progressive = getattr(tier.engine, "transcribe_progressive", None)
            if progressive is not None:
                result: Transcript = await progressive(audio, options, report)
                return result
            transcript = await tier.engine.transcribe(audio, options)
            for segment in transcript.segments:
                report(segment)
            return transcript

        return await self._route(audio, options, call)

    def batch_limit(self, options: TranscribeOptions) -> int:
        """Batches stay on the local tiers: only when every tier the call's mode allows is local
        (live drafts are ``force_local``) does the first one's batching count."""
        engine = self._batch_engine(options)
        return 1 if engine is None else engine.batch_limit(options)

    def batch_groups(self, samples: Sequence[int], options: TranscribeOptions) -> list[list[int]]:
        """The first local tier's, when the batch stays local (:meth:`batch_limit`)."""
        engine = self._batch_engine(options)
        if engine is None:
            return [[i] for i in range(len(samples))]
        return engine.batch_groups(samples, options)

    def _batch_engine(self, options: TranscribeOptions) -> BatchEngine | None:
        """The engine a batch with ``options`` goes to first: the first local tier's, if only
        local tiers may answer and it batches."""
        tiers = tiers_for(self.tiers, options.mode or SttMode.AUTO)
        if not tiers or any(t.source != "local" for t in tiers):
            return None
        engine = tiers[0].engine
        return engine if isinstance(engine, BatchEngine) else None

    async def transcribe_batch(
        self, audios: Sequence[Audio], options: TranscribeOptions
    ) -> list[Transcript]:
        """The drafts of several streams as one call on the first local tier that answers
        (breakers, budgets and retries as for one call; the budget counts all their audio).
        A batch the tiers cannot keep local goes as one routed call per audio."""
        if self.batch_limit(options) < 2:
            return list(await asyncio.gather(*(self.transcribe(a, options) for a in audios)))

        async def call(tier: Tier) -> list[Transcript]:
            limit = _batch_limit(tier.engine, options)
            if limit < 2:
                return [await tier.engine.transcribe(a, options) for a in audios]
            assert isinstance(tier.engine, BatchEngine)  # a limit above 1 says so
            transcripts: list[Transcript] = []
            for start in range(0, len(audios), limit):
                part = audios[start : start + limit]
                transcripts += await tier.engine.transcribe_batch(part, options)
            return transcripts

        audio_s = sum(len(a) for a in audios) / SAMPLE_RATE
        transcripts, tier, skips = await self._routed(audio_s, options, call)
        return [t.with_metadata(provider=tier.source, fallback=skips) for t in transcripts]

    async def _route(
        self,
        audio: Audio,
        options: TranscribeOptions,
        call: Callable[[Tier], Awaitable[Transcript]],
    ) -> Transcript:
        transcript, tier, skips = await self._routed(len(audio) / SAMPLE_RATE, options, call)
        return transcript.with_metadata(provider=tier.source, fallback=skips)

    async def _routed(
        self, audio_s: float, options: TranscribeOptions, call: Callable[[Tier], Awaitable[R]]
    ) -> tuple[R, Tier, tuple[Fallback, ...] | None]:
        """``call`` on each tier the mode allows until one answers: its answer, the tier, and
        the tiers skipped on the way (``None``: none)."""
        mode = options.mode or SttMode.AUTO
        tiers = tiers_for(self.tiers, mode)
        if not tiers:
            raise ProviderUnavailableError(f"no provider is configured for mode {mode.value!r}")
        skips: list[Fallback] = []
        last: EchoicError | None = None
        for index, tier in enumerate(tiers):
            following = tiers[index + 1].name if index + 1 < len(tiers) else None
            if not tier.breaker.allow(self._clock.now()):
                detail = tier.breaker.reason or "circuit open"
                self._skip(skips, tier, following, "circuit_open", detail)
                continue
            try:
                budget_s = self.config.timeout_for(audio_s, tier)
                answer = await self._attempts(tier, call, budget_s)
            except EchoicError as exc:
                failure = classify(exc)
                if not failure.fallback:
                    raise
                last = exc
                self._skip(skips, tier, following, failure.reason, exc.message)
                continue
            return answer, tier, tuple(skips) or None
        if len(tiers) == 1 and last is not None:
            raise last  # nothing to fall back to: the tier's own error says it best
        raise ProviderUnavailableError(
            "no provider could transcribe: "
            + "; ".join(f"{s.from_tier}: {s.reason} ({s.detail})" for s in skips),
            skips=tuple(skips),
            retry_after_s=self._retry_after(tiers),
        ) from last

    async def _attempts(
        self, tier: Tier, call: Callable[[Tier], Awaitable[R]], budget_s: float
    ) -> R:
        """Call ``tier`` until it answers, retrying transient failures; raises the last error.
        Errors the request caused are re-raised at once (``ProviderUnavailableError`` is not
        one of them: it comes from a router nested as a tier)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await asyncio.wait_for(call(tier), budget_s)
            except asyncio.CancelledError:
                # The caller gave up (a superseded draft, a stream that ended): this says nothing
                # about the provider, and a probe must not stay "in flight" for ever.
                tier.breaker.release(self._clock.now())
                raise
            except TimeoutError:
                error: EchoicError = EngineTimeoutError(
                    f"{tier.name} did not answer within {budget_s:.1f} s"
                )
            except EchoicError as exc:
                error = exc
            except Exception as exc:  # an engine bug: a failure of that tier, not of the router
                log.exception("engine %s failed", tier.engine.name)
                error = EngineError(f"{tier.name} failed: {exc}")
            else:
                tier.breaker.record_success(self._clock.now())
                return answer
            failure = classify(error)
            now = self._clock.now()
            if not failure.fallback:
                tier.breaker.release(now)
                raise error
            if failure.counts:
                tier.breaker.record_failure(now, failure.reason)
            else:
                tier.breaker.release(now)
            delay = self.config.retry.delay(attempt, failure, self._rng)
            if delay is None or not tier.breaker.allow(self._clock.now()):
                raise error
            log.info(
                "retrying %s after %s",
                tier.name,
                failure.reason,
                extra={"tier": tier.name, "attempt": attempt + 1, "delay_s": round(delay, 3)},
            )
            await asyncio.sleep(delay)

    def _skip(
        self, skips: list[Fallback], tier: Tier, following: str | None, reason: str, detail: str
    ) -> None:
        """Record why ``tier`` gave no transcript. With a tier after it, that is a fallback:
        logged, reported to ``on_skip`` (the metric) and carried to the client. Without one the
        call fails, and the error says why."""
        skip = Fallback(from_tier=tier.name, to_tier=following, reason=reason, detail=detail)
        skips.append(skip)
        extra = {"from": tier.name, "to": following, "reason": reason, "detail": detail}
        if following is None:
            log.warning("%s failed (%s), no tier left", tier.name, reason, extra=extra)
            return
        log.warning(
            "fallback: %s skipped (%s), trying %s", tier.name, reason, following, extra=extra
        )
        if self._on_skip is not None:
            self._on_skip(skip)

    def _retry_after(self, tiers: Sequence[Tier]) -> float | None:
        now = self._clock.now()
        waits = [t.breaker.retry_after_s(now) for t in tiers]
        known = [w for w in waits if w is not None]
        return min(known) if len(known) == len(waits) else None

    async def detect_language(self, audio: Audio) -> LanguageGuess:
        last: EchoicError | None = None
        for tier in self.tiers:
            if tier.breaker.state(self._clock.now()) is BreakerState.OPEN:
                continue
            try:
                return await tier.engine.detect_language(audio)
            except EchoicError as exc:
                last = exc
        raise ProviderUnavailableError("no provider could detect the language") from last

    async def healthcheck(self) -> Health:
        details = []
        ok = False
        for tier in self.tiers:
            health = await tier.engine.healthcheck()
            state = tier.breaker.state(self._clock.now())
            ok = ok or (health.ok and state is not BreakerState.OPEN)
            details.append(f"{tier.name}: {'ok' if health.ok else health.detail} ({state.value})")
        return Health(ok=ok, detail="; ".join(details))

    async def aclose(self) -> None:
        """The tiers' engines belong to whoever built the router (they are shared)."""


def _batch_limit(engine: Engine, options: TranscribeOptions) -> int:
    return engine.batch_limit(options) if isinstance(engine, BatchEngine) else 1
