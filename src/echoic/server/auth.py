"""Who is calling: API keys from ``Authorization: Bearer`` or ``X-API-Key`` (DESIGN.md §5).

Auth is on whenever the server is reachable from other machines. With ``auth = "auto"`` (the
default) it is off only when bound to a loopback address; binding anywhere else with no active
key refuses to start (:func:`auth_required` raises), so a server is never exposed by accident.

The WebSocket handler uses the same two functions as REST: :func:`authenticate_token` for a
token it found (in a header, or in a first ``{"type": "auth"}`` message) and
:func:`principal_from_headers` for a request's headers.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from echoic.errors import ConfigurationError, UnauthorizedError
from echoic.settings import Settings
from echoic.storage.keys import KeyStore
from echoic.storage.records import LOCAL_TENANT

if TYPE_CHECKING:
    from echoic.server.state import ServerState

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Principal:
    """An authenticated caller: the API key's public id (``ek_…``), name, and the tenant
    whose media, jobs and transcripts it sees."""

    key_id: str
    name: str | None = None
    tenant_id: str = LOCAL_TENANT


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to anything


def auth_required(settings: Settings, keys: KeyStore) -> bool:
    """Whether requests need a key; raises :class:`ConfigurationError` when keys are needed
    but none exists (the server would answer nobody, or, worse, everybody)."""
    if settings.auth == "disabled":
        if not is_loopback(settings.host):
            log.warning(
                "API keys are disabled on a non-loopback address; anyone who can reach "
                "the server can use it",
                extra={"host": settings.host},
            )
        return False
    if settings.auth == "auto" and is_loopback(settings.host):
        return False
    if not keys.has_active_keys():
        where = (
            "ECHOIC_AUTH=required"
            if settings.auth == "required"
            else f"binding to {settings.host!r} (not a loopback address)"
        )
        raise ConfigurationError(
            f"{where} requires an API key, and none exists. Create one with "
            "`echoic keys create --name NAME`, or bind to 127.0.0.1 instead. To run without "
            "keys behind an authenticating proxy, set ECHOIC_AUTH=disabled."
        )
    return True


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """The key in ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (header names in
    lower case, as ASGI and Starlette give them)."""
    authorization = headers.get("authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (headers.get("x-api-key") or "").strip() or None


def authenticate_token(state: ServerState, token: str | None) -> Principal | None:
    """The caller a token identifies; ``None`` when auth is off (anyone may call).

    Raises :class:`UnauthorizedError` (401, WebSocket close 4401) for a missing, unknown or
    revoked key.
    """
    if not state.auth_required:
        return None
    if not token:
        raise UnauthorizedError(
            "No API key provided. Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
        )
    key = state.keys.verify(token)
    if key is None:
        raise UnauthorizedError("Incorrect API key provided, or the key has been revoked.")
    return Principal(key_id=key.id, name=key.name, tenant_id=key.tenant_id)


def principal_from_headers(state: ServerState, headers: Mapping[str, str]) -> Principal | None:
    """:func:`authenticate_token` for the key in a request's headers."""
    return authenticate_token(state, token_from_headers(headers))


def tenant_of(principal: Principal | None) -> str:
    """The tenant a caller acts for: its key's, or the local one when auth is off."""
    return principal.tenant_id if principal is not None else LOCAL_TENANT


def actor_of(principal: Principal | None) -> str:
    """Who did it, for the audit trail: the key's id, or ``local``."""
    return principal.key_id if principal is not None else "local"
