"""What router instances share through Redis, with real `hubroute serve` processes on one PostgreSQL
store and one Redis: a rate limit, a balance and a budget each hold for all of them together,
exactly; an instance that dies frees its places and holds within their lease; Redis out of reach is
answered as `redis.on_error` says for rate limits, with 503 for money; a revoked key is refused
everywhere within a second; the ledger has one row a request, none twice."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import Mocks, SharedRedis
from tests.e2e.serving import Serve
from tests.e2e.support import CHAT, HI, MODEL, config, until
from tests.e2e.test_billing import at_once, gated
from tests.e2e.test_workers import ready
from tests.mocks import MockProvider, sse_reply, stream_events
from tests.proxy import TcpProxy

MASTER = "sk-hubroute-master-key-1"
ADMIN = {"authorization": f"Bearer {MASTER}"}


class Fleet:
    """Routers started by a test, each stopped after it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.routers: list[Serve] = []

    async def start(self, n: int, conf: str, *args: str) -> list[Serve]:
        """`n` routers on the same config, started together, each healthy."""
        routers = [Serve(self.tmp) for _ in range(n)]
        self.routers += routers
        await asyncio.gather(*(r.start(conf, *args) for r in routers))
        await asyncio.gather(*(r.healthy(30) for r in routers))
        return routers


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    f = Fleet(tmp_path)
    yield f
    for r in f.routers:
        await r.stop()


async def new_key(url: str, **limits: int) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=10) as c:
        if (await c.get("/admin/v1/users/ada")).status_code == 404:
            assert (await c.post("/admin/v1/users", json={"name": "ada"})).status_code == 201
        made = await c.post("/admin/v1/keys", json={"user": "ada", "limits": limits})
        assert made.status_code == 201, made.text
    return {"authorization": f"Bearer {made.json()['key']}"}


async def post(url: str, auth: dict[str, str], stream: bool = False) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as c:
        return await c.post(f"{url}{CHAT}", headers=auth, json={"model": MODEL, "messages": HI, "stream": stream})


def shared(a: MockProvider, store: str, redis: SharedRedis, **more: Any) -> str:
    return config(a, server={"master_key": MASTER, "log_level": "info"}, store={"url": store},
                  redis=redis.settings(**more))


@pytest.mark.parametrize("n", [2, 4])
async def test_a_limit_holds_for_every_instance_together(n: int, fleet: Fleet, mocks: Mocks, tmp_path: Path,
                                                         postgres_url: str, redis: SharedRedis) -> None:
    a = await mocks.start("a")
    routers = await fleet.start(n, shared(a, postgres_url, redis))
    auth = await new_key(routers[0].url, rpm=100)
    urls = itertools.cycle([r.url for r in routers])
    answers = await asyncio.gather(*(post(next(urls), auth) for _ in range(150)))  # at once, spread over all
    statuses = [r.status_code for r in answers]
    assert statuses.count(200) == 100 and statuses.count(429) == 50, statuses
    assert a.hits == 100
    assert all(r.json()["error"]["code"] == "rate_limited" for r in answers if r.status_code == 429)
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in answers if r.status_code == 200)
    assert remaining == list(range(100))  # each instance's answer counts the others' requests

    tokens = await new_key(routers[0].url, tpm=40)  # each answer of the mock: 7 + 5 tokens
    for i in range(4):  # 0, 12, 24, 36 used before each: let through (one instance after the other)
        assert (await post(routers[i % n].url, tokens)).status_code == 200
    for r in routers:  # 48: no instance lets another through
        refused = await post(r.url, tokens)
        assert refused.status_code == 429 and "40 tokens per minute" in refused.json()["error"]["message"]
        assert refused.headers["x-ratelimit-remaining-tokens"] == "0"

    a.default = sse_reply(stream_events(["slow", " words"]), delay=0.5)
    at_once = await new_key(routers[0].url, concurrency=3)
    streams = await asyncio.gather(*(post(next(urls), at_once, stream=True) for _ in range(12)))
    assert sorted(s.status_code for s in streams) == [200] * 3 + [429] * 9


async def test_workers_share_one_limit(serve: Serve, mocks: Mocks, tmp_path: Path, postgres_url: str,
                                       redis: SharedRedis) -> None:
    a = await mocks.start("a")
    await serve.start(shared(a, postgres_url, redis), "--workers", "2")
    await ready(serve, 2)
    auth = await new_key(serve.url, rpm=60)  # (a limit set through one worker, with Redis: allowed)

    async def one() -> int:
        async with httpx.AsyncClient(timeout=30) as c:  # a connection each: the kernel spreads them
            r = await c.post(f"{serve.url}{CHAT}", headers=auth, json={"model": MODEL, "messages": HI})
            return r.status_code

    statuses = await asyncio.gather(*(one() for _ in range(90)))
    assert statuses.count(200) == 60 and statuses.count(429) == 30
    serve.signal(signal.SIGTERM)
    assert await serve.wait(30) == 0


async def test_a_killed_instance_frees_its_places_within_its_lease(fleet: Fleet, mocks: Mocks, tmp_path: Path,
                                                                  postgres_url: str, redis: SharedRedis) -> None:
    a = await mocks.start("a", default=sse_reply(stream_events(["never", " ends"]), delay=60))
    first, second = await fleet.start(2, shared(a, postgres_url, redis, lease=2))
    auth = await new_key(first.url, concurrency=2)
    held = [asyncio.create_task(post(first.url, auth, stream=True)) for _ in range(2)]
    deadline = time.monotonic() + 10
    while a.hits < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert (await post(second.url, auth)).status_code == 429  # both places held, by the first instance
    assert first.proc is not None
    os.kill(first.proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    await asyncio.gather(*held, return_exceptions=True)
    a.default = sse_reply(stream_events(["ok"]))
    while (await post(second.url, auth)).status_code == 429:
        assert time.monotonic() - killed < 5, "the dead instance's places were never freed"
        await asyncio.sleep(0.1)
    assert time.monotonic() - killed >= 1  # (held until the lease ran out, not dropped at once)


@pytest.mark.parametrize("on_error", ["open", "closed"])
async def test_redis_out_of_reach(on_error: str, serve: Serve, mocks: Mocks, tmp_path: Path, postgres_url: str,
                                  redis: SharedRedis) -> None:
    a = await mocks.start("a")
    proxy = await TcpProxy("127.0.0.1", 6379).start()
    behind = SharedRedis(proxy.url_for(redis.url), redis.prefix)
    try:
        await serve.start(shared(a, postgres_url, behind, on_error=on_error, timeout=0.5))
        await serve.healthy(30)
        auth = await new_key(serve.url, rpm=1000)
        assert (await post(serve.url, auth)).headers["x-ratelimit-remaining-requests"] == "999"
        proxy.cut()
        answers = [await post(serve.url, auth) for _ in range(20)]
        if on_error == "open":
            assert all(r.status_code == 200 for r in answers)
            assert all("x-ratelimit-limit-requests" not in r.headers for r in answers)  # uncounted: no claim
        else:
            assert all(r.status_code == 503 for r in answers)
            message = answers[0].json()["error"]["message"]
            assert "rate limits cannot be checked" in message and "Redis cannot be reached" in message
        # (the router's log lines are written by a thread of their own: they may follow the answers)
        await until(lambda: "Redis cannot be reached" in serve.stderr)
        assert serve.stderr.count("Redis cannot be reached") == 1  # one line, not one a request
        async with httpx.AsyncClient(base_url=serve.url, headers=ADMIN, timeout=10) as c:
            metrics = (await c.get("/metrics")).text
        assert "hubroute_redis_up 0.0" in metrics
        failed = next(line for line in metrics.splitlines() if line.startswith("hubroute_redis_failures_total"))
        assert float(failed.split()[-1]) >= 20
        proxy.restore()
        deadline = time.monotonic() + 10
        counted = "x-ratelimit-limit-requests"
        while (resp := await post(serve.url, auth)).status_code != 200 or counted not in resp.headers:
            assert time.monotonic() < deadline, resp.text
            await asyncio.sleep(0.2)
        await until(lambda: "Redis is reachable again" in serve.stderr)
        async with httpx.AsyncClient(base_url=serve.url, headers=ADMIN, timeout=10) as c:
            assert "hubroute_redis_up 1.0" in (await c.get("/metrics")).text
        assert int(resp.headers["x-ratelimit-remaining-requests"]) < 999  # the same window as before
    finally:
        await proxy.close()


async def test_a_revoked_key_is_refused_by_every_instance_within_a_second(
        fleet: Fleet, mocks: Mocks, tmp_path: Path, postgres_url: str, redis: SharedRedis) -> None:
    a = await mocks.start("a")
    first, second = await fleet.start(2, shared(a, postgres_url, redis))
    auth = await new_key(first.url, rpm=1000)
    assert (await post(second.url, auth)).status_code == 200  # known to the second one
    async with httpx.AsyncClient(base_url=first.url, headers=ADMIN, timeout=10) as c:
        key_id = (await c.get("/admin/v1/keys?user=ada")).json()["data"][0]["id"]
        assert (await c.delete(f"/admin/v1/keys/{key_id}")).status_code == 200
    revoked = time.monotonic()
    while (resp := await post(second.url, auth)).status_code == 200:
        assert time.monotonic() - revoked < 1.0, "the other instance still takes the revoked key"
        await asyncio.sleep(0.02)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "revoked_api_key"


# --- credits and budgets --------------------------------------------------------------------------------
PRICES = {"a": {"input": 1000.0, "output": 2000.0}}  # the mock's answer: 7 in, 5 out: $0.017
COST, WORST = 0.017, 0.021  # (max_tokens 10: at most 1 token in and 10 out)


def billed(a: MockProvider, store: str, redis: SharedRedis, **more: Any) -> str:
    return config(a, pricing=PRICES, server={"master_key": MASTER, "log_level": "info"},
                  store={"url": store, "flush_interval": 0.1}, billing={"credits": True}, redis=redis.settings(**more))


async def admin(url: str, method: str, path: str, **body: Any) -> Any:
    async with httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=10) as c:
        resp = await c.request(method, path, json=body or None)
        assert resp.status_code in (200, 201), resp.text
        return resp.json()


async def ask(url: str, auth: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as c:
        return await c.post(f"{url}{CHAT}", headers=auth, json={"model": MODEL, "messages": HI, "max_tokens": 10})


def slow(a: MockProvider, seconds: float) -> None:
    from tests.mocks import chat_completion, json_reply

    async def reply(request: Any, m: MockProvider) -> Any:
        await asyncio.sleep(seconds)
        return await json_reply(chat_completion())(request, m)

    a.default = reply


async def usage_rows(url: str) -> list[Any]:
    import sqlalchemy as sa

    from hubroute.store import create_engine
    from hubroute.store.schema import usage

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(usage.c.request_id, usage.c.status))).all())
    finally:
        await engine.dispose()


@pytest.mark.parametrize("n", [2, 4])
async def test_credits_and_budgets_hold_for_every_instance_together(
        n: int, fleet: Fleet, mocks: Mocks, tmp_path: Path, postgres_url: str, redis: SharedRedis) -> None:
    a = await mocks.start("a")
    gate = gated(a)
    routers = await fleet.start(n, billed(a, postgres_url, redis))
    urls = itertools.cycle([r.url for r in routers])
    await admin(routers[0].url, "POST", "/admin/v1/users", name="ada")
    made = await admin(routers[0].url, "POST", "/admin/v1/keys", user="ada", limits={"rpm": 25})
    auth = {"authorization": f"Bearer {made['key']}"}
    await admin(routers[-1].url, "POST", "/admin/v1/credits", user="ada", usd=10 * WORST + 0.0001)  # ten at worst
    answers = await at_once(a, gate, 40, lambda: ask(next(urls), auth), served=10)
    statuses = [r.status_code for r in answers]
    # ten afforded; 25 counted under the rate limit (those served and those the credits refused), 15 not
    assert statuses.count(200) == 10 and statuses.count(402) == 15 and statuses.count(429) == 15, statuses
    assert a.hits == 10
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 402} == {"insufficient_credits"}
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 429} == {"rate_limited"}
    for r in routers:  # every instance sees the one balance, each request settled at its cost
        left = (await admin(r.url, "GET", "/admin/v1/credits?user=ada"))["balance_usd"]
        assert left == pytest.approx(10 * WORST + 0.0001 - 10 * COST)

    budgeted = await admin(routers[0].url, "POST", "/admin/v1/keys", user="ada",
                           budget={"usd": 5 * WORST + 0.0001, "period": "day"})  # five at worst
    await admin(routers[0].url, "POST", "/admin/v1/credits", user="ada", usd=100)
    auth = {"authorization": f"Bearer {budgeted['key']}"}
    answers = await at_once(a, gated(a), 20, lambda: ask(next(urls), auth), served=5)
    assert sorted(r.status_code for r in answers) == [200] * 5 + [402] * 15
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 402} == {"budget_exceeded"}

    for r in routers:  # SIGTERM: each writes its waiting rows
        r.signal(signal.SIGTERM)
    assert [await r.wait(30) for r in routers] == [0] * n
    rows = await usage_rows(postgres_url)
    ids = [row.request_id for row in rows]
    assert len(ids) == len(set(ids)) == 60  # one row a request, none twice
    assert sum(1 for row in rows if row.status == 200) == 15


async def test_a_killed_instance_holds_come_free_and_redis_out_of_reach_refuses_money(
        fleet: Fleet, mocks: Mocks, tmp_path: Path, postgres_url: str, redis: SharedRedis) -> None:
    a = await mocks.start("a")
    slow(a, 60)
    proxy = await TcpProxy("127.0.0.1", 6379).start()
    behind = SharedRedis(proxy.url_for(redis.url), redis.prefix)
    try:
        first, second = await fleet.start(2, billed(a, postgres_url, behind, lease=2, timeout=0.5))
        await admin(first.url, "POST", "/admin/v1/users", name="ada")
        auth = {"authorization": f"Bearer {(await admin(first.url, 'POST', '/admin/v1/keys', user='ada'))['key']}"}
        await admin(first.url, "POST", "/admin/v1/credits", user="ada", usd=2 * WORST + 0.0001)  # two at worst
        held = [asyncio.create_task(ask(first.url, auth)) for _ in range(2)]
        deadline = time.monotonic() + 10
        while a.hits < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        slow(a, 0)
        assert (await ask(second.url, auth)).status_code == 402  # the first instance holds it all
        assert first.proc is not None
        os.kill(first.proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.gather(*held, return_exceptions=True)
        while (resp := await ask(second.url, auth)).status_code == 402:
            assert time.monotonic() - killed < 5, "the dead instance's holds were never released"
            await asyncio.sleep(0.1)
        assert resp.status_code == 200

        proxy.cut()  # money fails closed, whatever redis.on_error says (open here)
        refused = await ask(second.url, auth)
        assert refused.status_code == 503
        assert "credits and budgets cannot be checked" in refused.json()["error"]["message"]
        proxy.restore()
        deadline = time.monotonic() + 10
        while (resp := await ask(second.url, auth)).status_code == 503:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        assert resp.status_code in (200, 402)
    finally:
        await proxy.close()
