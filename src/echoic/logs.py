"""Structured logs: one JSON object per line (DESIGN.md §7).

Every record carries ``time``, ``level``, ``logger`` and ``message``, then whatever the caller
passed in ``extra=`` (``session_id``, ``utterance_id``, ``model``, …) and the id of the HTTP
request being served, which the server's request-id middleware puts in :data:`request_id`. A
traceback goes in ``exc_info`` as one string, so a line is always one record.

    log.info("model loaded", extra={"model": "tiny.en", "load_s": 0.8})
    {"time": "2025-01-01T12:00:00.123Z", "level": "info", "logger": "echoic.engines...",
     "message": "model loaded", "request_id": null, "model": "tiny.en", "load_s": 0.8}
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

#: The id of the request (HTTP or WebSocket) the current task serves; set by the server.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "echoic_request_id", default=None
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    [*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime", "taskName"]
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON; values JSON cannot hold are written with ``str``."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            body["request_id"] = current
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            body["exc_info"] = record.exc_text
        if record.stack_info:
            body["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(body, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal: the message, then the extra fields as ``k=v``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        current = request_id.get()
        if current is not None:
            extras.setdefault("request_id", current)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def configure_logging(
    level: str = "info", fmt: Literal["json", "text"] = "json", stream: Any = None
) -> None:
    """Send every logger's records (echoic's, uvicorn's, libraries') to one handler on stderr.

    Replaces the root logger's handlers, and uvicorn's own, so that each record is written once,
    in one format.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
