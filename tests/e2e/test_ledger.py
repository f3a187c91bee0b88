"""The usage ledger end to end: a row for each request on a metered route, as the request record says;
every row there after a SIGTERM under load; every row arriving after the database was cut off."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from hubroute.store import create_engine
from hubroute.store.schema import usage
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.serving import Serve, clean_env
from tests.e2e.support import CHAT, HI, MODEL, chat, config, stream_chat
from tests.mocks import json_reply, sse_reply, stream_events
from tests.proxy import TcpProxy

MASTER = "sk-hubroute-master-key-1"
ADMIN = {"authorization": f"Bearer {MASTER}"}
PRICES = {"a": {"input": 1.0, "output": 2.0}}


async def ledger_rows(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(usage).order_by(usage.c.created_at))).mappings().all())
    finally:
        await engine.dispose()


async def until_rows(url: str, count: int, timeout: float = 10) -> list[Any]:
    deadline = time.monotonic() + timeout
    while len(rows := await ledger_rows(url)) < count:
        assert time.monotonic() < deadline, f"{len(rows)} rows of {count}"
        await asyncio.sleep(0.05)
    return rows


async def test_each_metered_request_is_one_row(mocks: Mocks, router: RouterFactory, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hubroute.db'}"
    a = await mocks.start("a")
    a.enqueue(json_reply({"error": {"message": "down"}}, status=500))
    r = await router.start(config(a, pricing=PRICES, server={"master_key": MASTER},
                                  store={"url": url, "flush_interval": 0.05}))
    async with r.client(headers=ADMIN) as c:
        await c.post("/admin/v1/users", json={"name": "ada"})
        key = (await c.post("/admin/v1/keys", json={"user": "ada"})).json()
        await c.get("/health")
        await c.get("/v1/models")
    assert (await chat(r, headers=ADMIN)).status_code == 502
    user = {"authorization": f"Bearer {key['key']}"}
    resp = await chat(r, headers=user)
    assert resp.status_code == 200
    stream, _ = await stream_chat(r, headers={**user, "x-request-id": "my-request-7"})
    assert stream.status_code == 200
    failed, whole, streamed = await until_rows(url, 3)
    await asyncio.sleep(0.2)
    assert len(await ledger_rows(url)) == 3  # health, models, the admin API: no rows
    assert (failed["status"], failed["error"], failed["key_id"], failed["attempts"]) == (
        502, "all_providers_failed", "master", 1)
    assert whole["request_id"] == resp.headers["x-request-id"] and whole["key_id"] == key["id"]
    assert whole["user_id"] is not None and whole["surface"] == "chat" and whole["provider"] == "a"
    assert (whole["model"], whole["provider_model"], whole["task"]) == (MODEL, "a-model", "conversational")
    assert (whole["input_tokens"], whole["output_tokens"], whole["usage_source"]) == (7, 5, "provider")
    assert whole["cost_nano"] == 7 * 1000 + 5 * 2000  # $1/M in, $2/M out: exact in nano-dollars
    assert whole["status"] == 200 and whole["duration_ms"] > 0 and whole["ttfb_ms"] > 0
    assert streamed["request_id"] == "my-request-7" and streamed["output_tokens"] == 4


async def test_sigterm_under_load_loses_no_row(serve: Serve, mocks: Mocks, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    a = await mocks.start("a", default=sse_reply(stream_events([f" w{i}" for i in range(10)]), delay=0.05))
    # a long flush interval: what is there after the exit was written by the shutdown, not by a timer
    await serve.start(config(a, store={"url": url, "flush_interval": 60}), env=clean_env())
    await serve.healthy()
    answered = 0

    async def one(c: httpx.AsyncClient) -> None:
        nonlocal answered
        try:
            async with c.stream("POST", f"{serve.url}{CHAT}", json={"model": MODEL, "messages": HI,
                                                                     "stream": True}) as resp:
                await resp.aread()
            answered += 1
        except httpx.TransportError:  # refused once the router stopped accepting
            pass

    async with httpx.AsyncClient(timeout=30) as c:
        tasks = [asyncio.create_task(one(c)) for _ in range(40)]
        await asyncio.sleep(0.3)  # in flight
        serve.signal(signal.SIGTERM)
        more = [asyncio.create_task(one(c)) for _ in range(20)]
        await asyncio.gather(*tasks, *more)
    assert await serve.wait(30) == 0, serve.stderr
    assert answered >= 40
    assert len(await ledger_rows(url)) == answered


async def test_rows_arrive_after_the_database_was_cut_off_under_load(
        mocks: Mocks, router: RouterFactory, postgres_url: str) -> None:
    port = int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    proxy = await TcpProxy("127.0.0.1", port).start()
    try:
        a = await mocks.start("a")
        r: RunningRouter = await router.start(config(a, server={"master_key": MASTER}, store={
            "url": proxy.url_for(postgres_url), "flush_interval": 0.1}))
        async with r.client(headers=ADMIN) as c:
            await c.post("/admin/v1/users", json={"name": "ada"})
            key = (await c.post("/admin/v1/keys", json={"user": "ada"})).json()
        user = {"authorization": f"Bearer {key['key']}"}
        sent = 0
        ended = time.monotonic() + 2
        while time.monotonic() < ended:  # load before the cut
            assert (await chat(r, headers=user)).status_code == 200
            sent += 1
        proxy.cut()
        ended = time.monotonic() + 20
        while time.monotonic() < ended:  # 20 s without the database: the cached key keeps working
            assert (await chat(r, headers=user)).status_code == 200
            sent += 1
        assert len(await ledger_rows(postgres_url)) < sent
        proxy.restore()
        rows = await until_rows(postgres_url, sent, timeout=20)
        assert len(rows) == sent and len({row["id"] for row in rows}) == sent
        assert {row["key_id"] for row in rows} == {key["id"]}
        # in the partition of their month, which the router made at start: none waited in the default one
        engine = create_engine(postgres_url)
        try:
            async with engine.connect() as conn:
                where = (await conn.execute(sa.text("SELECT DISTINCT tableoid::regclass::text FROM usage"))).scalars()
                held = list(where)
        finally:
            await engine.dispose()
        assert held and all(re.fullmatch(r"usage_\d{6}01_\d{6}01", name) for name in held), held
    finally:
        await proxy.close()


async def test_usage_reports_and_a_keys_own_totals(mocks: Mocks, router: RouterFactory, tmp_path: Path) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    prices = {"a": {"input": 1.0, "output": 2.0}, "b": {"input": 3.0, "output": 6.0}}
    r = await router.start(config(a, b, pricing=prices, server={"master_key": MASTER},
                                  store={"url": f"sqlite:///{tmp_path / 'h.db'}", "flush_interval": 0.05}))
    async with r.client(headers=ADMIN) as c:
        for name in ("ada", "bob"):
            await c.post("/admin/v1/users", json={"name": name})
        ada = (await c.post("/admin/v1/keys", json={"user": "ada"})).json()
        bob = (await c.post("/admin/v1/keys", json={"user": "bob"})).json()
    for key, model, times in ((ada, f"{MODEL}:a", 3), (ada, f"{MODEL}:b", 1), (bob, f"{MODEL}:b", 2)):
        for _ in range(times):
            assert (await chat(r, model, headers={"authorization": f"Bearer {key['key']}"})).status_code == 200
    await until_rows(f"sqlite:///{tmp_path / 'h.db'}", 6)
    async with r.client(headers=ADMIN) as c:
        groups = (await c.get("/admin/v1/usage?group_by=user,provider")).json()["data"]
        csv = await c.get("/admin/v1/usage", params={"group_by": "day", "format": "csv"})
        rows = (await c.get("/admin/v1/usage", params={"user": "bob", "limit": "1"})).json()["data"]
        bad = await c.get("/admin/v1/usage?group_by=colour")
        mine = (await c.get("/v1/key", headers={"authorization": f"Bearer {ada['key']}"})).json()
    cost_a, cost_b = (7 * 1 + 5 * 2) / 1e6, (7 * 3 + 5 * 6) / 1e6
    assert [(g["user"], g["provider"], g["requests"], g["input_tokens"], g["output_tokens"]) for g in groups] == [
        ("ada", "a", 3, 21, 15), ("ada", "b", 1, 7, 5), ("bob", "b", 2, 14, 10)]
    assert groups[0]["cost_usd"] == pytest.approx(3 * cost_a) and groups[2]["cost_usd"] == pytest.approx(2 * cost_b)
    assert csv.headers["content-type"].startswith("text/csv")
    header, line = csv.text.strip().splitlines()
    assert header.startswith("day,requests,errors,input_tokens") and line.split(",")[1] == "6"
    assert len(rows) == 1 and rows[0]["user"] == "bob" and rows[0]["provider"] == "b"
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"
    for period in ("day", "week", "month"):
        assert mine["usage"][period]["requests"] == 4
        assert mine["usage"][period]["cost_usd"] == pytest.approx(3 * cost_a + cost_b)


async def test_a_model_id_with_nul_never_stops_the_ledger(mocks: Mocks, router: RouterFactory,
                                                          store_url: str) -> None:
    """Any id pinned to an OpenAI-compatible server goes to it as given, NUL included, which
    PostgreSQL's text refuses: its row keeps it as U+FFFD, and the rows after it are written (one
    such request used to stop the ledger until the router restarted)."""
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}, store={"url": store_url,
                                                                             "flush_interval": 0.05}))
    weird = await chat(r, "weird\u0000id:a", headers=ADMIN)
    assert weird.status_code == 200, weird.text
    assert (await chat(r, headers=ADMIN)).status_code == 200
    rows = await until_rows(store_url, 2)
    assert sorted(str(row["provider_model"]) for row in rows) == ["a-model", "weird\ufffdid"]
