"""Several ``echoic serve`` processes behind one load balancer count as one server: a key's rate
limit and its live-stream cap are kept in one real Redis (``ECHOIC_RATE_LIMIT_STORAGE``)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path

import pytest

from echoic.clock import ManualClock
from echoic.errors import ConfigurationError, RateLimitedError
from echoic.server.auth import Principal
from echoic.server.counters import PROBE_INTERVAL_S
from echoic.server.limits import RateLimiter
from echoic.server.slots import StreamSlots
from tests.process_kit import free_port
from tests.redis_kit import RedisServer, redis_client, redis_server

ALICE = Principal(key_id="ek_aaaaaaaa")
BOB = Principal(key_id="ek_bbbbbbbb")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as running:
        yield running


@pytest.fixture
def redis_uri(server: RedisServer) -> str:
    return server.uri


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- rate limits -------------------------------------------------------------------------------


def test_two_servers_share_one_key_s_rate_budget(redis_uri: str) -> None:
    with (
        closing(RateLimiter("3/minute", redis_uri)) as a,
        closing(RateLimiter("3/minute", redis_uri)) as b,
    ):
        a.hit("ek_alice")
        a.hit("ek_alice")
        b.hit("ek_alice")
        for limiter in (a, b):
            with pytest.raises(RateLimitedError, match="3 requests per minute") as refused:
                limiter.hit("ek_alice")
            assert refused.value.retry_after_s is not None
            assert 1 <= refused.value.retry_after_s <= 60
        b.hit("ek_bob")  # each key has its own budget
        assert a.store_failures == b.store_failures == 0


def test_in_memory_each_server_counts_alone() -> None:
    a, b = RateLimiter("1/minute"), RateLimiter("1/minute", "memory://")
    a.hit("ek_alice")
    with pytest.raises(RateLimitedError):
        a.hit("ek_alice")
    b.hit("ek_alice")


def test_when_redis_goes_away_requests_pass_uncounted_until_it_is_back(
    server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    with closing(RateLimiter("1/minute", server.uri, clock=clock)) as limiter:
        limiter.hit("ek_alice")
        with pytest.raises(RateLimitedError):
            limiter.hit("ek_alice")
        server.stop()
        with caplog.at_level(logging.INFO, logger="echoic.server.counters"):
            limiter.hit("ek_alice")  # asks Redis, fails: admitted
            limiter.hit("ek_alice")  # does not ask again so soon: admitted at once
            assert limiter.store_failures == 2
            port = int(server.uri.rsplit(":", 1)[1])
            with redis_server(tmp_path, port=port):  # back, empty
                limiter.hit("ek_alice")  # not asked yet
                assert limiter.store_failures == 3
                clock.advance(PROBE_INTERVAL_S)
                limiter.hit("ek_alice")  # asked again: counted
                with pytest.raises(RateLimitedError):
                    limiter.hit("ek_alice")
        assert limiter.store_failures == 3
    [warning] = warnings_from(caplog)  # one per outage, not one per request
    assert "rate limiter" in warning
    assert "admitting uncounted" in warning
    assert server.uri in warning
    assert any("answers again" in r.getMessage() for r in caplog.records)


# -- stream slots ------------------------------------------------------------------------------


def test_two_servers_share_one_key_s_stream_cap(redis_uri: str) -> None:
    with closing(StreamSlots(2, redis_uri)) as a, closing(StreamSlots(2, redis_uri)) as b:
        with a.acquire(ALICE):
            with a.acquire(ALICE):
                with (
                    pytest.raises(RateLimitedError, match="2 at once") as refused,
                    b.acquire(ALICE),
                ):
                    pass
                assert refused.value.ws_close_code == 4429
                assert b.open_streams(ALICE) == 2
                with b.acquire(BOB):
                    assert a.open_streams(BOB) == 1
            with b.acquire(ALICE):  # A gave one back: B may take it
                assert a.open_streams(ALICE) == 2
        assert a.open_streams(ALICE) == b.open_streams(ALICE) == 0
    with redis_client(redis_uri) as client:
        assert client.keys("*") == []  # nothing left behind


def test_anonymous_callers_share_one_cap_across_servers(redis_uri: str) -> None:
    with (
        closing(StreamSlots(1, redis_uri)) as a,
        closing(StreamSlots(1, redis_uri)) as b,
        a.acquire(None),
        pytest.raises(RateLimitedError, match="1 at once"),
        b.acquire(None),
    ):
        pass


def test_in_memory_slots_need_no_redis() -> None:
    a, b = StreamSlots(1, "memory://"), StreamSlots(1)
    with a.acquire(ALICE):
        with pytest.raises(RateLimitedError), a.acquire(ALICE):
            pass
        with b.acquire(ALICE):  # another process's count
            assert a.open_streams(ALICE) == b.open_streams(ALICE) == 1
    assert a.open_streams(ALICE) == 0


def test_closing_a_server_gives_its_slots_back_at_once(redis_uri: str) -> None:
    with closing(StreamSlots(1, redis_uri)) as survivor:
        leaving = StreamSlots(1, redis_uri)
        with ExitStack() as streams:
            streams.enter_context(leaving.acquire(ALICE))
            assert survivor.open_streams(ALICE) == 1
            leaving.close()  # shutdown with a stream still open
            assert survivor.open_streams(ALICE) == 0
        # the stream ended after close(), quietly
        assert leaving.store_failures == 0
        with survivor.acquire(ALICE):
            pass


HOLDER = """
import sys, time
from echoic.server.auth import Principal
from echoic.server.slots import StreamSlots

slots = StreamSlots(2, sys.argv[1], ttl_s=float(sys.argv[2]))
with slots.acquire(Principal(key_id="ek_aaaaaaaa")), slots.acquire(Principal(key_id="ek_aaaaaaaa")):
    print("held", flush=True)
    time.sleep(300)
"""


def took_two(slots: StreamSlots) -> bool:
    """Whether ``slots`` could take two more of Alice's streams at once (and gave them back)."""
    try:
        with slots.acquire(ALICE), slots.acquire(ALICE):
            return True
    except RateLimitedError:
        return False


def test_a_crashed_server_s_slots_free_themselves_after_the_ttl(redis_uri: str) -> None:
    ttl_s = 1.0
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_uri, str(ttl_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n", holder.stderr
        with closing(StreamSlots(3, redis_uri, ttl_s=ttl_s)) as survivor, survivor.acquire(ALICE):
            # The survivor's own open stream keeps Alice's key alive: the dead holder's slots
            # must expire one by one, not with the key.
            time.sleep(2 * ttl_s)  # alive, the holder renews its slots past their first expiry
            assert not took_two(survivor)
            holder.send_signal(signal.SIGKILL)  # no release, no close: a crash
            holder.wait()
            killed_at = time.monotonic()
            assert survivor.open_streams(ALICE) == 3
            while not took_two(survivor):
                assert time.monotonic() - killed_at < 5 * ttl_s, "the dead holder's slots stayed"
                time.sleep(0.05)
            assert time.monotonic() - killed_at <= ttl_s + 0.5
            assert survivor.open_streams(ALICE) == 1
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        for pipe in (holder.stdout, holder.stderr):
            if pipe is not None:
                pipe.close()


def test_when_redis_goes_away_streams_open_uncounted(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    with closing(StreamSlots(1, server.uri, clock=ManualClock())) as slots:
        counters_log = caplog.at_level(logging.WARNING, logger="echoic.server.counters")
        with counters_log, slots.acquire(ALICE):
            server.stop()
            with slots.acquire(ALICE), slots.acquire(ALICE):  # over the cap: admitted
                pass
        assert slots.store_failures >= 3
        assert slots.open_streams(ALICE) == 0  # this process's own count
    [warning] = warnings_from(caplog)
    assert "stream slots" in warning


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("uri", ["nosuch://127.0.0.1", "redis://127.0.0.1:notaport"])
def test_a_bad_storage_uri_refuses_to_start(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid rate limit storage"):
        RateLimiter("3/minute", uri)
    with pytest.raises(ConfigurationError, match="invalid stream slot storage"):
        StreamSlots(2, uri)


def test_an_async_storage_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError, match="async"):
        RateLimiter("3/minute", "async+memory://")


def test_an_unreachable_redis_refuses_to_start() -> None:
    uri = f"redis://:hunter2@127.0.0.1:{free_port()}"  # nothing listens there
    for build in (lambda: RateLimiter("3/minute", uri), lambda: StreamSlots(2, uri)):
        with pytest.raises(ConfigurationError, match="does not answer") as refused:
            build()
        assert "hunter2" not in refused.value.message
        assert "127.0.0.1" in refused.value.message


def test_a_slot_ttl_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="ttl_s"):
        StreamSlots(2, ttl_s=0)
