"""One error tree for all of echoic.

Every error knows how it reaches a client: its stable ``code``, the HTTP status, the WebSocket
close code, and whether retrying the same request may succeed. Third-party exceptions are
translated into this tree at the boundary where they occur (``raise AudioDecodeError(...) from
exc``) and nowhere else.

    EchoicError
    ├── InvalidRequestError          400  invalid_request
    │   ├── AudioError               400  invalid_audio
    │   │   ├── EmptyAudioError      400  empty_audio
    │   │   ├── NotAudioError        415  not_audio
    │   │   ├── UnsupportedAudioError 415 unsupported_audio
    │   │   ├── CorruptAudioError    400  corrupt_audio        (truncated or damaged)
    │   │   ├── AudioTooLongError    413  audio_too_long
    │   │   └── AudioTooLargeError   413  file_too_large
    │   ├── InvalidParameterError    400  invalid_value        (one request field; names it)
    │   │   ├── UrlNotAllowedError   400  url_not_allowed      (a private/loopback address)
    │   │   └── UnsupportedUrlError  400  unsupported_url      (no media there)
    │   ├── ModelNotFoundError       404  model_not_found      (a name echoic does not know)
    │   ├── NotFoundError            404  not_found            (no such job/transcript/media
    │   │                                                       for this tenant)
    │   └── ConflictError            409  conflict             (not in a state that allows it)
    │       ├── LeaseLostError       409  lease_lost           (a worker's lease expired or
    │       │   │                                               moved to another worker)
    │       │   └── JobCancelledError 409 job_cancelled     (cancelled while it ran)
    │       └── MediaGoneError       410  media_gone           (its audio was deleted)
    ├── UnauthorizedError            401  invalid_api_key      (ws close 4401)
    ├── RateLimitedError             429  rate_limit_exceeded  (ws close 4429, retryable)
    ├── ModelError                   503  model_unavailable
    │   ├── ModelNotInstalledError   503  model_not_installed  (known, but not installed)
    │   ├── ModelCorruptError        503  model_corrupt        (checksum mismatch)
    │   └── ModelInstallError        503  model_install_failed
    ├── MediaFetchError              502  url_fetch_failed     (a URL could not be fetched
    │                                                           now; retryable)
    ├── EngineError                  500  engine_error         (retryable)
    │   ├── EngineTimeoutError       504  engine_timeout       (retryable)
    │   ├── EngineOverloadedError    503  engine_overloaded    (retryable)
    │   ├── ProviderError            502  provider_error       (a remote provider failed; retryable)
    │   │   ├── ProviderRateLimitedError 503 provider_rate_limited (retryable, Retry-After)
    │   │   ├── ProviderAuthError    502  provider_auth_failed (it refused our credentials)
    │   │   └── ProviderRejectedError 502 provider_rejected    (it refused the request: 4xx)
    │   └── ProviderUnavailableError 503  provider_unavailable (every tier failed or is off)
    ├── SupersededError              409  superseded           (a draft replaced by a newer one)
    └── ConfigurationError           500  invalid_configuration (refuses to start, e.g. no keys)
"""

from __future__ import annotations

from typing import ClassVar


class EchoicError(Exception):
    """Base of every error echoic raises on purpose."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    ws_close_code: ClassVar[int] = 1011
    retryable: ClassVar[bool] = False
    #: OpenAI's error ``type`` field for this class of error.
    error_type: ClassVar[str] = "server_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        """The OpenAI-shaped error body: ``{"error": {"code", "message", "type"}}``."""
        return {"error": {"code": self.code, "message": self.message, "type": self.error_type}}


class InvalidRequestError(EchoicError):
    code = "invalid_request"
    http_status = 400
    ws_close_code = 4400
    error_type = "invalid_request_error"


class AudioError(InvalidRequestError):
    code = "invalid_audio"


class EmptyAudioError(AudioError):
    code = "empty_audio"


class NotAudioError(AudioError):
    code = "not_audio"
    http_status = 415


class UnsupportedAudioError(AudioError):
    code = "unsupported_audio"
    http_status = 415


class CorruptAudioError(AudioError):
    code = "corrupt_audio"


class AudioTooLongError(AudioError):
    code = "audio_too_long"
    http_status = 413


class AudioTooLargeError(AudioError):
    code = "file_too_large"
    http_status = 413


class ModelNotFoundError(InvalidRequestError):
    code = "model_not_found"
    http_status = 404


class ModelError(EchoicError):
    code = "model_unavailable"
    http_status = 503
    ws_close_code = 1011


class ModelNotInstalledError(ModelError):
    code = "model_not_installed"


class ModelCorruptError(ModelError):
    code = "model_corrupt"


class ModelInstallError(ModelError):
    code = "model_install_failed"


class EngineError(EchoicError):
    code = "engine_error"
    retryable = True


class EngineTimeoutError(EngineError):
    code = "engine_timeout"
    http_status = 504


class EngineOverloadedError(EngineError):
    code = "engine_overloaded"
    http_status = 503
    ws_close_code = 1013


class SupersededError(EchoicError):
    """A queued draft was replaced by a newer one from the same stream before it ran."""

    code = "superseded"
    http_status = 409


class UnauthorizedError(EchoicError):
    code = "invalid_api_key"
    http_status = 401
    ws_close_code = 4401
    error_type = "invalid_request_error"


class RateLimitedError(EchoicError):
    """Over a request rate or a concurrency cap; ``retry_after_s`` says when to come back."""

    code = "rate_limit_exceeded"
    http_status = 429
    ws_close_code = 4429
    retryable = True
    error_type = "requests"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InvalidParameterError(InvalidRequestError):
    """One request field is wrong; ``param`` names it (OpenAI's error ``param``)."""

    code = "invalid_value"

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.param = param


class ConfigurationError(EchoicError):
    """The settings cannot work, e.g. a public bind address with no API keys: refuse to start."""

    code = "invalid_configuration"


class ProviderError(EngineError):
    """A remote (OpenAI-compatible) provider failed: a 5xx, a network error, a bad body.

    ``status`` is the provider's HTTP status (``None``: no response at all); ``retry_after_s``
    its ``Retry-After``, when it sent one.
    """

    code = "provider_error"
    http_status = 502

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class ProviderRateLimitedError(ProviderError):
    """The provider answered 429: retry after ``retry_after_s``, or use another tier."""

    code = "provider_rate_limited"
    http_status = 503
    ws_close_code = 1013


class ProviderAuthError(ProviderError):
    """The provider refused echoic's credentials (401/403): retrying cannot help."""

    code = "provider_auth_failed"
    retryable = False


class ProviderRejectedError(ProviderError):
    """The provider refused this request (a 4xx other than 401/403/408/429)."""

    code = "provider_rejected"
    retryable = False


class ProviderUnavailableError(EngineError):
    """No tier of the routing chain could transcribe: all failed, are switched off, or have
    their circuit open. ``skips`` lists the tiers tried, in order, with the reasons."""

    code = "provider_unavailable"
    http_status = 503
    ws_close_code = 1013

    def __init__(
        self,
        message: str,
        *,
        skips: tuple[object, ...] = (),
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.skips = skips
        self.retry_after_s = retry_after_s


class UrlNotAllowedError(InvalidParameterError):
    """A media URL that points at a loopback, private or link-local address (server-side
    request forgery), or uses a scheme other than http(s)."""

    code = "url_not_allowed"

    def __init__(self, message: str, *, param: str = "url") -> None:
        super().__init__(message, param=param)


class UnsupportedUrlError(InvalidParameterError):
    """A URL that answered, but with no media echoic can transcribe (an HTML page, …)."""

    code = "unsupported_url"

    def __init__(self, message: str, *, param: str = "url") -> None:
        super().__init__(message, param=param)


class MediaFetchError(EchoicError):
    """A media URL could not be fetched this time (network error, the host's 5xx): worth a
    retry later."""

    code = "url_fetch_failed"
    http_status = 502
    retryable = True


class NotFoundError(InvalidRequestError):
    """No such job, transcript or media *for this tenant*: another tenant's id answers exactly
    as a missing one does."""

    code = "not_found"
    http_status = 404


class ConflictError(InvalidRequestError):
    code = "conflict"
    http_status = 409


class LeaseLostError(ConflictError):
    """A worker reported on a job whose lease it no longer holds (expired, or claimed by
    another worker since): its report is refused, and audited."""

    code = "lease_lost"


class JobCancelledError(LeaseLostError):
    """The job was cancelled while a worker held it: the worker stops at its next chunk."""

    code = "job_cancelled"


class MediaGoneError(ConflictError):
    """The job or transcript's audio was deleted (retention, or a user's delete)."""

    code = "media_gone"
    http_status = 410
