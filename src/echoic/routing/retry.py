"""Retries with jittered exponential backoff, for transient failures only (pure).

The delay before retry ``n`` (1-based) is drawn uniformly from ``[0, min(max_s, base_s·2ⁿ⁻¹)]``
("full jitter"), so that many clients failing together do not retry together. A provider's
``Retry-After`` wins when it is longer, unless it is longer than ``max_wait_s``: then waiting is
worse than the next tier, and the policy says not to retry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from echoic.routing.classify import Failure


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    retries: int = 1  # extra attempts on the same tier
    base_s: float = 0.2
    max_s: float = 2.0
    #: The longest ``Retry-After`` worth waiting for on the same tier.
    max_wait_s: float = 5.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be ≥ 0, got {self.retries}")
        if self.base_s < 0 or self.max_s < 0:
            raise ValueError("backoff times must be ≥ 0")

    def delay(self, attempt: int, failure: Failure, rng: random.Random) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` after ``attempt`` attempts failed
        with ``failure``; ``None``: do not retry on this tier."""
        if not failure.retry or attempt > self.retries:
            return None
        backoff = rng.uniform(0.0, min(self.max_s, self.base_s * 2 ** (attempt - 1)))
        if failure.retry_after_s is not None:
            if failure.retry_after_s > self.max_wait_s:
                return None
            return max(backoff, failure.retry_after_s)
        return backoff
