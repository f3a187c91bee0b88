"""The Lua scripts that keep rate limits, credits and budgets in Redis (`store.shared_limits`,
`store.shared_money`), against the real Redis: nothing they write lives forever, a place held by a
long request outlives its set's expiry, and the holds of a router that died are taken back when they
would refuse a request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubroute.server.auth import Principal
from hubroute.store import shared_limits, shared_money
from hubroute.store.redislink import RedisLink
from hubroute.store.shared_limits import SharedLimits
from tests.conftest import SharedRedis

KEY = Principal(key_id="k1", user="u1", scopes=frozenset({"inference"}),
                limits={"rpm": 1000, "tpm": 1_000_000, "concurrency": 10})


@pytest.fixture
async def link(redis: SharedRedis) -> AsyncIterator[RedisLink]:
    link = RedisLink(redis.url, timeout=5)
    link.register(*shared_limits.SCRIPTS, *shared_money.SCRIPTS)
    yield link
    await link.close()


def pot(redis: SharedRedis, name: str) -> list[str]:
    return [f"{redis.prefix}m:c:user:{name}:{part}" for part in "vrhe"]


async def hold(link: RedisLink, keys: list[str], member: str, amount: int, *, lease_ms: int = 10_000,
               renew: bool = False, asking: shared_limits.Asking | None = None) -> Any:
    """A hold of `amount` on the credits pot `keys` (with `asking`: the admission that goes with it)."""
    money = [member, lease_ms, shared_money.KEEP, -1, str(amount), 1 if renew else 0]
    if asking is None:
        return await link.run(shared_money.HOLD, keys, money)
    return await link.run(shared_money.ADMIT_HOLD, [*asking.keys, *keys], [*asking.args, *money])


async def keys_without_expiry(link: RedisLink, prefix: str) -> list[str]:
    found: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, batch = await link.call("SCAN", cursor, "MATCH", f"{prefix}*", "COUNT", 1000)
        found += batch
        if cursor == b"0":
            break
    assert found, "the requests left nothing in Redis to look at"
    return [key.decode() for key in found if await link.call("PTTL", key) < 0]


async def test_every_key_the_scripts_write_expires(redis: SharedRedis, link: RedisLink) -> None:
    """Requests made one after another (each finds the places and holds the last gave back: their
    keys made anew) and side by side, most of them not due to renew an expiry: every key left has one."""
    limits = SharedLimits(link, prefix=redis.prefix)
    credits = pot(redis, "u1")
    await link.call("SET", credits[0], 10**12, "PX", shared_money.KEEP)
    in_progress = []
    for i in range(12):
        asking = limits.prepare(KEY)
        assert asking is not None
        outcome, reply = await hold(link, credits, asking.args[1], 1_000, renew=i == 0, asking=asking)
        assert outcome == 2, reply
        admission = limits.conclude(asking, reply)
        if i in (5, 10, 11):  # still running when the others are done
            in_progress.append(admission)
            continue
        limits.release(admission, 30)
        assert link.send(shared_money.RELEASE, credits, [admission.member, "1000", "-700"])
    assert await link.call("GET", credits[1]) == b"3000"  # the three in progress hold theirs
    assert await keys_without_expiry(link, redis.prefix) == []


async def test_a_long_request_keeps_its_place(redis: SharedRedis, link: RedisLink) -> None:
    """The lease renewal renews the expiry of the concurrency set it renews a place in: a request
    longer than the set's expiry does not lose its place with it."""
    limits = SharedLimits(link, prefix=redis.prefix, lease=0.3)
    limits.start()
    try:
        admission = await limits.admit(KEY)
        assert admission is not None
        places = f"{redis.prefix}l:key:k1:c"
        await link.call("PEXPIRE", places, 200)  # as if its minute were nearly over
        await asyncio.sleep(0.4)  # (renewals every lease / 3)
        assert await link.call("ZSCORE", places, admission.member) is not None
        assert await link.call("PTTL", places) > 60_000
        limits.release(admission, 0)
        await link.call("PING")  # (after the release: answers come in order)
        assert await link.call("EXISTS", places) == 0
    finally:
        await limits.close()


async def test_the_renewals_go_on_after_an_error_they_did_not_foresee(
        redis: SharedRedis, link: RedisLink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An error the lease renewal has no case for (raised by its first renewal, as a bug would) is
    logged, and the renewals go on: the long request keeps its place."""
    limits = SharedLimits(link, prefix=redis.prefix, lease=0.3)
    real, renewals = link.run, []

    async def failing_once(script: Any, keys: Any, args: Any) -> Any:
        if script is shared_limits.RENEW:
            renewals.append(script)
            if len(renewals) == 1:
                raise RuntimeError("not foreseen")
        return await real(script, keys, args)

    monkeypatch.setattr(link, "run", failing_once)
    limits.start()
    try:
        admission = await limits.admit(KEY)
        assert admission is not None
        places = f"{redis.prefix}l:key:k1:c"
        await asyncio.sleep(0.25)  # (the first renewal, at lease / 3, fails)
        await link.call("PEXPIRE", places, 200)
        await asyncio.sleep(0.35)
        assert len(renewals) >= 2 and await link.call("ZSCORE", places, admission.member) is not None
        assert any("could not renew" in r.getMessage() for r in caplog.records)
        limits.release(admission, 0)
    finally:
        await limits.close()


async def test_a_dead_routers_holds_are_taken_back_when_they_would_refuse(redis: SharedRedis,
                                                                        link: RedisLink) -> None:
    credits = pot(redis, "u2")
    await link.call("SET", credits[0], 1_000, "PX", shared_money.KEEP)
    assert await hold(link, credits, "dead-1", 800, lease_ms=150) == [1]  # never given back
    assert await hold(link, credits, "live-1", 100) == [1]  # room left: the dead hold stays
    assert await link.call("GET", credits[1]) == b"900"
    assert await hold(link, credits, "live-2", 500) == [0, 1, b"1000", b"900"]  # short while the lease runs
    await asyncio.sleep(0.2)
    assert await hold(link, credits, "live-2", 500) == [1]  # the dead hold's lease is over: taken back
    assert await link.call("GET", credits[1]) == b"600"
    assert sorted(await link.call("HKEYS", credits[2])) == [b"live-1", b"live-2"]
    # a hold given back twice (its lease ran out, then its router came back) is given back once
    await link.run(shared_money.RELEASE, credits, ["dead-1", "800", "0"])
    await link.run(shared_money.RELEASE, credits, ["live-1", "100", "-40"])
    await link.run(shared_money.RELEASE, credits, ["live-1", "100", "0"])
    assert await link.call("MGET", credits[0], credits[1]) == [b"960", b"500"]
