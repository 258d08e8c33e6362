"""How much one caller, and one model, may ask of the server at once (DESIGN.md §5).

- :class:`RateLimiter`: requests per API key (per client IP when auth is off), a moving window
  from the ``limits`` package in memory; over it → :class:`RateLimitedError` (429, with
  ``Retry-After``).
- :class:`StreamSlots`: live streams one key may hold open; over it → :class:`RateLimitedError`
  (WebSocket close 4429).
- :class:`ModelGates`: REST transcriptions admitted per model; a request over the cap waits up to
  ``timeout_s`` for a slot, then gets :class:`EngineOverloadedError` (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Iterator

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from echoic.errors import ConfigurationError, EngineOverloadedError, RateLimitedError
from echoic.server.auth import Principal

ANONYMOUS = "anonymous"


class RateLimiter:
    def __init__(self, spec: str) -> None:
        """``spec`` in the ``limits`` notation (``"120/minute"``, ``"5/second;1000/hour"``);
        empty for no limit."""
        try:
            self._items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []
        except ValueError as exc:
            raise ConfigurationError(f"invalid rate limit {spec!r}: {exc}") from exc
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, key: str) -> None:
        """Count one request for ``key``; raise :class:`RateLimitedError` when it is over."""
        for item in self._items:
            if not self._limiter.hit(item, key):
                stats = self._limiter.get_window_stats(item, key)
                retry_after_s = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimitedError(
                    f"Rate limit reached: {item.amount} requests per {_window(item)}. "
                    f"Try again in {retry_after_s} s.",
                    retry_after_s=retry_after_s,
                )


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


class StreamSlots:
    """Open live streams per API key. All anonymous callers (auth off) share one count."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: Counter[str] = Counter()

    @contextlib.contextmanager
    def acquire(self, principal: Principal | None) -> Iterator[Principal | None]:
        """Hold a stream slot while the ``with`` block runs; raises :class:`RateLimitedError`
        when the key already holds ``per_key`` streams."""
        key = principal.key_id if principal is not None else ANONYMOUS
        if self._open[key] >= self.per_key:
            raise RateLimitedError(
                f"Too many concurrent streams: this key may hold {self.per_key} at once.",
                retry_after_s=1,
            )
        self._open[key] += 1
        try:
            yield principal
        finally:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    def open_streams(self, principal: Principal | None) -> int:
        return self._open[principal.key_id if principal is not None else ANONYMOUS]


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
