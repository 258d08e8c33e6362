"""What a failure means for routing: retry here, try the next tier, or give up (DESIGN.md §4).

Errors are classified once, here, from echoic's error tree (engines translate their own
exceptions into it at their boundary; :mod:`echoic.engines.remote` maps HTTP statuses):

| error                                   | reason         | retry | next tier | breaker |
|-----------------------------------------|----------------|-------|-----------|---------|
| InvalidRequestError (bad audio, options)| request        | no    | no: raise | no      |
| SupersededError                         | request        | no    | no: raise | no      |
| EngineTimeoutError                      | timeout        | no    | yes       | counts  |
| ProviderRateLimitedError (429)          | rate_limited   | yes¹  | yes       | counts  |
| EngineOverloadedError                   | overloaded     | yes   | yes       | counts  |
| ProviderAuthError (401/403)             | auth           | no    | yes       | counts  |
| ProviderRejectedError (other 4xx)       | rejected       | no    | yes       | no      |
| ProviderError (5xx, network, bad body)  | error          | yes   | yes       | counts  |
| ModelError (not installed, corrupt)     | unavailable    | no    | yes       | counts  |
| another EchoicError, not retryable      | error          | no    | yes       | counts  |
| EngineError, anything else              | error          | yes   | yes       | counts  |

¹ after the provider's ``Retry-After`` when it sent one (and that is short enough).
A timeout is not retried on the same tier: the caller has already waited the whole budget once.
A rejected request says nothing about the provider's health, so it does not count against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from echoic.errors import (
    EchoicError,
    EngineOverloadedError,
    EngineTimeoutError,
    InvalidRequestError,
    ModelError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    SupersededError,
)


@dataclass(frozen=True, kw_only=True)
class Failure:
    """How the router treats one error."""

    reason: str  # the ``reason`` label of fallback events and metrics
    retry: bool  # try the same tier again (after a backoff)
    fallback: bool  # go on to the next tier; False: the request itself is at fault, re-raise
    counts: bool  # counts as a failure of the provider (circuit breaker)
    retry_after_s: float | None = None


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, InvalidRequestError | SupersededError):
        return Failure(reason="request", retry=False, fallback=False, counts=False)
    if isinstance(exc, EngineTimeoutError):
        return Failure(reason="timeout", retry=False, fallback=True, counts=True)
    if isinstance(exc, ProviderRateLimitedError):
        return Failure(
            reason="rate_limited",
            retry=True,
            fallback=True,
            counts=True,
            retry_after_s=exc.retry_after_s,
        )
    if isinstance(exc, EngineOverloadedError):
        return Failure(reason="overloaded", retry=True, fallback=True, counts=True)
    if isinstance(exc, ProviderAuthError):
        return Failure(reason="auth", retry=False, fallback=True, counts=True)
    if isinstance(exc, ProviderRejectedError):
        return Failure(reason="rejected", retry=False, fallback=True, counts=False)
    if isinstance(exc, ProviderError):
        return Failure(
            reason="error", retry=True, fallback=True, counts=True, retry_after_s=exc.retry_after_s
        )
    if isinstance(exc, ModelError):
        return Failure(reason="unavailable", retry=False, fallback=True, counts=True)
    if isinstance(exc, EchoicError) and not exc.retryable:
        return Failure(reason="error", retry=False, fallback=True, counts=True)
    return Failure(reason="error", retry=True, fallback=True, counts=True)
