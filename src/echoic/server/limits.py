"""How much one caller, and one model, may ask of the server at once (DESIGN.md §5).

- :class:`RateLimiter`: requests per API key (per client IP when auth is off), a moving window
  from the ``limits`` package; over it → :class:`RateLimitedError` (429, with ``Retry-After``).
- :class:`~echoic.server.slots.StreamSlots` (in ``slots``): live streams one key may hold open;
  over it → :class:`RateLimitedError` (WebSocket close 4429).
- :class:`ModelGates`: REST transcriptions admitted per model; a request over the cap waits up to
  ``timeout_s`` for a slot, then gets :class:`EngineOverloadedError` (503).

The first two count in the store named by a storage URI in the ``limits`` notation
(``ECHOIC_RATE_LIMIT_STORAGE``): ``memory://`` counts in this process only; ``redis://host:6379``
makes several ``echoic serve`` processes behind one load balancer count as one server. The
store is asked once at construction, so a bad URI or an unreachable store refuses to start
(:class:`ConfigurationError`); when it goes away later, both fail open
(:mod:`echoic.server.counters`).
Model gates stay per process: they guard this process's own CPU/GPU.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from typing import TYPE_CHECKING

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.strategies import MovingWindowRateLimiter

from echoic.clock import Clock, SystemClock
from echoic.errors import ConfigurationError, EngineOverloadedError, RateLimitedError
from echoic.server.counters import (
    StoreHealth,
    close_limits_store,
    open_limits_store,
    redacted,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class RateLimiter:
    """Requests per key in a moving window, counted in the store at ``storage_uri``.

    When the store fails at request time the request is admitted (fail open, see
    :class:`StoreHealth`); ``store_failures`` counts those.
    """

    def __init__(
        self, spec: str, storage_uri: str = "memory://", *, clock: Clock | None = None
    ) -> None:
        """``spec`` in the ``limits`` notation (``"120/minute"``, ``"5/second;1000/hour"``);
        empty for no limit. ``clock`` paces the probes of a failed store."""
        try:
            self._items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []
        except ValueError as exc:
            raise ConfigurationError(f"invalid rate limit {spec!r}: {exc}") from exc
        self._storage = open_limits_store(storage_uri, "rate limit")
        try:
            self._limiter = MovingWindowRateLimiter(self._storage)
        except NotImplementedError as exc:
            close_limits_store(self._storage)
            raise ConfigurationError(
                f"rate limit storage {redacted(storage_uri)!r} cannot keep a moving window; "
                f"use memory:// or redis://"
            ) from exc
        self._health = StoreHealth("rate limiter", storage_uri, clock or SystemClock())

    @property
    def store_failures(self) -> int:
        """Requests admitted uncounted because the store failed or was down."""
        return self._health.failures

    def hit(self, key: str) -> None:
        """Count one request for ``key``; raise :class:`RateLimitedError` when it is over."""
        if self._items and not self._health.should_ask():
            return
        for item in self._items:
            try:
                admitted = self._limiter.hit(item, key)
                stats = None if admitted else self._limiter.get_window_stats(item, key)
            except StorageError as exc:
                self._health.failed(exc.storage_error)
                return
            self._health.ok()
            if stats is not None:
                retry_after_s = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimitedError(
                    f"Rate limit reached: {item.amount} requests per {_window(item)}. "
                    f"Try again in {retry_after_s} s.",
                    retry_after_s=retry_after_s,
                )

    def close(self) -> None:
        close_limits_store(self._storage)


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


class Slot:
    """One admitted request; :meth:`release` is idempotent, so whoever finishes last may call
    it (the handler, or a streamed response once its body is sent)."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore: asyncio.Semaphore | None = semaphore

    def release(self) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
            self._semaphore = None


class ModelGates:
    def __init__(self, per_model: int, timeout_s: float) -> None:
        self.per_model = per_model
        self.timeout_s = timeout_s
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._waiting: Counter[str] = Counter()

    async def acquire(self, model: str) -> Slot:
        semaphore = self._semaphores.get(model)
        if semaphore is None:
            semaphore = self._semaphores[model] = asyncio.Semaphore(self.per_model)
        self._waiting[model] += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                await semaphore.acquire()
        except TimeoutError:
            raise EngineOverloadedError(
                f"The model {model!r} is busy ({self.per_model} requests in progress and "
                f"no slot freed within {self.timeout_s:g} s); retry later."
            ) from None
        finally:
            self._waiting[model] -= 1
        return Slot(semaphore)

    def depths(self) -> dict[str, int]:
        """Requests waiting for a slot, per model (``echoic_queue_depth{queue="rest:…"}``)."""
        return {f"rest:{model}": self._waiting[model] for model in self._semaphores}
