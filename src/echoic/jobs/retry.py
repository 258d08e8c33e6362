"""When a failed job runs again (pure): retryable errors back off exponentially with full
jitter — a delay drawn uniformly from ``[0, min(max_s, base_s·2ⁿ⁻¹)]`` after the n-th failed
attempt — so jobs that failed together (a provider outage) do not all come back together.
Permanent errors, and a job out of attempts, do not run again."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class JobRetry:
    base_s: float = 2.0
    max_s: float = 300.0

    def delay(
        self, *, attempts: int, max_attempts: int, retryable: bool, rng: random.Random
    ) -> float | None:
        """Seconds before the next attempt, or ``None``: fail the job now."""
        if not retryable or attempts >= max_attempts:
            return None
        return rng.uniform(0.0, min(self.max_s, self.base_s * 2 ** (attempts - 1)))
