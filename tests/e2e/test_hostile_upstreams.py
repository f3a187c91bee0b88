"""Providers that misbehave on purpose, and a router that must hold up: nonsense `Retry-After`
values, broken stream events, an adapter failing mid-stream, a shutdown with streams in flight. The
real router on a real socket, mock providers in their wire format."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import MODEL, assert_error, chat, config
from tests.mocks import json_reply

MASTER = "sk-master-key-for-tests"
RATE_LIMITED = {"error": {"message": "slow down", "type": "rate_limit"}}


def limited(retry_after: str):
    return json_reply(RATE_LIMITED, status=429, headers={"retry-after": retry_after})


async def health(r: RunningRouter, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with r.client() as c:
        resp = await c.get("/health", headers=headers)
    assert resp.status_code == 200
    return resp.json()


# --- Retry-After ---------------------------------------------------------------------------------
async def test_an_infinite_retry_after_is_ignored(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(limited("1e309"))
    r = await router.start(config(a))
    err = assert_error(await chat(r), 503, "providers_unavailable")
    assert err["providers"][0]["status"] == 429
    resp = await chat(r)  # not paused, not broken: the next request is served
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "a" and a.hits == 2
    assert (await health(r))["paused"] == []


async def test_a_huge_retry_after_is_capped_and_shown(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(limited("99999999999"))
    r = await router.start(config(a, b))
    assert (await chat(r)).headers["x-inference-provider"] == "b"  # failover
    [pause] = (await health(r))["paused"]
    assert pause["provider"] == "a" and pause["model"] == MODEL
    assert 290 < pause["seconds_left"] <= 300  # routing.max_retry_after's default
    # a alone: paused, it is not contacted, and the client is told the capped wait
    only_a = f"{MODEL}:a"
    err = assert_error(resp := await chat(r, model=only_a), 503, "providers_unavailable")
    assert err["providers"][0]["error"].startswith("circuit open")
    assert 290 < int(resp.headers["retry-after"]) <= 300
    assert a.hits == 1


async def test_the_cap_is_configurable_and_applies_to_the_clients_retry_after(mocks: Mocks,
                                                                               router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(limited("99999999999"))
    r = await router.start(config(a, routing={"max_retry_after": 1}))
    resp = await chat(r)
    assert_error(resp, 503, "providers_unavailable")
    assert resp.headers["retry-after"] == "1"
    [pause] = (await health(r))["paused"]
    assert 0 < pause["seconds_left"] <= 1
    await asyncio.sleep(1.05)
    assert (await chat(r)).status_code == 200 and a.hits == 2


async def test_an_http_date_retry_after_is_honoured(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(limited(email.utils.formatdate(time.time() + 120, usegmt=True)))
    r = await router.start(config(a))
    resp = await chat(r)
    assert_error(resp, 503, "providers_unavailable")
    assert 115 <= int(resp.headers["retry-after"]) <= 120
    [pause] = (await health(r))["paused"]
    assert 115 < pause["seconds_left"] <= 120
    assert_error(await chat(r), 503)
    assert a.hits == 1


@pytest.mark.parametrize("value", ["-5", "soon", "nan", "1e3"])
async def test_a_nonsense_retry_after_pauses_nothing(mocks: Mocks, router: RouterFactory, value: str) -> None:
    a = await mocks.start("a")
    a.enqueue(limited(value))
    r = await router.start(config(a))
    resp = await chat(r)
    assert_error(resp, 503)
    assert "retry-after" not in resp.headers
    assert (await health(r))["paused"] == []
    assert (await chat(r)).status_code == 200


# --- /health ---------------------------------------------------------------------------------------
async def test_health_without_a_key_only_says_the_router_is_up(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(limited("60"))
    r = await router.start(config(a, server={"master_key": MASTER}))
    assert_error(await chat(r, headers={"authorization": f"Bearer {MASTER}"}), 503)
    for headers in (None, {"authorization": "Bearer wrong-key-123"}, {"authorization": "Basic x"}):
        async with r.client() as c:
            resp = await c.get("/health", headers=headers)
        assert resp.status_code == 200 and resp.json() == {"status": "ok"}, headers
    full = await health(r, {"authorization": f"Bearer {MASTER}"})
    assert full["status"] == "ok" and full["version"] and full["inflight"] == 0
    assert [(p["provider"], p["model"]) for p in full["paused"]] == [("a", MODEL)]
    assert full["open_circuits"] == []
    assert (await health(r, {"x-api-key": MASTER}))["paused"]
