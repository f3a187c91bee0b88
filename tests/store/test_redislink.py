"""The link to Redis: its URLs, its wire format, and its failures (fast, one line, then back)."""

from __future__ import annotations

import logging
import time

import pytest

from hubroute.store.redislink import Address, RedisLink, RedisUnavailable, Script, encode, redacted
from tests.conftest import SharedRedis
from tests.ports import free_port, listening_socket


def test_urls() -> None:
    a = Address.parse("redis://:s3cret@cache.internal:6380/2")
    assert (a.host, a.port, a.db, a.password, a.username, a.tls) == ("cache.internal", 6380, 2, "s3cret", None, False)
    assert Address.parse("rediss://app:pw@h").tls and Address.parse("rediss://app:pw@h").username == "app"
    unix = Address.parse("unix:///run/redis.sock?db=3")
    assert (unix.path, unix.db, unix.host) == ("/run/redis.sock", 3, None)
    assert Address.parse("redis://127.0.0.1").db == 0
    for bad in ("http://127.0.0.1:6379", "redis://h/notanumber"):
        with pytest.raises(ValueError, match="Redis URL"):
            Address.parse(bad)
    assert redacted("redis://:s3cret@h:6380/2") == "redis://:***@h:6380/2"
    assert "s3cret" not in redacted("redis://user:s3cret@h/0")


def test_wire_format() -> None:
    assert encode(("SET", "k", 12, b"\x00v")) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$2\r\n\x00v\r\n"
    s = Script("one", "return 1")
    assert s.command(["k"], [5]) == encode(("EVALSHA", s.sha, 1, "k", 5))


async def test_unreachable_fails_fast_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    with caplog.at_level(logging.ERROR, logger="hubroute.redis"):
        for _ in range(20):
            started = time.monotonic()
            with pytest.raises(RedisUnavailable, match="Redis cannot be reached"):
                await link.call("PING")
            assert time.monotonic() - started < 0.5
    assert not link.up and link.failures >= 20
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    await link.close()


async def test_scripts_and_pipelined_commands(redis: SharedRedis) -> None:
    import asyncio

    link = RedisLink(redis.url)
    incr = Script("incr", "return redis.call('INCRBY', KEYS[1], ARGV[1])")
    link.register(incr)
    key = f"{redis.prefix}n"
    assert await asyncio.gather(*(link.run(incr, [key], [1]) for _ in range(50))) == list(range(1, 51))
    assert link.send(incr, [key], [10])
    assert await link.call("GET", key) == b"60"  # (after the one sent before it: answers come in order)
    await link.close()


async def test_a_command_unanswered_fails_its_connection_in_time() -> None:
    """A Redis that accepts commands and answers none: every command waiting fails after the
    link's timeout, with one message saying so, and none hangs."""
    import asyncio

    received: list[bytes] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.append(data)

    server = await asyncio.start_server(silent, sock=listening_socket())
    port = server.sockets[0].getsockname()[1]
    link = RedisLink(f"redis://127.0.0.1:{port}/0", timeout=0.3)
    try:
        started = time.monotonic()
        first = asyncio.ensure_future(link.call("PING"))
        await asyncio.sleep(0.1)  # a second command, sent later, fails with the first: they share the connection
        outcomes = await asyncio.gather(first, link.call("GET", "k"), return_exceptions=True)
        took = time.monotonic() - started
        assert all(isinstance(o, RedisUnavailable) and "no answer from Redis within 0.3s" in str(o) for o in outcomes)
        assert 0.3 <= took < 1.0
        assert b"PING" in b"".join(received)
    finally:
        await link.close()
        server.close()

