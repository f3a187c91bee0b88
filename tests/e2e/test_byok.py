"""Bring your own key: provider keys of users and organisations, sealed at rest, used in place of the
server's (user over organisation over server over the HF token), metered, never charged to credits,
counted in the budgets that include them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from hubroute.store import create_engine
from hubroute.store.schema import provider_keys
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.serving import Serve
from tests.e2e.support import assert_error, chat, header
from tests.mocks import MockProvider

MASTER = "sk-hubroute-master-key-1"
ADMIN = {"authorization": f"Bearer {MASTER}"}
SECRET = "a-long-random-sealing-secret-for-tests"
MODEL = "acme/llama-for-byok"  # served by groq only (a catalog model has other providers)
SERVER_KEY, ORG_KEY, USER_KEY = "gsk_server_key_0001", "gsk_org_key_00002", "gsk_user_key_0003"


def conf(groq: MockProvider, hf: MockProvider, db: str, *, secret: str | None = SECRET,
         credits: bool = True, server_key: bool = True) -> str:
    providers: dict[str, Any] = {"groq": {"base_url": groq.url}}
    if server_key:
        providers["groq"]["api_key"] = SERVER_KEY
    return yaml.safe_dump({
        "server": {"master_key": MASTER},
        "huggingface": {"token": "hf_server_token_0004", "base_url": hf.url, "live_catalog": False},
        "providers": providers,
        "models": [{"id": MODEL, "providers": [{"provider": "groq", "provider_id": "llama-3.3-70b-versatile",
                                                 "pricing": {"input": 1000, "output": 2000}}]}],
        "store": {"url": db, "flush_interval": 0.05},
        "billing": {"credits": credits},
        **({"accounts": {"encryption_key": secret}} if secret else {}),
    })


async def admin(r: RunningRouter, method: str, path: str, body: Any = None, **params: str) -> Any:
    async with r.client(headers=ADMIN) as c:
        return await c.request(method, path, json=body, params=params or None)


async def setup(r: RunningRouter) -> dict[str, str]:
    for path, body in (("/admin/v1/users", {"name": "ada"}), ("/admin/v1/orgs", {"name": "acme"}),
                       ("/admin/v1/orgs/acme/members", {"user": "ada"})):
        assert (await admin(r, "POST", path, body)).status_code == 201
    key = (await admin(r, "POST", "/admin/v1/keys", {"user": "ada"})).json()["key"]
    return {"authorization": f"Bearer {key}"}


def sent_key(mock: MockProvider) -> str | None:
    return header(mock.received[-1], "authorization")


async def test_own_keys_take_precedence_and_are_never_charged(mocks: Mocks, router: RouterFactory,
                                                               tmp_path: Path) -> None:
    groq, hf = await mocks.start("groq"), await mocks.start("hf")
    db = f"sqlite:///{tmp_path / 'h.db'}"
    r = await router.start(conf(groq, hf, db))
    ada = await setup(r)
    await admin(r, "POST", "/admin/v1/credits", {"user": "ada", "usd": 1.0})
    assert (await chat(r, MODEL, headers=ada, max_tokens=10)).status_code == 200
    assert sent_key(groq) == f"Bearer {SERVER_KEY}"  # none of its own yet: the server's, and charged

    stored = await admin(r, "PUT", "/admin/v1/provider-keys", {"org": "acme", "provider": "groq", "key": ORG_KEY})
    assert stored.status_code == 200 and stored.json()["last4"] == "0002" and ORG_KEY not in stored.text
    assert (await chat(r, MODEL, headers={**ada, "x-hf-bill-to": "acme"}, max_tokens=10)).status_code == 200
    assert sent_key(groq) == f"Bearer {ORG_KEY}"  # billing the organisation: its key

    await admin(r, "PUT", "/admin/v1/provider-keys", {"user": "ada", "provider": "groq", "key": USER_KEY})
    assert (await chat(r, MODEL, headers={**ada, "x-hf-bill-to": "acme"}, max_tokens=10)).status_code == 200
    assert sent_key(groq) == f"Bearer {USER_KEY}"  # the user's own key first

    async with r.client(headers=ADMIN) as c:
        credits = (await c.get("/admin/v1/credits", params={"user": "ada"})).json()["balance_usd"]
        listed = (await c.get("/admin/v1/provider-keys", params={"user": "ada"})).json()["data"]
    assert credits == pytest.approx(1.0 - 0.017)  # the first request only
    assert listed == [{"user": "ada", "provider": "groq", "last4": "0003", "created_at": listed[0]["created_at"]}]

    engine = create_engine(db)
    try:
        deadline = time.monotonic() + 5
        while True:  # the ledger writes its rows a flush after the answers
            async with engine.connect() as conn:
                sealed = [row.sealed for row in await conn.execute(sa.select(provider_keys.c.sealed))]
                rows = (await conn.execute(sa.text("SELECT byok, charged_nano FROM usage ORDER BY created_at"))).all()
            if len(rows) == 3:
                break
            assert time.monotonic() < deadline, rows
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
    assert all(s.startswith("v1:") and USER_KEY not in s and ORG_KEY not in s for s in sealed)
    assert [(bool(b), c) for b, c in rows][-2:] == [(True, None), (True, None)]


async def test_an_own_key_reaches_a_provider_the_server_only_reaches_through_hf(
        mocks: Mocks, router: RouterFactory, tmp_path: Path) -> None:
    groq, hf = await mocks.start("groq"), await mocks.start("hf")
    r = await router.start(conf(groq, hf, f"sqlite:///{tmp_path / 'h.db'}", server_key=False, credits=False))
    ada = await setup(r)
    assert (await chat(r, MODEL, headers=ada)).status_code == 200
    assert hf.hits == 1 and groq.hits == 0  # the server's way: HF's router, with its token
    await admin(r, "PUT", "/admin/v1/provider-keys", {"user": "ada", "provider": "groq", "key": USER_KEY})
    assert (await chat(r, MODEL, headers=ada)).status_code == 200
    assert groq.hits == 1 and sent_key(groq) == f"Bearer {USER_KEY}"  # the user's key: groq itself, directly


async def test_an_own_key_reaches_a_provider_the_deployment_cannot_reach_at_all(
        mocks: Mocks, router: RouterFactory, tmp_path: Path) -> None:
    """No key of the server's and no HF token: groq is out of the deployment's reach, except for the
    callers who brought a groq key of their own (on the model routes and the provider's own routes)."""
    groq, hf = await mocks.start("groq"), await mocks.start("hf")
    config = yaml.safe_load(conf(groq, hf, f"sqlite:///{tmp_path / 'h.db'}", server_key=False, credits=False))
    del config["huggingface"]["token"]
    r = await router.start(yaml.safe_dump(config))
    ada = await setup(r)
    await admin(r, "POST", "/admin/v1/users", {"name": "bob"})
    bob_key = (await admin(r, "POST", "/admin/v1/keys", {"user": "bob"})).json()["key"]
    bob_auth = {"authorization": f"Bearer {bob_key}"}
    err = assert_error(await chat(r, MODEL, headers=ada), 400, "model_not_supported")
    assert "groq: no credentials" in err["message"]
    await admin(r, "PUT", "/admin/v1/provider-keys", {"user": "ada", "provider": "groq", "key": USER_KEY})
    served = await chat(r, MODEL, headers=ada)
    assert served.status_code == 200 and served.headers["x-inference-provider"] == "groq"
    assert groq.hits == 1 and sent_key(groq) == f"Bearer {USER_KEY}" and hf.hits == 0
    async with r.client(headers=ada) as c:  # the provider's own route, with the caller's key
        native = await c.post("/groq/openai/v1/chat/completions", json={"model": "llama-3.3-70b-versatile",
                                                                        "messages": []})
    assert native.status_code == 200 and groq.hits == 2 and sent_key(groq) == f"Bearer {USER_KEY}"
    assert_error(await chat(r, MODEL, headers=bob_auth), 400, "model_not_supported")  # bob has none
    async with r.client(headers=bob_auth) as c:
        refused = await c.post("/groq/openai/v1/chat/completions", json={"model": "llama-3.3-70b-versatile"})
    assert_error(refused, 400, "model_not_supported")
    assert groq.hits == 2 and hf.hits == 0


async def test_provider_keys_need_the_secret(mocks: Mocks, router: RouterFactory, tmp_path: Path,
                                             serve: Serve) -> None:
    groq, hf = await mocks.start("groq"), await mocks.start("hf")
    db = f"sqlite:///{tmp_path / 'h.db'}"
    no_secret = await router.start(conf(groq, hf, db, secret=None))
    await setup(no_secret)
    err = assert_error(await admin(no_secret, "PUT", "/admin/v1/provider-keys",
                                   {"user": "ada", "provider": "groq", "key": USER_KEY}), 400)
    assert "encryption_key" in err["message"]
    await no_secret.stop()
    with_secret = await router.start(conf(groq, hf, db))
    assert (await admin(with_secret, "PUT", "/admin/v1/provider-keys",
                        {"user": "ada", "provider": "groq", "key": USER_KEY})).status_code == 200
    await with_secret.stop()
    # the store now holds a sealed key: a router without the secret, or with another, refuses to start
    for secret in (None, "another-secret-of-enough-length"):
        await serve.start(conf(groq, hf, db, secret=secret))
        assert await serve.wait() == 2, serve.stderr
        [line] = serve.stderr.strip().splitlines()
        assert line.startswith("hubroute: config: accounts.encryption_key:"), line
        serve.proc = None
