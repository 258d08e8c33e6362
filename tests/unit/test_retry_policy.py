"""The retry policy: which failures are retried, how long to wait, when to give up on a tier."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from echoic.routing.classify import Failure
from echoic.routing.retry import RetryPolicy

TRANSIENT = Failure(reason="error", retry=True, fallback=True, counts=True)
DRAWS = 2000  # seeded draws per bounds check: deterministic, and a few milliseconds


def rate_limited(after_s: float | None) -> Failure:
    return Failure(
        reason="rate_limited", retry=True, fallback=True, counts=True, retry_after_s=after_s
    )


def draws(policy: RetryPolicy, attempt: int, failure: Failure, seed: int) -> list[float | None]:
    rng = random.Random(seed)
    return [policy.delay(attempt, failure, rng) for _ in range(DRAWS)]


@pytest.mark.parametrize(
    "failure",
    [
        Failure(reason="timeout", retry=False, fallback=True, counts=True),
        Failure(reason="auth", retry=False, fallback=True, counts=True),
        Failure(reason="rejected", retry=False, fallback=True, counts=False),
        Failure(reason="request", retry=False, fallback=False, counts=False),
        # A Retry-After does not make a failure retryable.
        Failure(reason="auth", retry=False, fallback=True, counts=True, retry_after_s=0.1),
    ],
    ids=lambda failure: failure.reason if isinstance(failure, Failure) else None,
)
@pytest.mark.parametrize("attempt", [1, 2])
def test_failures_that_are_not_retried(failure: Failure, attempt: int) -> None:
    policy = RetryPolicy(retries=3)

    assert policy.delay(attempt, failure, random.Random(0)) is None


@pytest.mark.parametrize(
    ("retries", "attempt", "retried"),
    [
        (0, 1, False),
        (1, 1, True),
        (1, 2, False),
        (3, 1, True),
        (3, 3, True),
        (3, 4, False),
        (3, 10, False),
    ],
)
def test_attempts_beyond_retries_are_not_retried(retries: int, attempt: int, retried: bool) -> None:
    policy = RetryPolicy(retries=retries)

    delay = policy.delay(attempt, TRANSIENT, random.Random(attempt))

    assert (delay is not None) is retried


@pytest.mark.parametrize(
    ("base_s", "max_s", "attempt", "cap_s"),
    [
        (0.2, 2.0, 1, 0.2),
        (0.2, 2.0, 2, 0.4),
        (0.2, 2.0, 3, 0.8),
        (0.2, 2.0, 4, 1.6),
        (0.2, 2.0, 5, 2.0),  # 3.2 s, capped
        (0.2, 2.0, 8, 2.0),
        (1.0, 0.5, 1, 0.5),  # max_s below base_s caps even the first retry
        (0.0, 2.0, 3, 0.0),  # no backoff at all
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2024])
def test_full_jitter_stays_within_the_exponential_cap(
    base_s: float, max_s: float, attempt: int, cap_s: float, seed: int
) -> None:
    policy = RetryPolicy(retries=10, base_s=base_s, max_s=max_s)

    delays = [d for d in draws(policy, attempt, TRANSIENT, seed) if d is not None]

    assert len(delays) == DRAWS
    assert all(0.0 <= d <= cap_s + 1e-12 for d in delays)
    if cap_s > 0:
        # Full jitter: spread over the whole range, not bunched at the cap or at zero.
        assert min(delays) < 0.05 * cap_s
        assert max(delays) > 0.95 * cap_s
        assert sum(delays) / len(delays) == pytest.approx(cap_s / 2, rel=0.1)


def test_the_same_seed_gives_the_same_delays() -> None:
    policy = RetryPolicy(retries=5)

    assert draws(policy, 3, TRANSIENT, seed=7) == draws(policy, 3, TRANSIENT, seed=7)
    assert draws(policy, 3, TRANSIENT, seed=7) != draws(policy, 3, TRANSIENT, seed=8)


@pytest.mark.parametrize(
    ("retry_after_s", "expected"),
    [
        (3.0, 3.0),  # longer than any backoff (≤ 0.2 s on the first retry): it wins
        (0.2, 0.2),  # equal to the cap: never shorter than the backoff drawn
        (5.0, 5.0),  # exactly max_wait_s: still worth waiting for
    ],
)
def test_a_longer_retry_after_wins(retry_after_s: float, expected: float) -> None:
    policy = RetryPolicy(retries=1, base_s=0.2, max_s=2.0, max_wait_s=5.0)

    assert set(draws(policy, 1, rate_limited(retry_after_s), seed=3)) == {expected}


@pytest.mark.parametrize("retry_after_s", [0.0, 0.05])
def test_a_shorter_retry_after_is_a_floor_under_the_backoff(retry_after_s: float) -> None:
    policy = RetryPolicy(retries=2, base_s=0.5, max_s=2.0)

    delays = [d for d in draws(policy, 2, rate_limited(retry_after_s), seed=5) if d is not None]

    assert len(delays) == DRAWS
    assert all(retry_after_s <= d <= 1.0 for d in delays)
    assert max(delays) > 0.95  # the backoff is still drawn, up to its cap of 1 s


@pytest.mark.parametrize("retry_after_s", [5.01, 60.0, 3600.0])
def test_a_retry_after_beyond_max_wait_means_the_next_tier(retry_after_s: float) -> None:
    policy = RetryPolicy(retries=3, max_wait_s=5.0)

    assert set(draws(policy, 1, rate_limited(retry_after_s), seed=0)) == {None}


def test_no_retry_after_means_the_backoff_alone() -> None:
    policy = RetryPolicy(retries=1, base_s=0.2, max_s=2.0)

    delays = draws(policy, 1, rate_limited(None), seed=11)

    assert all(d is not None and 0.0 <= d <= 0.2 for d in delays)


def test_defaults() -> None:
    policy = RetryPolicy()

    assert (policy.retries, policy.base_s, policy.max_s, policy.max_wait_s) == (1, 0.2, 2.0, 5.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retries": -1}, "retries must be ≥ 0, got -1"),
        ({"base_s": -0.1}, "backoff times must be ≥ 0"),
        ({"max_s": -1.0}, "backoff times must be ≥ 0"),
    ],
)
def test_config_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RetryPolicy(**kwargs)
