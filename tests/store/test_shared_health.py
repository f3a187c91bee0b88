"""Routers telling each other what they learn of the providers, through the real Redis: a circuit one
opens is open at the others within a read, until the same moment; a pause too; a circuit a probe
closed is not opened again by what was told before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from hubroute.routing.health import Health
from hubroute.store import shared_health
from hubroute.store.redislink import RedisLink
from hubroute.store.shared_health import SharedHealth
from tests.conftest import SharedRedis
from tests.ports import free_port

PAIR = ("groq", "meta-llama/Llama-3.3-70B-Instruct")


@dataclass
class Router:
    health: Health
    shared: SharedHealth
    link: RedisLink


@pytest.fixture
async def routers(redis: SharedRedis) -> AsyncIterator[list[Router]]:
    """Three routers' breakers (2 failures open a circuit for 30 s), each with its own link, sharing
    what they learn under the test's prefix; read by hand (`shared.read()`), not on a timer."""
    made = []
    for _ in range(3):
        link = RedisLink(redis.url)
        link.register(*shared_health.SCRIPTS)
        await link.call("PING")  # (connected, the scripts loaded: `send` needs both)
        health = Health(failures=2, cooldown=30.0, max_pause=60.0)
        shared = SharedHealth(link, health, prefix=redis.prefix, interval=3600)
        shared.start()
        made.append(Router(health, shared, link))
    yield made
    for r in made:
        await r.shared.close()
        await r.link.close()


async def _settle(r: Router) -> None:
    await r.link.call("PING")  # (what it sent unawaited reached Redis before this is answered)


async def test_a_circuit_opened_by_one_router_is_open_at_the_others_as_long(routers: list[Router]) -> None:
    a, b, c = routers
    assert not a.health.failure(PAIR) and a.health.failure(PAIR)  # the second failure opens it
    await _settle(a)
    assert await b.shared.read() == 1
    assert b.health.state(PAIR) == "open" and not b.health.allow(PAIR)
    wait = b.health.retry_in(PAIR)
    assert wait is not None and 28 < wait <= 30  # (its own cool-down from when it opened at a)
    assert c.health.allow(PAIR)  # (c has not read yet: nothing is learnt on a request's path)
    await c.shared.read()
    assert not c.health.allow(PAIR)
    await a.shared.read()  # a reads its own circuit back: unchanged
    assert a.health.state(PAIR) == "open"
    assert b.health.allow(("groq", "another/model"))  # only that pair


async def test_a_probe_that_closes_the_circuit_is_told_too(routers: list[Router]) -> None:
    a, b, _ = routers
    for _ in range(2):
        a.health.failure(PAIR)
    await _settle(a)
    a.health.success(PAIR)  # (a probe went through and succeeded)
    await _settle(a)
    assert await b.shared.read() == 0
    assert b.health.allow(PAIR)
    await a.shared.read()
    assert a.health.state(PAIR) == "closed"


async def test_what_was_told_before_a_probe_closed_it_does_not_open_it_again() -> None:
    clock = [100.0]
    health = Health(failures=1, cooldown=30.0, clock=lambda: clock[0])
    health.failure(PAIR)
    clock[0] += 31
    assert health.allow(PAIR)  # half-open: the probe
    health.success(PAIR)
    health.learn(PAIR, "open", 0.5)  # told by a router that read the circuit opened at 100 (30 s before)
    assert health.state(PAIR) == "closed"
    clock[0] += 1
    health.learn(PAIR, "open", 30.0)  # opened elsewhere after the probe closed it here: learnt
    assert health.state(PAIR) == "open"


async def test_a_pause_a_provider_asked_for_holds_at_every_router(routers: list[Router]) -> None:
    a, b, _ = routers
    a.health.failure(PAIR, retry_after=20.0)  # a 429 with Retry-After: 20
    await _settle(a)
    await b.shared.read()
    assert not b.health.allow(PAIR)
    wait = b.health.retry_in(PAIR)
    assert wait is not None and 18 < wait <= 20
    assert b.health.state(PAIR) == "closed"  # (paused, its circuit not open)


async def test_routers_read_on_their_own_and_redis_out_of_reach_costs_nothing(redis: SharedRedis) -> None:
    link, gone = RedisLink(redis.url), RedisLink(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    for each in (link, gone):
        each.register(*shared_health.SCRIPTS)
    await link.call("PING")
    teller, reader, lost = Health(failures=1), Health(failures=1), Health(failures=1)
    shares = [SharedHealth(link, teller, prefix=redis.prefix), SharedHealth(link, reader, prefix=redis.prefix,
                                                                           interval=0.05),
              SharedHealth(gone, lost, prefix=redis.prefix, interval=0.05)]
    for s in shares:
        s.start()
    try:
        teller.failure(PAIR)
        for _ in range(100):
            if not reader.allow(PAIR):
                break
            await asyncio.sleep(0.02)
        assert not reader.allow(PAIR)
        lost.failure(PAIR)  # told nowhere (no connection), and its reads fail quietly
        await asyncio.sleep(0.3)
        assert lost.state(PAIR) == "open"
    finally:
        for s in shares:
            await s.close()
        await link.close()
        await gone.close()
    assert teller.listener is None


async def test_a_router_that_has_measured_little_uses_the_deployments_speed_figures(routers: list[Router]) -> None:
    a, b, c = routers
    for _ in range(3):  # a measures the pair: 100 tokens/s, 0.2 s to the first byte
        a.health.observe(PAIR, ttfb=0.2, tokens=100, seconds=1.0)
    assert a.shared.send_speeds() == 1 and a.shared.send_speeds() == 0  # (sent once, until measured again)
    await _settle(a)
    assert b.health.speed(PAIR) is None
    await b.shared.read()
    learnt = b.health.speed(PAIR)
    assert learnt is not None and learnt.throughput == pytest.approx(100) and learnt.ttfb == pytest.approx(0.2)
    for _ in range(3):  # c measures it slower: the deployment's figure moves a fifth of the way
        c.health.observe(PAIR, ttfb=1.2, tokens=50, seconds=1.0)
    c.shared.send_speeds()
    await _settle(c)
    await b.shared.read()
    moved = b.health.speed(PAIR)
    assert moved is not None and moved.throughput == pytest.approx(90) and moved.ttfb == pytest.approx(0.4)
    for _ in range(2):  # b's own samples: not enough yet
        b.health.observe(PAIR, ttfb=0.1, tokens=10, seconds=1.0)
    assert b.health.speed(PAIR).throughput == pytest.approx(90)  # type: ignore[union-attr]
    b.health.observe(PAIR, ttfb=0.1, tokens=10, seconds=1.0)  # the third: its own figure now
    assert b.health.speed(PAIR).throughput == pytest.approx(10)  # type: ignore[union-attr]
    assert b.health.speed(("groq", "never/measured")) is None


async def test_fastest_orders_by_the_deployments_figures_from_the_first_request(routers: list[Router]) -> None:
    from hubroute.catalog import ProviderMapping
    from hubroute.routing.policy import order

    a, b, _ = routers
    model = PAIR[1]
    for provider, tps in (("slow", 20), ("quick", 300)):
        for _ in range(3):
            a.health.observe((provider, model), ttfb=0.1, tokens=tps, seconds=1.0)
    a.shared.send_speeds()
    await _settle(a)
    mappings = [ProviderMapping(provider="slow", provider_id="s"), ProviderMapping(provider="quick", provider_id="q")]
    assert [m.provider for m in order(mappings, "fastest", model=model, health=b.health)] == ["slow", "quick"]
    await b.shared.read()
    assert [m.provider for m in order(mappings, "fastest", model=model, health=b.health)] == ["quick", "slow"]
