"""The circuit breaker, per provider x model, observed from outside: which providers get contacted
(mock hit counts), what /health and /metrics report, and how it recovers, in real time."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Mocks, RouterFactory, RunningRouter, SharedRedis
from tests.e2e.support import MODEL, assert_error, chat, config
from tests.mocks import MockProvider, chat_completion, json_reply

COOLDOWN = 0.5


@pytest.fixture(autouse=True)
def _strays(mocks: Mocks) -> Iterator[None]:
    """These tests' routers send their mocks POSTs only, and the tests count those. Any other request
    a mock received (CI saw a body-less GET twice, from a sender not yet found) is reported as a
    warning saying what it was, for whoever looks for its sender."""
    yield
    for mock in mocks.started:
        for r in mock.received:
            if r.method != "POST":
                warnings.warn(f"mock {mock.name} received {r.method} {r.path}?{r.query} from {r.peer}, "
                              f"headers {dict(r.headers)}", stacklevel=1)
BREAKER = {"circuit_breaker": {"failures": 2, "cooldown": COOLDOWN}}
FAILING = json_reply({"error": {"message": "internal error"}}, status=500)


def slow_ok(seconds: float):
    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response(chat_completion())

    return reply


async def health(r: RunningRouter) -> dict:
    async with r.client() as c:
        resp = await c.get("/health")
    assert resp.status_code == 200
    return resp.json()


async def metrics(r: RunningRouter) -> dict[tuple[str, frozenset], float]:
    async with r.client() as c:
        resp = await c.get("/metrics")
    assert resp.status_code == 200
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(m: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float | None:
    return m.get((name, frozenset(labels.items())))


async def test_opens_skips_probes_and_closes(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a", default=FAILING), await mocks.start("b")
    r = await router.start(config(a, b, routing=BREAKER))
    for _ in range(2):
        resp = await chat(r)
        assert resp.headers["x-inference-provider"] == "b"
    assert a.posts == 2
    # Open: a is skipped without being contacted.
    for _ in range(3):
        resp = await chat(r)
        assert resp.headers["x-inference-provider"] == "b"
    assert a.posts == 2
    assert (await health(r))["open_circuits"] == [f"a/{MODEL}"]
    m = await metrics(r)
    assert sample(m, "hubroute_open_circuits") == 1
    assert sample(m, "hubroute_failovers_total", model=MODEL, provider="a", reason="provider_http_error") == 2
    assert sample(m, "hubroute_circuit_opened_total", model=MODEL, provider="a") == 1

    # After the cool-down one probe goes through; a has recovered, so the circuit closes.
    await asyncio.sleep(COOLDOWN + 0.05)
    a.default = None
    resp = await chat(r)
    assert resp.headers["x-inference-provider"] == "a"
    assert a.posts == 3
    assert (await health(r))["open_circuits"] == []
    assert sample(await metrics(r), "hubroute_open_circuits") == 0
    for _ in range(2):
        assert (await chat(r)).headers["x-inference-provider"] == "a"
    assert a.posts == 5


async def test_failed_probe_reopens_at_once(mocks: Mocks, router: RouterFactory) -> None:
    # (a longer cool-down: the three requests after the probe must all come before it ends again,
    # which 0.5 s did not always leave on a loaded machine)
    cooldown = 2.0
    a, b = await mocks.start("a", default=FAILING), await mocks.start("b")
    r = await router.start(config(a, b, routing={"circuit_breaker": {"failures": 2, "cooldown": cooldown}}))
    for _ in range(2):
        await chat(r)
    await asyncio.sleep(cooldown + 0.05)
    assert (await chat(r)).headers["x-inference-provider"] == "b"
    assert a.posts == 3  # the probe
    for _ in range(3):
        assert (await chat(r)).headers["x-inference-provider"] == "b"
    assert a.posts == 3  # one failed probe re-opened it: no second threshold to reach
    assert (await health(r))["open_circuits"] == [f"a/{MODEL}"]


async def test_half_open_lets_one_probe_through(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a", default=FAILING), await mocks.start("b")
    r = await router.start(config(a, b, routing=BREAKER))
    for _ in range(2):
        await chat(r)
    await asyncio.sleep(COOLDOWN + 0.05)
    a.default = slow_ok(0.3)
    served = await asyncio.gather(*(chat(r) for _ in range(4)))
    assert sorted(s.headers["x-inference-provider"] for s in served) == ["a", "b", "b", "b"]
    assert a.posts == 3


async def test_all_circuits_open_is_503_with_retry_after(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a", default=FAILING)
    r = await router.start(config(a, routing={"circuit_breaker": {"failures": 2, "cooldown": 30}}))
    for _ in range(2):
        assert_error(await chat(r), 502)
    resp = await chat(r)
    err = assert_error(resp, 503)
    assert a.posts == 2
    assert err["providers"][0]["provider"] == "a"
    assert "circuit" in err["providers"][0]["error"]
    assert 1 <= int(resp.headers["retry-after"]) <= 30


async def test_client_errors_do_not_open_the_circuit(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a", default=json_reply({"error": {"message": "bad 'stop'"}}, status=400))
    r = await router.start(config(a, routing=BREAKER))
    for _ in range(4):
        assert_error(await chat(r), 400)
    assert a.posts == 4
    assert (await health(r))["open_circuits"] == []


async def test_circuit_is_per_provider_and_model(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    conf = config(a, b, routing=BREAKER, models=[
        {"id": MODEL, "providers": [{"provider": "a"}, {"provider": "b"}]},
        {"id": "acme/other-model", "providers": [{"provider": "a"}, {"provider": "b"}]},
    ])
    a.enqueue(FAILING, FAILING)
    r = await router.start(conf)
    for _ in range(2):
        assert (await chat(r)).headers["x-inference-provider"] == "b"
    assert (await chat(r)).headers["x-inference-provider"] == "b"  # a is open for MODEL...
    assert (await chat(r, "acme/other-model")).headers["x-inference-provider"] == "a"  # ...not for this one
    assert a.posts == 3


async def test_unused_probe_slot_is_not_kept(mocks: Mocks, router: RouterFactory) -> None:
    """b's circuit is half-open when a request that a serves comes in: b was never tried, so the next
    request must still be able to probe b."""
    a, b = await mocks.start("a"), await mocks.start("b", default=FAILING)
    r = await router.start(config(a, b, routing=BREAKER))
    for _ in range(2):
        assert_error(await chat(r, f"{MODEL}:b"), 502)
    await asyncio.sleep(COOLDOWN + 0.05)
    assert (await chat(r)).headers["x-inference-provider"] == "a"  # b not needed
    b.default = None
    resp = await chat(r, f"{MODEL}:b")
    assert resp.status_code == 200, resp.text
    assert (await health(r))["open_circuits"] == []


async def test_probe_answered_with_a_client_error_frees_the_slot(mocks: Mocks, router: RouterFactory) -> None:
    """A probe that ends in a 400 (the request's fault, not the provider's) gives no verdict; the
    circuit must not stay half-open with its only probe slot taken forever."""
    a = await mocks.start("a", default=FAILING)
    r = await router.start(config(a, routing=BREAKER))
    for _ in range(2):
        assert_error(await chat(r), 502)
    await asyncio.sleep(COOLDOWN + 0.05)
    a.enqueue(json_reply({"error": {"message": "bad 'stop'"}}, status=400))
    assert_error(await chat(r), 400)
    a.default = None
    resp = await chat(r)
    assert resp.status_code == 200, resp.text


async def test_routers_sharing_redis_spare_each_other_a_failing_provider(mocks: Mocks, router: RouterFactory,
                                                                        redis: SharedRedis) -> None:
    """Two routers on one Redis: the circuit one opens is open at the other within about a second
    (`redis.share_health`), which then never contacts the failing provider; the same routers with
    `share_health: false` each find out for themselves."""
    a, b = await mocks.start("a", default=FAILING), await mocks.start("b")
    breaker = {"circuit_breaker": {"failures": 2, "cooldown": 30}}
    first = await router.start(config(a, b, routing=breaker, redis=redis.settings()))
    second = await router.start(config(a, b, routing=breaker, redis=redis.settings()))
    for _ in range(2):
        assert (await chat(first)).headers["x-inference-provider"] == "b"
    assert a.posts == 2 and (await health(first))["open_circuits"] == [f"a/{MODEL}"]
    for _ in range(40):
        if (await health(second))["open_circuits"]:
            break
        await asyncio.sleep(0.05)
    assert (await health(second))["open_circuits"] == [f"a/{MODEL}"]
    for _ in range(3):
        assert (await chat(second)).headers["x-inference-provider"] == "b"
    assert a.posts == 2  # the second router never tried it

    apart = redis.settings(share_health=False, prefix=redis.prefix + "apart:")
    third = await router.start(config(a, b, routing=breaker, redis=apart))
    fourth = await router.start(config(a, b, routing=breaker, redis=apart))
    for _ in range(2):
        await chat(third)
    await asyncio.sleep(1.5)
    assert (await health(fourth))["open_circuits"] == []
    await chat(fourth)
    assert a.posts == 5  # (2 from the first, 2 from the third, 1 from the fourth: nothing was shared)
