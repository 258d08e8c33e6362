"""The store that rate limits and stream caps count in, named by a storage URI in the ``limits``
notation (``ECHOIC_RATE_LIMIT_STORAGE``): ``memory://`` counts in this process only;
``redis://host:6379`` makes several ``echoic serve`` processes behind one load balancer count as
one server. The store is asked once at construction, so a bad URI or an unreachable store
refuses to start (:class:`ConfigurationError`); when it goes away later, counting fails open
(:class:`StoreHealth`): a Redis outage must not become an outage of transcription, and the
per-process model gates still bound the load.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit, urlunsplit

from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.errors import StorageError
from limits.storage import RedisStorage, Storage, storage_from_string
from redis.backoff import NoBackoff
from redis.retry import Retry

from echoic.clock import Clock
from echoic.errors import ConfigurationError

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

#: How long one call to a shared store may take before it counts as down (a script on a healthy
#: Redis takes well under a millisecond). Without a timeout a black-holed Redis would hang every
#: request instead of letting it through (fail open).
STORE_TIMEOUT_S = 0.5
#: How often a store that failed is tried again; meanwhile requests pass uncounted at once.
PROBE_INTERVAL_S = 5.0


class StoreHealth:
    """Failures of the shared store at request time: each one counted, one warning per outage.

    Both limiters fail *open*: when the store cannot be asked, the request or stream is admitted
    uncounted. The limits protect the service from a few greedy callers; answering every caller
    503 because the counting store is down would turn a Redis outage into an outage of
    transcription, which needs no Redis. The per-process :class:`ModelGates` still bound the
    load meanwhile. ``failures`` is the counter to export and alert on.

    While the store is down it is asked again only every :data:`PROBE_INTERVAL_S`: the calls are
    synchronous, so an unreachable host would otherwise hold the event loop for
    :data:`STORE_TIMEOUT_S` on every request.
    """

    def __init__(self, what: str, uri: str, clock: Clock) -> None:
        self.what = what
        self.uri = redacted(uri)
        self.failures = 0
        self._clock = clock
        self._down = False
        self._asked_at = 0.0
        self._lock = threading.Lock()  # the stream-slot heartbeat reports from its own thread

    def should_ask(self) -> bool:
        """Whether to ask the store now; ``False`` (counted as a failure) while it is down and
        was asked less than :data:`PROBE_INTERVAL_S` ago."""
        with self._lock:
            now = self._clock.now()
            if not self._down or now - self._asked_at >= PROBE_INTERVAL_S:
                self._asked_at = now
                return True
            self.failures += 1
            return False

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            first, self._down = not self._down, True
        if first:
            log.warning(
                "%s: the store %s failed (%s); admitting uncounted until it answers again",
                self.what,
                self.uri,
                exc,
            )

    def ok(self) -> None:
        with self._lock:
            was_down, self._down = self._down, False
        if was_down:
            log.info("%s: the store %s answers again", self.what, self.uri)


def open_limits_store(uri: str, what: str) -> Storage:
    """The ``limits`` storage for ``uri``, checked to answer; :class:`ConfigurationError` if not.

    Storage errors come back wrapped in ``limits``' :class:`StorageError` whatever the backend,
    so callers catch one exception type.
    """
    scheme = urlsplit(uri).scheme
    if scheme.startswith("async+"):
        raise ConfigurationError(
            f"{what} storage {redacted(uri)!r}: echoic counts synchronously; "
            f"drop the 'async+' prefix"
        )
    options: dict[str, float | str | bool] = {"wrap_exceptions": True}
    if scheme in (RedisStorage.STORAGE_SCHEME or []):
        options |= {"socket_connect_timeout": STORE_TIMEOUT_S, "socket_timeout": STORE_TIMEOUT_S}
    try:
        # Not an async storage: those schemes were refused above.
        storage = cast(Storage, storage_from_string(uri, **options))
    except (LimitsConfigurationError, ValueError) as exc:
        raise ConfigurationError(f"invalid {what} storage {redacted(uri)!r}: {exc}") from exc
    if isinstance(storage, RedisStorage):
        # redis-py retries ten times with backoff by default: seconds per call on a dead host.
        # One immediate retry is enough to replace a pooled connection that a restart closed.
        cast("redis.Redis", storage.get_connection()).set_retry(Retry(NoBackoff(), retries=1))
    try:
        healthy = storage.check()
    except StorageError:
        healthy = False
    if not healthy:
        close_limits_store(storage)
        raise ConfigurationError(
            f"{what} storage {redacted(uri)} does not answer; start it, fix "
            f"ECHOIC_RATE_LIMIT_STORAGE, or set it to memory:// to count per process"
        )
    return storage


def close_limits_store(storage: Storage) -> None:
    """Close the store's connections now, not whenever they are garbage collected (``limits``
    storages have no ``close``)."""
    if isinstance(storage, RedisStorage):
        cast("redis.Redis", storage.get_connection()).close()


def redacted(uri: str) -> str:
    """``uri`` fit for a log line or an error message: its password replaced by ``***``."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
