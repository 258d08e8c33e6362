"""The one place where errors become HTTP responses, in OpenAI's shape.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "file",
               "code": "not_audio"}}

- an :class:`~echoic.errors.EchoicError` answers with its class's status and code;
- FastAPI's request validation errors (a field of the wrong type, out of range, missing) are
  400s naming the field in ``param``; OpenAI answers 400 where FastAPI would say 422;
- Starlette's HTTP errors (404 unknown path, 405 wrong method) keep their status;
- anything else is a bug: 500 with a generic message, the traceback goes to the log.

Every error response is counted in ``echoic_stt_errors_total{code}``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from echoic.errors import (
    AudioError,
    EchoicError,
    EngineOverloadedError,
    InvalidParameterError,
    ModelNotFoundError,
    UnauthorizedError,
)
from echoic.server.metrics import Metrics

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "file_too_large",
    415: "unsupported_media_type",
    429: "rate_limit_exceeded",
}


def error_body(
    message: str, *, type: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def echoic_error_body(exc: EchoicError) -> dict[str, Any]:
    return error_body(exc.message, type=exc.error_type, code=exc.code, param=_param(exc))


def _param(exc: EchoicError) -> str | None:
    if isinstance(exc, InvalidParameterError):
        return exc.param
    if isinstance(exc, ModelNotFoundError):
        return "model"
    if isinstance(exc, AudioError):
        return "file"
    return None


def error_response(exc: EchoicError, metrics: Metrics | None = None) -> JSONResponse:
    """The response for ``exc``, with ``Retry-After`` and ``WWW-Authenticate`` where they
    belong; counted in ``metrics`` when given."""
    if metrics is not None:
        metrics.error(exc.code)
    headers: dict[str, str] = {}
    retry_after_s = getattr(exc, "retry_after_s", None)
    if isinstance(retry_after_s, int | float) and exc.retryable:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    elif isinstance(exc, EngineOverloadedError):
        headers["Retry-After"] = "1"
    elif isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(echoic_error_body(exc), status_code=exc.http_status, headers=headers)


def install(app: FastAPI, metrics: Metrics) -> None:
    async def on_echoic_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, EchoicError)
        if exc.http_status >= 500:
            log.warning("request failed", extra={"code": exc.code, "error": exc.message})
        return error_response(exc, metrics)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(_validation_error(exc), metrics)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        cause = exc.__cause__
        if isinstance(cause, EchoicError):  # raised while FastAPI parsed the body (size limit)
            return error_response(cause, metrics)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        metrics.error(code)
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"Unknown path: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return JSONResponse(
            error_body(message, type=kind, code=code),
            status_code=exc.status_code,
            headers=dict(exc.headers or {}),
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled error",
            exc_info=exc,
            extra={"method": request.method, "path": request.url.path},
        )
        metrics.error("internal_error")
        return JSONResponse(
            error_body(
                "The server had an error while processing your request.",
                type="server_error",
                code="internal_error",
            ),
            status_code=500,
        )

    app.add_exception_handler(EchoicError, on_echoic_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _validation_error(exc: RequestValidationError) -> InvalidParameterError:
    """The first problem FastAPI found, as a 400 naming the field."""
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    param = loc[0] if loc else "body"
    detail = str(first.get("msg", "invalid value"))
    if first.get("type") == "missing":
        message = f"Missing required parameter: {param!r}."
    else:
        value = first.get("input")
        shown = "" if value is None or isinstance(value, dict | list) else f" (got {value!r:.80})"
        message = f"Invalid value for {param!r}: {detail}{shown}."
    return InvalidParameterError(message, param=param)
