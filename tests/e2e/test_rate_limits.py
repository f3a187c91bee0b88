"""A stored key's rate limits on a real router: requests and tokens per minute, requests at once; the
x-ratelimit-* headers on every answer; a refused request never reaches a provider."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import assert_error, chat, config, stream_chat
from tests.mocks import MockProvider, sse_reply, stream_events

MASTER = "sk-hubroute-master-key-1"
ADMIN = {"authorization": f"Bearer {MASTER}"}


async def keyed(mocks: Mocks, router: RouterFactory,
                **limits: int) -> tuple[RunningRouter, MockProvider, dict[str, str]]:
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}))
    async with r.client(headers=ADMIN) as c:
        await c.post("/admin/v1/users", json={"name": "ada"})
        key = (await c.post("/admin/v1/keys", json={"user": "ada", "limits": limits})).json()
    return r, a, {"authorization": f"Bearer {key['key']}"}


async def test_requests_per_minute(mocks: Mocks, router: RouterFactory) -> None:
    r, a, auth = await keyed(mocks, router, rpm=3)
    for left in ("2", "1", "0"):
        resp = await chat(r, headers=auth)
        assert resp.status_code == 200
        assert resp.headers["x-ratelimit-limit-requests"] == "3"
        assert resp.headers["x-ratelimit-remaining-requests"] == left
    refused = await chat(r, headers=auth)
    err = assert_error(refused, 429, "rate_limited")
    assert "3 requests per minute" in err["message"]
    assert 55 <= int(refused.headers["retry-after"]) <= 61  # (counted per tenth of a second: up to 60.1 s)
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"].endswith("s")
    assert a.hits == 3
    master = await chat(r, headers=ADMIN)  # the master key has no limits, and no such headers
    assert master.status_code == 200 and "x-ratelimit-limit-requests" not in master.headers


async def test_tokens_per_minute(mocks: Mocks, router: RouterFactory) -> None:
    r, a, auth = await keyed(mocks, router, tpm=20)  # each answer of the mock: 7 + 5 tokens
    assert (await chat(r, headers=auth)).headers["x-ratelimit-remaining-tokens"] == "20"
    second = await chat(r, headers=auth)
    assert second.status_code == 200 and second.headers["x-ratelimit-remaining-tokens"] == "8"
    assert_error(await chat(r, headers=auth), 429, "rate_limited")
    assert a.hits == 2


async def test_requests_at_once(mocks: Mocks, router: RouterFactory) -> None:
    r, a, auth = await keyed(mocks, router, concurrency=2)
    a.default = sse_reply(stream_events(["slow", " words"]), delay=0.3)
    results: list[Any] = await asyncio.gather(*(stream_chat(r, headers=auth) for _ in range(5)))
    statuses = sorted(resp.status_code for resp, _ in results)
    assert statuses == [200, 200, 429, 429, 429]
    assert a.hits == 2
    # the slots came back when the streams ended
    assert (await stream_chat(r, headers=auth))[0].status_code == 200


async def test_a_users_and_an_organisations_limits_hold_across_their_keys(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}))
    async with r.client(headers=ADMIN) as c:
        user = await c.post("/admin/v1/users", json={"name": "ada", "limits": {"rpm": 3}})
        assert user.status_code == 201 and user.json()["limits"] == {"rpm": 3, "tpm": None, "concurrency": None}
        await c.post("/admin/v1/orgs", json={"name": "acme"})
        one, two = [(await c.post("/admin/v1/keys", json={"user": "ada"})).json()["key"] for _ in range(2)]
        service = (await c.post("/admin/v1/keys", json={"org": "acme"})).json()["key"]
    for key in (one, two, one):  # three in a minute, whichever key
        assert (await chat(r, headers={"authorization": f"Bearer {key}"})).status_code == 200
    err = assert_error(await chat(r, headers={"authorization": f"Bearer {two}"}), 429, "rate_limited")
    assert "this key's user may make 3 requests per minute" in err["message"]
    async with r.client(headers=ADMIN) as c:  # raised: at once
        assert (await c.patch("/admin/v1/users/ada", json={"limits": {"rpm": 10}})).status_code == 200
        assert (await c.patch("/admin/v1/orgs/acme", json={"limits": {"rpm": 1}})).status_code == 200
    assert (await chat(r, headers={"authorization": f"Bearer {two}"})).status_code == 200
    assert (await chat(r, headers={"authorization": f"Bearer {service}"})).status_code == 200
    err = assert_error(await chat(r, headers={"authorization": f"Bearer {service}"}), 429, "rate_limited")
    assert "organisation may make 1 requests per minute" in err["message"]


async def test_an_organisation_named_in_x_hf_bill_to_holds_its_limits(mocks: Mocks, router: RouterFactory) -> None:
    """A request billed to an organisation by X-HF-Bill-To counts under that organisation's limits (and
    not under those of the organisation the key bills by default); a refused one costs nothing."""
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}))
    async with r.client(headers=ADMIN) as c:
        await c.post("/admin/v1/users", json={"name": "ada"})
        await c.post("/admin/v1/orgs", json={"name": "home", "limits": {"rpm": 2}})
        await c.post("/admin/v1/orgs", json={"name": "acme", "limits": {"rpm": 1}})
        for org in ("home", "acme"):
            await c.post(f"/admin/v1/orgs/{org}/members", json={"user": "ada"})
        key = (await c.post("/admin/v1/keys", json={"user": "ada", "bill_to": "home",
                                                    "limits": {"rpm": 10}})).json()
    auth = {"authorization": f"Bearer {key['key']}"}
    to_acme = {**auth, "x-hf-bill-to": "acme"}
    assert (await chat(r, headers=to_acme)).status_code == 200
    err = assert_error(await chat(r, headers=to_acme), 429, "rate_limited")
    assert "organisation may make 1 requests per minute" in err["message"]
    for _ in range(2):  # home's two a minute: the requests billed to acme took none of them
        answer = await chat(r, headers=auth)
        assert answer.status_code == 200
    assert answer.headers["x-ratelimit-remaining-requests"] == "7"  # the key's: 3 counted, the refused one not
    assert_error(await chat(r, headers=auth), 429, "rate_limited")
    assert a.hits == 3
