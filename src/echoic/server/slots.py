"""Live streams one API key may hold open at once (all anonymous callers share one count); over
the cap → :class:`RateLimitedError` (WebSocket close 4429). Counted in this process, or in a
shared Redis so several servers count as one (:mod:`echoic.server.counters`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import urlsplit

from limits.storage import RedisStorage

from echoic.clock import Clock, SystemClock
from echoic.errors import ConfigurationError, RateLimitedError
from echoic.server.auth import Principal
from echoic.server.counters import (
    STORE_TIMEOUT_S,
    StoreHealth,
    close_limits_store,
    open_limits_store,
    redacted,
)

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"


class _SlotStore(Protocol):
    def take(self, key: str, limit: int) -> str | None:
        """A slot id, or ``None`` when ``key`` already holds ``limit`` slots."""

    def give_back(self, key: str, slot: str) -> None: ...

    def count(self, key: str) -> int: ...

    def close(self) -> None: ...


class StreamSlots:
    """Open live streams per API key. All anonymous callers (auth off) share one count.

    ``memory://`` counts in this process. A Redis URI shares the count between processes
    (:class:`SharedSlots`); a slot whose process died is free again within ``ttl_s``, and
    when Redis fails, streams are admitted uncounted (see :class:`StoreHealth`).
    """

    def __init__(
        self,
        per_key: int,
        storage_uri: str = "memory://",
        *,
        ttl_s: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        """``ttl_s``: how long the slots of a process that died stay taken (a live process
        renews its slots every ``ttl_s / 3``). ``clock`` paces the probes of a failed store."""
        if ttl_s <= 0:
            raise ConfigurationError(f"stream slot ttl_s must be positive, not {ttl_s}")
        self.per_key = per_key
        self._health = StoreHealth("stream slots", storage_uri, clock or SystemClock())
        self._slots: _SlotStore
        if urlsplit(storage_uri).scheme == "memory":
            self._slots = LocalSlots()
            return
        storage = open_limits_store(storage_uri, "stream slot")
        if not isinstance(storage, RedisStorage):
            close_limits_store(storage)
            raise ConfigurationError(
                f"stream slot storage {redacted(storage_uri)!r}: a shared stream cap needs "
                f"Redis (sorted sets and scripts); use memory:// or redis://"
            )
        self._slots = SharedSlots(storage, ttl_s, self._health)

    @contextlib.contextmanager
    def acquire(self, principal: Principal | None) -> Iterator[Principal | None]:
        """Hold a stream slot while the ``with`` block runs; raises :class:`RateLimitedError`
        when the key already holds ``per_key`` streams."""
        key = principal.key_id if principal is not None else ANONYMOUS
        slot = self._slots.take(key, self.per_key)
        if slot is None:
            raise RateLimitedError(
                f"Too many concurrent streams: this key may hold {self.per_key} at once.",
                retry_after_s=1,
            )
        try:
            yield principal
        finally:
            self._slots.give_back(key, slot)

    def open_streams(self, principal: Principal | None) -> int:
        return self._slots.count(principal.key_id if principal is not None else ANONYMOUS)

    @property
    def store_failures(self) -> int:
        """Calls to the shared store that failed or were skipped while it was down (streams
        admitted uncounted among them)."""
        return self._health.failures

    def close(self) -> None:
        """Give back this process's slots now rather than after ``ttl_s``; stop the heartbeat."""
        self._slots.close()


class LocalSlots:
    """Slots counted in this process (``memory://``): they die with it, so need no expiry."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def take(self, key: str, limit: int) -> str | None:
        if self._open[key] >= limit:
            return None
        self._open[key] += 1
        return key

    def give_back(self, key: str, slot: str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def count(self, key: str) -> int:
        return self._open[key]

    def close(self) -> None:
        self._open.clear()


# Times are Redis's own (TIME, in ms): processes on several machines then agree on when a slot
# expires without trusting each other's clocks. ZREMRANGEBYSCORE drops the slots of dead processes.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# KEYS[1] the key's slots; ARGV: ttl_ms, limit, slot id. 1 if taken, 0 if the key is full.
_TAKE = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
)
# KEYS[1]; ARGV: ttl_ms, slot ids. XX: a slot given back (or expired) meanwhile stays gone.
_REFRESH = (
    _NOW_MS
    + """
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
"""
)
_COUNT = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
)


class SharedSlots:
    """Slots in Redis, one sorted set per key: member a slot id, score the slot's expiry.

    ``limits`` has counters (``incr`` with an expiry; ``decr`` only in memory) and windows, but
    no concurrency primitive: a counter cannot tell which increments belong to a process that
    died, so a crash would hold its slots until the key's whole count expired, which live
    holders keep postponing. Each slot here carries its own expiry instead, which a heartbeat
    thread of the holding process pushes forward every ``ttl_s / 3`` while the slot is held;
    taking a slot first drops the expired ones, all in one server-side script, so two
    processes cannot both take the last slot. The Redis client is the one the ``limits``
    storage opened on the same URI (its scripts and sorted sets are beyond ``limits``' API).

    A slot that expired while its stream still ran (Redis down or the process stalled for
    ``ttl_s``) is not brought back: that stream runs uncounted, as in any other store failure.
    """

    def __init__(self, storage: RedisStorage, ttl_s: float, health: StoreHealth) -> None:
        self._client = cast("redis.Redis", storage.get_connection())
        self._errors = storage.base_exceptions
        self._prefix = storage.prefixed_key("echoic/streams/")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._health = health
        self._take = self._client.register_script(_TAKE)
        self._refresh = self._client.register_script(_REFRESH)
        self._count = self._client.register_script(_COUNT)
        self._held: dict[str, set[str]] = {}
        self._lock = threading.Lock()  # _held is read by the heartbeat thread
        self._stop = threading.Event()
        self._closed = False
        self._heartbeat = threading.Thread(
            target=self._beat, args=(ttl_s / 3,), name="echoic:stream-slots-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def take(self, key: str, limit: int) -> str | None:
        if not self._health.should_ask():
            return ""  # admitted uncounted: nothing to give back
        slot = uuid.uuid4().hex
        try:
            taken = self._take(keys=[self._prefix + key], args=[self._ttl_ms, limit, slot])
        except self._errors as exc:
            self._health.failed(exc)
            return ""  # admitted uncounted: nothing to give back
        self._health.ok()
        if not taken:
            return None
        with self._lock:
            self._held.setdefault(key, set()).add(slot)
        return slot

    def give_back(self, key: str, slot: str) -> None:
        if not slot:
            return
        with self._lock:
            held = self._held.get(key, set())
            held.discard(slot)
            if not held:
                self._held.pop(key, None)
            if self._closed:
                return  # close() already gave it back
        if not self._health.should_ask():
            return  # it expires within ttl_s
        try:
            self._client.zrem(self._prefix + key, slot)
        except self._errors as exc:
            self._health.failed(exc)  # it expires within ttl_s

    def count(self, key: str) -> int:
        """Slots ``key`` holds across all processes (this one's alone if Redis fails)."""
        if self._health.should_ask():
            try:
                return int(self._count(keys=[self._prefix + key]))
            except self._errors as exc:
                self._health.failed(exc)
        with self._lock:
            return len(self._held.get(key, ()))

    def close(self) -> None:
        self._stop.set()
        self._heartbeat.join(timeout=STORE_TIMEOUT_S * 2)
        with self._lock:
            self._closed = True
            held, self._held = self._held, {}
        try:
            for key, slots in held.items():
                self._client.zrem(self._prefix + key, *slots)
        except self._errors as exc:
            self._health.failed(exc)
        finally:
            self._client.close()

    def _beat(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            with self._lock:
                held = [(key, sorted(slots)) for key, slots in self._held.items()]
            if not held or not self._health.should_ask():
                continue
            for key, slots in held:
                try:
                    self._refresh(keys=[self._prefix + key], args=[self._ttl_ms, *slots])
                except self._errors as exc:
                    self._health.failed(exc)
                    break
                self._health.ok()
