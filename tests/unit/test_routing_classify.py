"""How routing reads a failure: the table in :mod:`echoic.routing.classify`, and the HTTP answers
of a remote provider as :mod:`echoic.engines.remote` translates them into that table's errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from echoic.engines.remote import http_error, parse_retry_after
from echoic.errors import (
    AudioTooLongError,
    ConfigurationError,
    CorruptAudioError,
    EchoicError,
    EngineError,
    EngineOverloadedError,
    EngineTimeoutError,
    InvalidParameterError,
    InvalidRequestError,
    ModelCorruptError,
    ModelError,
    ModelNotFoundError,
    ModelNotInstalledError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderUnavailableError,
    SupersededError,
    UnauthorizedError,
)
from echoic.routing.classify import Failure, classify


def failure(
    reason: str, *, retry: bool, fallback: bool, counts: bool, after: float | None = None
) -> Failure:
    return Failure(
        reason=reason, retry=retry, fallback=fallback, counts=counts, retry_after_s=after
    )


REQUEST = failure("request", retry=False, fallback=False, counts=False)
TIMEOUT = failure("timeout", retry=False, fallback=True, counts=True)
OVERLOADED = failure("overloaded", retry=True, fallback=True, counts=True)
AUTH = failure("auth", retry=False, fallback=True, counts=True)
REJECTED = failure("rejected", retry=False, fallback=True, counts=False)
ERROR = failure("error", retry=True, fallback=True, counts=True)
UNAVAILABLE = failure("unavailable", retry=False, fallback=True, counts=True)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # The request itself is at fault: no retry, no other tier, not the provider's failure.
        (InvalidRequestError("bad options"), REQUEST),
        (CorruptAudioError("truncated"), REQUEST),
        (AudioTooLongError("3 h"), REQUEST),
        (InvalidParameterError("beam_size must be ≥ 1", param="beam_size"), REQUEST),
        (ModelNotFoundError("no such model"), REQUEST),
        (SupersededError("a newer draft"), REQUEST),
        # The budget was spent once already: next tier at once.
        (EngineTimeoutError("too slow"), TIMEOUT),
        (
            ProviderRateLimitedError("429", status=429, retry_after_s=3.0),
            failure("rate_limited", retry=True, fallback=True, counts=True, after=3.0),
        ),
        (
            ProviderRateLimitedError("429", status=429),
            failure("rate_limited", retry=True, fallback=True, counts=True),
        ),
        (EngineOverloadedError("queue full"), OVERLOADED),
        (ProviderAuthError("401", status=401), AUTH),
        (ProviderAuthError("403", status=403), AUTH),
        # A rejected request says nothing about the provider's health.
        (ProviderRejectedError("422", status=422), REJECTED),
        (ProviderError("502", status=502), ERROR),
        (ProviderError("connection refused"), ERROR),
        (
            ProviderError("503", status=503, retry_after_s=1.5),
            failure("error", retry=True, fallback=True, counts=True, after=1.5),
        ),
        (ModelError("unavailable"), UNAVAILABLE),
        (ModelNotInstalledError("not installed"), UNAVAILABLE),
        (ModelCorruptError("checksum mismatch"), UNAVAILABLE),
        (EngineError("model crashed"), ERROR),
        # A router nested as a tier: its exhaustion is a transient failure of that tier.
        (ProviderUnavailableError("every tier failed"), ERROR),
        # Anything else is an engine bug: a failure of that tier.
        (RuntimeError("boom"), ERROR),
        (ValueError("bad"), ERROR),
        # Other echoic errors: their own ``retryable`` decides whether the tier is retried.
        (ConfigurationError("no key"), failure("error", retry=False, fallback=True, counts=True)),
        (UnauthorizedError("bad key"), failure("error", retry=False, fallback=True, counts=True)),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_classify(error: BaseException, expected: Failure) -> None:
    assert classify(error) == expected


def test_subclasses_are_classified_by_their_most_specific_row() -> None:
    """Rate-limited, auth and rejected are all ProviderErrors, which are EngineErrors: each must
    still get its own row, not the one of a base class."""
    reasons = {
        cls.__name__: classify(cls("x", status=400)).reason
        for cls in (ProviderRateLimitedError, ProviderAuthError, ProviderRejectedError)
    }
    assert reasons == {
        "ProviderRateLimitedError": "rate_limited",
        "ProviderAuthError": "auth",
        "ProviderRejectedError": "rejected",
    }


# --- remote provider answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after_s", "error_class", "expected"),
    [
        (401, None, ProviderAuthError, AUTH),
        (403, None, ProviderAuthError, AUTH),
        (400, None, ProviderRejectedError, REJECTED),
        (404, None, ProviderRejectedError, REJECTED),
        (413, None, ProviderRejectedError, REJECTED),
        (422, None, ProviderRejectedError, REJECTED),
        # 408: the provider gave up waiting for us, a transient failure like a 5xx.
        (408, None, ProviderError, ERROR),
        (
            429,
            None,
            ProviderRateLimitedError,
            failure("rate_limited", retry=True, fallback=True, counts=True),
        ),
        (
            429,
            7.0,
            ProviderRateLimitedError,
            failure("rate_limited", retry=True, fallback=True, counts=True, after=7.0),
        ),
        (500, None, ProviderError, ERROR),
        (502, None, ProviderError, ERROR),
        (
            503,
            30.0,
            ProviderError,
            failure("error", retry=True, fallback=True, counts=True, after=30.0),
        ),
    ],
)
def test_http_error_maps_statuses_to_the_routing_table(
    status: int, retry_after_s: float | None, error_class: type[EchoicError], expected: Failure
) -> None:
    error = http_error(status, "provider said no", retry_after_s)

    assert type(error) is error_class  # exactly: a subclass would be classified differently
    assert isinstance(error, ProviderError)
    assert error.status == status
    assert error.message == f"the remote provider answered {status}: provider said no"
    assert classify(error) == expected


@pytest.mark.parametrize("status", [401, 403, 400, 422])
def test_retry_after_is_dropped_where_it_cannot_matter(status: int) -> None:
    """Auth and rejected requests are not retried, so a Retry-After must not reach the router."""
    error = http_error(status, "no", 12.0)

    assert isinstance(error, ProviderError)
    assert error.retry_after_s is None
    assert classify(error).retry_after_s is None


NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),  # a negative delay means now
        # HTTP dates, against the injected clock.
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 08:28:00 GMT", 3600.0),
        ("Wed, 21 Oct 2015 07:28:30 -0000", 30.0),  # no zone information: read as UTC
        ("Wed, 21 Oct 2015 09:28:30 +0200", 30.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past: now
        ("Tue, 20 Oct 2015 07:28:00 GMT", 0.0),
        # Garbage is no Retry-After at all.
        ("soon", None),
        ("12 seconds", None),
        ("Wed, 32 Oct 2015 07:28:30 GMT", None),
        ("nan", None),
        ("inf", None),
        ("1e400", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_reads_the_real_clock_by_default() -> None:
    in_an_hour = datetime.now(UTC).timestamp() + 3600
    header = datetime.fromtimestamp(in_an_hour, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")

    seconds = parse_retry_after(header)

    assert seconds is not None
    assert 3590 <= seconds <= 3600
