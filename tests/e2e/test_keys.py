"""Stored API keys end to end: made with the admin API of a real router, used on its model routes,
limited to what they may reach, revoked and rotated, seen by a second router on the same database,
and kept working while the database is cut off."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest

from hubroute.server.record import RequestRecord
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import MODEL, assert_error, chat, config
from tests.proxy import TcpProxy

MASTER = "sk-hubroute-master-key-1"
ADMIN = {"authorization": f"Bearer {MASTER}"}


async def admin(r: RunningRouter, method: str, path: str, body: Any = None, headers: dict[str, str] = ADMIN,
                status: int | None = None) -> Any:
    async with r.client(headers=headers) as c:
        resp = await c.request(method, path, json=body)
    if status is not None:
        assert resp.status_code == status, resp.text
    return resp


async def new_key(r: RunningRouter, **body: Any) -> dict[str, Any]:
    body.setdefault("user", "ada")
    resp = await admin(r, "POST", "/admin/v1/keys", body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def bearer(key: dict[str, Any] | str) -> dict[str, str]:
    return {"authorization": f"Bearer {key if isinstance(key, str) else key['key']}"}


async def started(mocks: Mocks, router: RouterFactory, store: str | None = None, **sections: Any
                  ) -> tuple[RunningRouter, Any]:
    a = await mocks.start("a")
    if store is not None:
        sections["store"] = {"url": store}
    r = await router.start(config(a, server={"master_key": MASTER}, **sections))
    await admin(r, "POST", "/admin/v1/users", {"name": "ada"}, status=201)
    return r, a


# --- the admin API ---------------------------------------------------------------------------------
async def test_the_admin_api_makes_users_organisations_members_and_keys(mocks: Mocks, router: RouterFactory) -> None:
    r, _ = await started(mocks, router)
    assert (await admin(r, "POST", "/admin/v1/users", {"name": "ada"})).status_code == 409
    acme = (await admin(r, "POST", "/admin/v1/orgs", {"name": "acme"}, status=201)).json()
    member = await admin(r, "POST", "/admin/v1/orgs/acme/members", {"user": "ada", "role": "admin"}, status=201)
    assert member.json() == {"org": "acme", "user": "ada", "role": "admin"}
    assert (await admin(r, "GET", f"/admin/v1/orgs/{acme['id']}", status=200)).json()["members"][0]["user"] == "ada"
    key = await new_key(r, name="laptop", models=["acme/*"], limits={"rpm": 60}, budget={"usd": 5, "period": "day"},
                        bill_to="acme")
    assert key["key"].startswith(f"hf_hr_{key['id']}_") and key["prefix"] == f"hf_hr_{key['id']}"
    assert key["budget"] == {"usd": 5.0, "period": "day"} and key["bill_to"] == "acme"
    listed = (await admin(r, "GET", "/admin/v1/keys?user=ada", status=200)).json()["data"]
    assert [k["id"] for k in listed] == [key["id"]] and "key" not in listed[0]  # the secret: once
    assert (await admin(r, "GET", "/admin/v1/users", status=200)).json()["data"][0]["name"] == "ada"

    for body, param in [({"name": ""}, "name"), ({"name": "x", "admin": "yes"}, "admin"), ({"nme": "x"}, "nme")]:
        err = assert_error(await admin(r, "POST", "/admin/v1/users", body), 400)
        assert err["param"] == param, err
    err = assert_error(await admin(r, "POST", "/admin/v1/keys", {"user": "ada", "limits": {"rpm": 0}}), 400)
    assert err["param"] == "limits.rpm"
    assert_error(await admin(r, "POST", "/admin/v1/keys", {"user": "ada", "surfaces": ["chat", "nope"]}), 400)
    assert_error(await admin(r, "POST", "/admin/v1/keys", {"user": "ada", "expires_at": "2001-01-01T00:00:00Z"}), 400)
    assert_error(await admin(r, "POST", "/admin/v1/keys", {"user": "nobody"}), 404)
    assert_error(await admin(r, "GET", "/admin/v1/users/nobody"), 404, "not_found")
    assert_error(await admin(r, "PUT", "/admin/v1/users/ada"), 405)
    assert_error(await admin(r, "GET", "/admin/v1/users", headers={}), 401)


async def test_only_administrators_reach_the_admin_api(mocks: Mocks, router: RouterFactory) -> None:
    r, _ = await started(mocks, router)
    user_key = await new_key(r)
    assert_error(await admin(r, "GET", "/admin/v1/users", headers=bearer(user_key)), 403, "permission_denied")
    assert_error(await admin(r, "GET", "/metrics", headers=bearer(user_key)), 403)
    await admin(r, "POST", "/admin/v1/users", {"name": "root", "admin": True}, status=201)
    root_key = await new_key(r, user="root")
    await admin(r, "GET", "/admin/v1/users", headers=bearer(root_key), status=200)
    await admin(r, "GET", "/metrics", headers=bearer(root_key), status=200)


# --- using a key -----------------------------------------------------------------------------------
async def test_a_stored_key_reaches_the_models_and_is_recorded(mocks: Mocks, router: RouterFactory,
                                                               access_log: list[dict[str, Any]]) -> None:
    r, a = await started(mocks, router)
    key = await new_key(r, name="laptop")
    got: list[RequestRecord] = []
    r.app.sinks.append(got.append)
    assert (await chat(r, headers=bearer(key))).status_code == 200
    assert (await chat(r, headers={"x-api-key": key["key"]})).status_code == 200
    assert [rec.principal.key_id for rec in got] == [key["id"], key["id"]]
    assert "authorization" not in a.received[0].headers or key["key"] not in a.received[0].headers["authorization"]
    mine = (await admin(r, "GET", "/v1/key", headers=bearer(key), status=200)).json()
    assert mine["id"] == key["id"] and mine["name"] == "laptop" and mine["user"] == "ada" and "key" not in mine
    assert_error(await admin(r, "GET", "/v1/key"), 404)  # the master key is no stored key
    for wrong in (key["key"][:-1] + ("A" if key["key"][-1] != "A" else "B"), key["key"] + "x", "hf_hr_nope"):
        assert_error(await chat(r, headers=bearer(wrong)), 401, "invalid_api_key")
    logged = str(access_log)
    assert key["key"] not in logged and key["key"].rsplit("_", 1)[1] not in logged


async def test_a_key_reaches_only_its_models_providers_and_surfaces(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    r = await router.start(config(a, b, server={"master_key": MASTER}))
    await admin(r, "POST", "/admin/v1/users", {"name": "ada"}, status=201)
    only_other = await new_key(r, models=["other/*", "ACME/chat-*"])
    assert (await chat(r, headers=bearer(only_other))).status_code == 200  # patterns ignore case
    only_x = await new_key(r, models=["other/*"])
    err = assert_error(await chat(r, headers=bearer(only_x)), 403, "model_not_allowed")
    assert "other/*" in err["message"]
    only_b = await new_key(r, providers=["b"])
    resp = await chat(r, headers=bearer(only_b))
    assert resp.status_code == 200 and resp.headers["x-inference-provider"] == "b"
    assert_error(await chat(r, f"{MODEL}:a", headers=bearer(only_b)), 403, "provider_not_allowed")
    chat_only = await new_key(r, surfaces=["chat"])
    assert (await chat(r, headers=bearer(chat_only))).status_code == 200
    async with r.client(headers=bearer(chat_only)) as c:
        resp = await c.post("/v1/embeddings", json={"model": MODEL, "input": "hi"})
    assert_error(resp, 403, "permission_denied")
    assert a.hits + b.hits == 3  # nothing refused reached a provider


async def test_a_patch_changes_the_limits_it_names_and_keeps_the_others(mocks: Mocks, router: RouterFactory) -> None:
    r, _ = await started(mocks, router)
    key = await new_key(r, limits={"rpm": 10, "tpm": 1000})
    for path in ("/admin/v1/users/ada", "/admin/v1/orgs/acme", f"/admin/v1/keys/{key['id']}"):
        if "orgs" in path:
            await admin(r, "POST", "/admin/v1/orgs", {"name": "acme", "limits": {"rpm": 10, "tpm": 1000}})
        elif "users" in path:
            await admin(r, "PATCH", path, {"limits": {"rpm": 10, "tpm": 1000}}, status=200)
        changed = (await admin(r, "PATCH", path, {"limits": {"tpm": None, "concurrency": 2}}, status=200)).json()
        assert changed["limits"] == {"rpm": 10, "tpm": None, "concurrency": 2}, path
        assert (await admin(r, "GET", path, status=200)).json()["limits"] == changed["limits"], path
        refused = await admin(r, "PATCH", path, {"limits": {"rpm": 0}}, status=400)
        assert refused.json()["error"]["param"] == "limits.rpm", path


async def test_a_limit_beyond_what_the_store_keeps_is_refused(mocks: Mocks, router: RouterFactory,
                                                               store_url: str) -> None:
    """Limits are 32-bit integers in the store (PostgreSQL's INTEGER): a larger one is a 400 naming
    it, on every kind of owner, and the largest that fits is kept as given."""
    r, _ = await started(mocks, router, store=store_url)
    await admin(r, "POST", "/admin/v1/orgs", {"name": "acme"}, status=201)
    largest = 2**31 - 1
    for method, path in (("POST", "/admin/v1/keys"), ("PATCH", "/admin/v1/users/ada"),
                         ("PATCH", "/admin/v1/orgs/acme")):
        body: dict[str, Any] = {"user": "ada"} if path.endswith("keys") else {}
        refused = await admin(r, method, path, {**body, "limits": {"tpm": 10**12}}, status=400)
        assert refused.json()["error"]["param"] == "limits.tpm", path
        kept = (await admin(r, method, path, {**body, "limits": {"tpm": largest}})).json()
        assert kept["limits"]["tpm"] == largest, path


async def test_an_amount_beyond_what_the_store_keeps_is_refused(mocks: Mocks, router: RouterFactory,
                                                                 store_url: str) -> None:
    """Amounts are kept in nano-dollars, 64-bit integers: a grant, a budget or a key's budget of more
    than a billion dollars is a 400 naming it (it overflowed the column: a 500); a billion is kept."""
    r, _ = await started(mocks, router, store=store_url)
    for method, path, body, param in (
            ("POST", "/admin/v1/credits", {"user": "ada"}, "usd"),
            ("POST", "/admin/v1/credits", {"user": "ada", "note": "a deduction"}, "usd"),
            ("PUT", "/admin/v1/budgets", {"user": "ada", "period": "day"}, "usd"),
            ("POST", "/admin/v1/keys", {"user": "ada", "budget": {"period": "day"}}, "budget.usd")):
        deduction = "note" in body
        def amount(usd: float, body: dict[str, Any] = body) -> dict[str, Any]:
            if "budget" in body:
                return {**body, "budget": {**body["budget"], "usd": usd}}
            return {**body, "usd": usd}
        refused = await admin(r, method, path, amount(-1e12 if deduction else 1e12), status=400)
        assert refused.json()["error"]["param"] == param, (path, refused.text)
        kept = await admin(r, method, path, amount(-1e9 if deduction else 1e9))
        assert kept.status_code in (200, 201), (path, kept.text)
    balance = (await admin(r, "GET", "/admin/v1/credits?user=ada", status=200)).json()
    assert balance["balance_usd"] == 0.0


async def test_a_patch_of_null_removes_a_keys_restriction_budget_or_expiry(
        mocks: Mocks, router: RouterFactory) -> None:
    r, _ = await started(mocks, router)
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    key = await new_key(r, models=["other/*"], providers=["b"], surfaces=["embeddings"],
                        budget={"usd": 5, "period": "day"}, expires_at=soon)
    path = f"/admin/v1/keys/{key['id']}"
    assert_error(await chat(r, headers=bearer(key)), 403, "permission_denied")  # (chat: not its surface)
    renamed = (await admin(r, "PATCH", path, {"name": "kept"}, status=200)).json()  # the others as they were
    assert (renamed["models"], renamed["budget"]["usd"], renamed["expires_at"] is not None) == (["other/*"], 5, True)
    freed = (await admin(r, "PATCH", path, {"models": None, "providers": None, "surfaces": None, "budget": None,
                                            "expires_at": None}, status=200)).json()
    assert (freed["models"], freed["providers"], freed["surfaces"]) == (None, None, None)
    assert freed["budget"] is None and freed["expires_at"] is None and freed["name"] == "kept"
    fresh = (await admin(r, "PATCH", path, {"budget": {"usd": 2}}, status=200)).json()  # none before: a month
    assert fresh["budget"] == {"usd": 2.0, "period": "month"}
    await admin(r, "PATCH", path, {"budget": {"usd": 2, "period": "day"}}, status=200)
    assert (await admin(r, "PATCH", path, {"budget": {"usd": 3}}, status=200)).json()["budget"] == {
        "usd": 3.0, "period": "day"}  # a new amount alone keeps the period
    assert (await chat(r, headers=bearer(key))).status_code == 200


async def test_revoked_rotated_expired_and_blocked_keys(mocks: Mocks, router: RouterFactory) -> None:
    r, _ = await started(mocks, router)
    key = await new_key(r)
    assert (await chat(r, headers=bearer(key))).status_code == 200
    rotated = (await admin(r, "POST", f"/admin/v1/keys/{key['id']}/rotate", status=200)).json()
    assert_error(await chat(r, headers=bearer(key)), 401, "invalid_api_key")  # at once, on this router
    assert (await chat(r, headers=bearer(rotated))).status_code == 200
    await admin(r, "PATCH", f"/admin/v1/keys/{key['id']}", {"blocked": True}, status=200)
    assert_error(await chat(r, headers=bearer(rotated)), 403, "blocked_api_key")
    await admin(r, "PATCH", f"/admin/v1/keys/{key['id']}", {"blocked": False}, status=200)
    await admin(r, "PATCH", "/admin/v1/users/ada", {"blocked": True}, status=200)
    assert_error(await chat(r, headers=bearer(rotated)), 403, "blocked_api_key")  # its owner is
    await admin(r, "PATCH", "/admin/v1/users/ada", {"blocked": False}, status=200)
    assert (await chat(r, headers=bearer(rotated))).status_code == 200
    assert (await admin(r, "DELETE", f"/admin/v1/keys/{key['id']}", status=200)).json()["status"] == "revoked"
    assert_error(await chat(r, headers=bearer(rotated)), 401, "revoked_api_key")

    soon = await new_key(r, expires_at=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    assert (await chat(r, headers=bearer(soon))).status_code == 200
    await asyncio.sleep(1.1)
    assert_error(await chat(r, headers=bearer(soon)), 401, "expired_api_key")


async def test_a_key_revoked_on_one_router_is_refused_by_another_within_a_second(
        mocks: Mocks, router: RouterFactory, store_url: str) -> None:
    first, a = await started(mocks, router, store=store_url)
    second = await router.start(config(a, server={"master_key": MASTER}, store={"url": store_url}))
    key = await new_key(first)
    for _ in range(3):  # known to the second router, and cached there
        assert (await chat(second, headers=bearer(key))).status_code == 200
    await admin(first, "DELETE", f"/admin/v1/keys/{key['id']}", status=200)
    revoked_at = time.monotonic()
    while (await chat(second, headers=bearer(key))).status_code == 200:
        assert time.monotonic() - revoked_at < 1.0, "still accepted a second after its revocation"
        await asyncio.sleep(0.02)


async def test_without_a_master_key_requests_without_a_key_are_anonymous(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    r = await router.start(config(a))
    await admin(r, "POST", "/admin/v1/users", {"name": "ada"}, headers={}, status=201)
    key = await new_key(r)
    assert (await chat(r)).status_code == 200
    assert (await chat(r, headers=bearer("hf_" + "x" * 34))).status_code == 200  # a client's HF token: not ours
    assert (await chat(r, headers=bearer(key))).status_code == 200
    assert_error(await chat(r, headers=bearer(key["key"][:-2])), 401)  # one of ours, malformed


# --- the database cut off --------------------------------------------------------------------------
async def test_known_keys_keep_working_while_the_database_is_cut_off(
        mocks: Mocks, router: RouterFactory, postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    host, port = "127.0.0.1", int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    proxy = await TcpProxy(host, port).start()
    try:
        r, _ = await started(mocks, router, store=proxy.url_for(postgres_url))
        known, unknown = await new_key(r), await new_key(r)
        assert (await chat(r, headers=bearer(known))).status_code == 200
        caplog.set_level(logging.INFO)
        proxy.cut()
        for _ in range(20):
            assert (await chat(r, headers=bearer(known))).status_code == 200
            await asyncio.sleep(0.1)  # past the cache's freshness: each look-up fails
        err = assert_error(await chat(r, headers=bearer(unknown)), 503, "service_unavailable")
        assert "store" in err["message"]
        assert (await admin(r, "GET", "/admin/v1/users")).status_code == 503
        down = [rec for rec in caplog.records if "cannot be reached" in rec.getMessage()]
        assert len(down) == 1, [rec.getMessage() for rec in down]  # one line, not one per request
        proxy.restore()
        deadline = time.monotonic() + 10
        while (await chat(r, headers=bearer(unknown))).status_code != 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert any("reachable again" in rec.getMessage() for rec in caplog.records)
    finally:
        await proxy.close()


async def test_the_store_is_a_file_that_survives_a_restart(mocks: Mocks, router: RouterFactory, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'hubroute.db'}"
    r, a = await started(mocks, router, store=url)
    key = await new_key(r)
    await r.stop()
    again = await router.start(config(a, server={"master_key": MASTER}, store={"url": url}))
    assert (await chat(again, headers=bearer(key))).status_code == 200
    assert (tmp_path / "data" / "hubroute.db").exists()


async def test_a_router_can_run_without_a_store(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}, store={"enabled": False}))
    assert r.app.store is None
    assert (await chat(r, headers=ADMIN)).status_code == 200
    assert_error(await admin(r, "GET", "/admin/v1/users"), 503)
    async with httpx.AsyncClient(base_url=r.url) as c:
        assert (await c.get("/health")).status_code == 200


async def test_a_nul_character_in_a_url_or_an_admin_body_is_a_400(mocks: Mocks, router: RouterFactory,
                                                                   store_url: str) -> None:
    """PostgreSQL's text cannot hold a NUL: a name, an id or a note holding one is refused where the
    request is read (a 400 naming it), never sent to the database (which answered 500)."""
    r, _ = await started(mocks, router, store=store_url)
    for target in ("/admin/v1/users/%00", "/admin/v1/keys?user=%00", "/admin/v1/orgs/a%00/members",
                   "/admin/v1/usage?user=%00", "/admin/v1/credits?org=%00", "/v1/responses/resp_%00"):
        got = await admin(r, "GET", target, status=400)
        assert got.json()["error"]["code"] == "invalid_url", target
    for path, body, param in (("/admin/v1/keys", {"user": "ada", "name": "n\u0000"}, "name"),
                              ("/admin/v1/keys", {"user": "a\u0000da"}, "user"),
                              ("/admin/v1/keys", {"user": "ada", "models": ["m\u0000"]}, "models[0]"),
                              ("/admin/v1/credits", {"user": "ada", "usd": 1, "note": "x\u0000"}, "note"),
                              ("/admin/v1/users", {"name": "bob", "metadata": {"k\u0000": 1}}, "metadata.k\u0000")):
        got = await admin(r, "POST", path, body, status=400)
        assert got.json()["error"]["param"] == param, got.text


async def test_times_past_the_last_year_are_a_400(mocks: Mocks, router: RouterFactory, store_url: str) -> None:
    r, _ = await started(mocks, router, store=store_url)
    refused = await admin(r, "POST", "/admin/v1/keys", {"user": "ada", "expires_at": "9999-12-31T23:59:59-23:59"},
                          status=400)
    assert refused.json()["error"]["param"] == "expires_at"
    for query in ("from=9999-12-31T23:59:59-23:59", "to=9999-12-31", "to=0001-01-01T00:00:00%2B23:59"):
        got = await admin(r, "GET", f"/admin/v1/usage?{query}", status=400)
        assert got.json()["error"]["param"] == query.split("=")[0], query
    assert (await admin(r, "GET", "/admin/v1/usage?from=2026-01-01&to=9999-12-30", status=200)).json()["data"] == []


async def test_a_name_is_read_from_the_url_decoded_once(mocks: Mocks, router: RouterFactory) -> None:
    """`/admin/v1/users/a%2541` names the user `a%41` (its URL decoded once, by the server), not `aA`."""
    r, _ = await started(mocks, router)
    await admin(r, "POST", "/admin/v1/users", {"name": "a%41"}, status=201)
    assert (await admin(r, "GET", "/admin/v1/users/a%2541", status=200)).json()["name"] == "a%41"
    await admin(r, "GET", "/admin/v1/users/aA", status=404)
    assert (await admin(r, "PATCH", "/admin/v1/users/a%2541", {"blocked": True}, status=200)).json()["blocked"]
