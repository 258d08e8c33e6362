"""A circuit breaker per provider: pure, with time passed in (DESIGN.md §4).

    CLOSED ──N consecutive failures──▶ OPEN ──cool-down elapsed──▶ HALF_OPEN
      ▲                                 ▲                            │ one probe call
      └────────── probe succeeds ───────┼──────── probe fails ───────┘

While OPEN the router skips the provider (reason ``circuit_open``) and goes to the next tier;
after ``cooldown_s`` one call is let through as a probe. :meth:`demote` opens the circuit at
once with a reason, e.g. a local engine that failed its startup self-test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, kw_only=True)
class BreakerConfig:
    failures: int = 3  # consecutive failures that open the circuit
    cooldown_s: float = 60.0  # how long it stays open before a probe

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ValueError(f"failures must be at least 1, got {self.failures}")
        if self.cooldown_s < 0:
            raise ValueError(f"cooldown_s must be ≥ 0, got {self.cooldown_s}")


class CircuitBreaker:
    def __init__(self, config: BreakerConfig | None = None) -> None:
        self.config = config or BreakerConfig()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        #: Why the circuit is (or last was) open.
        self.reason: str | None = None

    def state(self, now: float) -> BreakerState:
        if self._state is BreakerState.OPEN and now - self._opened_at >= self.config.cooldown_s:
            self._state = BreakerState.HALF_OPEN
            self._probing = False
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after_s(self, now: float) -> float | None:
        """Seconds until the next probe is allowed; ``None`` when calls go through now."""
        if self.state(now) is not BreakerState.OPEN:
            return None
        return max(0.0, self._opened_at + self.config.cooldown_s - now)

    def allow(self, now: float) -> bool:
        """May a call go to the provider now? In HALF_OPEN only one probe at a time."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self, now: float) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probing = False
        self.reason = None

    def record_failure(self, now: float, reason: str) -> None:
        state = self.state(now)
        self._failures += 1
        if state is BreakerState.HALF_OPEN or self._failures >= self.config.failures:
            self._open(now, f"{self._failures} consecutive failures, the last: {reason}")

    def release(self, now: float) -> None:
        """A probe ended without telling anything about the provider (the request was at fault):
        let the next call probe instead."""
        self._probing = False

    def demote(self, now: float, reason: str) -> None:
        """Open the circuit now (e.g. a failed or too slow self-test)."""
        self._open(now, reason)

    def _open(self, now: float, reason: str) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._probing = False
        self.reason = reason
