"""What runs around every request, before the body is read.

:class:`RequestIdMiddleware` gives each request an id (the client's ``X-Request-ID`` when it is
sane, otherwise a new one), puts it in every log line written while serving it, echoes it in the
response and writes one access-log line.

:class:`ApiGuard` stands in front of the API routes (``/v1/…``, ``/api/v1/…``): it authenticates,
applies the rate limit and the upload size limit *before* any of the body is read, so a caller
without a key, or over the limit, costs the server no upload, and counts every answer in
``echoic_stt_requests_total`` and ``echoic_stt_latency_seconds``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echoic import logs
from echoic.errors import AudioTooLargeError, EchoicError
from echoic.server.auth import principal_from_headers
from echoic.server.error_handlers import error_response
from echoic.server.state import RequestInfo, ServerState

log = logging.getLogger("echoic.server.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
API_PREFIXES = ("/v1/", "/api/v1/")
UPLOAD_ENDPOINTS = ("transcriptions", "translations", "jobs")
#: A multipart body carries the form fields and boundaries besides the file.
MULTIPART_SLACK_BYTES = 64 * 1024


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = logs.request_id.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                info = scope.get("echoic")  # what the API guard and the handler learned
                log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        "client": (scope.get("client") or ("", 0))[0],
                        **(
                            {"model": info.model, "source": info.source}
                            if isinstance(info, RequestInfo) and info.model
                            else {}
                        ),
                    },
                )
            logs.request_id.reset(token)


def endpoint_of(path: str) -> str | None:
    """``transcriptions`` for ``/v1/audio/transcriptions``; ``None`` outside the API."""
    for prefix in API_PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix) :].strip("/")
            if rest.startswith("audio/"):
                return rest.removeprefix("audio/").split("/", 1)[0] or "audio"
            return rest.split("/", 1)[0] or "api"
    return None


class ApiGuard:
    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = endpoint_of(scope.get("path", "")) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        info = RequestInfo(endpoint=endpoint)
        scope["echoic"] = info
        started = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = self._admit(scope, info)
            if refusal is not None:
                await error_response(refusal, self.state.metrics)(scope, receive, send_counted)
                return
            if endpoint in UPLOAD_ENDPOINTS:
                receive = self._limited(receive)
            await self.app(scope, receive, send_counted)
        finally:
            self._count(info, status, time.perf_counter() - started)

    def _admit(self, scope: Scope, info: RequestInfo) -> EchoicError | None:
        headers = Headers(scope=scope)
        try:
            info.principal = principal_from_headers(self.state, headers)
            client = (scope.get("client") or ("unknown", 0))[0]
            key = info.principal.key_id if info.principal else f"ip:{client}"
            self.state.limiter.hit(key)
        except EchoicError as exc:
            return exc
        if info.endpoint in UPLOAD_ENDPOINTS:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._body_limit:
                return self._too_large()
        return None

    @property
    def _body_limit(self) -> int:
        return self.state.settings.max_upload_bytes + MULTIPART_SLACK_BYTES

    def _too_large(self) -> AudioTooLargeError:
        limit_mb = self.state.settings.max_upload_bytes / 1_000_000
        return AudioTooLargeError(f"The upload is larger than the {limit_mb:g} MB limit.")

    def _limited(self, receive: Receive) -> Receive:
        """``receive`` that stops a body without a (truthful) Content-Length at the limit."""
        received = 0
        limit = self._body_limit

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._too_large()
            return message

        return receive_limited

    def _count(self, info: RequestInfo, status: int, seconds: float) -> None:
        metrics = self.state.metrics
        metrics.requests.labels(info.endpoint, info.source, str(status)).inc()
        if status < 400 and info.endpoint in UPLOAD_ENDPOINTS and info.model is not None:
            metrics.latency.labels(info.endpoint, info.model, info.source).observe(seconds)
