"""The circuit breaker's transitions, driven with plain ``now`` values (no clock, no sleeping).

Each scenario is a list of steps ``(action, now, state)``: the action happens at ``now``, and
then the breaker must be in ``state`` at that same ``now``. ``allow``/``deny`` call
:meth:`CircuitBreaker.allow` and require it to answer True/False.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from echoic.routing.breaker import BreakerConfig, BreakerState, CircuitBreaker

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
CONFIG = BreakerConfig(failures=3, cooldown_s=10.0)

Step = tuple[str, float, BreakerState]


def run(breaker: CircuitBreaker, steps: list[Step]) -> None:
    for index, (action, now, expected) in enumerate(steps):
        where = f"step {index}: {action} at {now}"
        if action == "fail":
            breaker.record_failure(now, "timeout")
        elif action == "ok":
            breaker.record_success(now)
        elif action == "release":
            breaker.release(now)
        elif action == "demote":
            breaker.demote(now, "self-test failed")
        elif action in ("allow", "deny"):
            assert breaker.allow(now) is (action == "allow"), where
        elif action != "look":
            raise ValueError(f"unknown action {action!r}")
        assert breaker.state(now) is expected, where


# Three failures at 0, 1, 2: the circuit opens at 2, and the cool-down ends at 12.
TRIPPED: list[Step] = [("fail", 0, CLOSED), ("fail", 1, CLOSED), ("fail", 2, OPEN)]

SCENARIOS: dict[str, tuple[BreakerConfig, list[Step]]] = {
    "closed below the threshold": (
        CONFIG,
        [("fail", 0, CLOSED), ("fail", 1, CLOSED), ("allow", 2, CLOSED), ("allow", 500, CLOSED)],
    ),
    "a success resets the count": (
        CONFIG,
        [
            ("fail", 0, CLOSED),
            ("fail", 1, CLOSED),
            ("ok", 2, CLOSED),
            ("fail", 3, CLOSED),
            ("fail", 4, CLOSED),
            ("allow", 5, CLOSED),
            ("fail", 6, OPEN),  # the third in a row since the success
        ],
    ),
    "N consecutive failures open it": (
        CONFIG,
        [*TRIPPED, ("deny", 2, OPEN), ("deny", 6, OPEN), ("deny", 11.999, OPEN)],
    ),
    "after the cool-down, exactly one probe": (
        CONFIG,
        [
            *TRIPPED,
            ("look", 11.9, OPEN),
            ("look", 12, HALF_OPEN),
            ("allow", 12, HALF_OPEN),
            ("deny", 12, HALF_OPEN),
            ("deny", 13, HALF_OPEN),
            ("deny", 100, HALF_OPEN),  # still waiting for the probe to report
        ],
    ),
    "a probe that succeeds closes it": (
        CONFIG,
        [
            *TRIPPED,
            ("allow", 12, HALF_OPEN),
            ("ok", 13, CLOSED),
            ("allow", 13, CLOSED),
            ("allow", 13, CLOSED),
            ("fail", 14, CLOSED),  # the count starts again from zero
            ("fail", 15, CLOSED),
            ("fail", 16, OPEN),
        ],
    ),
    "a probe that fails reopens it with a fresh cool-down": (
        CONFIG,
        [
            *TRIPPED,
            ("allow", 12, HALF_OPEN),
            ("fail", 13, OPEN),  # one failure is enough in HALF_OPEN
            ("deny", 13, OPEN),
            ("deny", 22.9, OPEN),
            ("allow", 23, HALF_OPEN),
            ("deny", 23, HALF_OPEN),
        ],
    ),
    "release lets another call probe": (
        CONFIG,
        [
            *TRIPPED,
            ("allow", 12, HALF_OPEN),
            ("release", 12.5, HALF_OPEN),
            ("allow", 12.6, HALF_OPEN),
            ("deny", 12.7, HALF_OPEN),
            ("ok", 13, CLOSED),
        ],
    ),
    "demote opens a closed circuit at once": (
        CONFIG,
        [("demote", 0, OPEN), ("deny", 0, OPEN), ("deny", 9.9, OPEN), ("allow", 10, HALF_OPEN)],
    ),
    "demote during a probe reopens with a fresh cool-down": (
        CONFIG,
        [
            *TRIPPED,
            ("allow", 12, HALF_OPEN),
            ("demote", 12.5, OPEN),
            ("deny", 22.4, OPEN),
            ("allow", 22.5, HALF_OPEN),
        ],
    ),
    "a failed probe after demote reopens it, below the failure threshold": (
        CONFIG,
        [
            ("demote", 0, OPEN),
            ("allow", 10, HALF_OPEN),
            ("fail", 11, OPEN),  # the first failure on record, yet the probe failed
            ("deny", 20.9, OPEN),
            ("allow", 21, HALF_OPEN),
        ],
    ),
    "one failure opens it when failures=1": (
        BreakerConfig(failures=1, cooldown_s=5.0),
        [("allow", 0, CLOSED), ("fail", 0, OPEN), ("deny", 4.9, OPEN), ("allow", 5, HALF_OPEN)],
    ),
    "no cool-down: straight to a probe": (
        BreakerConfig(failures=2, cooldown_s=0.0),
        [
            ("fail", 0, CLOSED),
            ("fail", 0, HALF_OPEN),
            ("allow", 0, HALF_OPEN),
            ("deny", 0, HALF_OPEN),
        ],
    ),
}


@pytest.mark.parametrize(("config", "steps"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_breaker_transitions(config: BreakerConfig, steps: list[Step]) -> None:
    run(CircuitBreaker(config), steps)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (2.0, 10.0),  # just opened: the whole cool-down
        (7.0, 5.0),
        (11.5, 0.5),
        (12.0, None),  # HALF_OPEN: a call may go through now
        (50.0, None),
    ],
)
def test_retry_after_counts_down_while_open(now: float, expected: float | None) -> None:
    breaker = CircuitBreaker(CONFIG)
    run(breaker, TRIPPED)

    assert breaker.retry_after_s(now) == (None if expected is None else pytest.approx(expected))


def test_retry_after_is_none_while_closed() -> None:
    breaker = CircuitBreaker(CONFIG)
    breaker.record_failure(0, "timeout")

    assert breaker.retry_after_s(0) is None


def why(breaker: CircuitBreaker) -> tuple[str | None, int]:
    return breaker.reason, breaker.consecutive_failures


def test_reason_and_failure_count_say_why_it_opened() -> None:
    breaker = CircuitBreaker(CONFIG)
    assert why(breaker) == (None, 0)

    breaker.record_failure(0, "timeout")
    breaker.record_failure(1, "timeout")
    assert why(breaker) == (None, 2)

    breaker.record_failure(2, "rate_limited")
    assert why(breaker) == ("3 consecutive failures, the last: rate_limited", 3)

    assert breaker.allow(12)
    breaker.record_success(13)
    assert why(breaker) == (None, 0)


def test_demote_keeps_its_reason() -> None:
    breaker = CircuitBreaker(CONFIG)

    breaker.demote(5, "self-test took 4.2 s (limit 2 s)")

    assert breaker.state(5) is OPEN
    assert breaker.reason == "self-test took 4.2 s (limit 2 s)"
    assert breaker.retry_after_s(5) == 10.0


def test_default_config() -> None:
    breaker = CircuitBreaker()

    assert (breaker.config.failures, breaker.config.cooldown_s) == (3, 60.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failures": 0}, "failures must be at least 1, got 0"),
        ({"failures": -2}, "failures must be at least 1, got -2"),
        ({"cooldown_s": -0.5}, "cooldown_s must be ≥ 0, got -0.5"),
    ],
)
def test_config_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        BreakerConfig(**kwargs)
