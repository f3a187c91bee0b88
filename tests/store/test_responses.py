"""Stored responses (the Responses API's `store: true`) on real SQLite files and a real PostgreSQL
database: a conversation read back through its chain, who may see a response, deletion, retention."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hubroute.store import Store
from hubroute.store.responses import Owner, Responses
from hubroute.store.schema import responses


@pytest.fixture
async def kept(store_url: str) -> AsyncIterator[tuple[Store, Responses]]:
    store = await Store.open(store_url)
    ada = await store.accounts.create_user("ada")
    await store.accounts.create_user("bob")
    await store.accounts.create_org("acme")
    assert ada["name"] == "ada"
    yield store, Responses(store.engine, retention_days=30, trips=store.trips)
    await store.close()


def made(rid: str, text: str, created_at: int | None = None) -> dict[str, Any]:
    return {"id": rid, "object": "response", "created_at": created_at or int(time.time()), "status": "completed",
            "output": [{"id": f"msg_{rid}", "type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": text}]}]}


def said(text: str) -> list[dict[str, Any]]:
    return [{"id": f"in_{text}", "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


async def ids(store: Store) -> dict[str, str]:
    users = {u["name"]: u["id"] for u in await store.accounts.users()}
    orgs = {o["name"]: o["id"] for o in await store.accounts.orgs()}
    return {**users, **orgs}


async def test_a_conversation_is_read_back_in_order_through_its_chain(kept: tuple[Store, Responses]) -> None:
    store, responses_ = kept
    who = await ids(store)
    ada = Owner(user=who["ada"], key="k1")
    await responses_.put(made("r1", "one"), said("a"), ada, None)
    await responses_.put(made("r2", "two"), said("b"), ada, "r1")
    await responses_.put(made("r3", "three"), said("c"), ada, "r2")
    items = await responses_.conversation("r3", ada)
    assert items is not None
    assert [i["id"] for i in items] == ["in_a", "msg_r1", "in_b", "msg_r2", "in_c", "msg_r3"]
    assert [i["id"] for i in await responses_.conversation("r2", ada) or []] == ["in_a", "msg_r1", "in_b", "msg_r2"]
    assert await responses_.conversation("nothing", ada) is None
    body, inputs = await responses_.get("r2", ada) or ({}, [])
    assert body["output"][0]["content"][0]["text"] == "two" and inputs == said("b")


async def test_a_response_is_seen_by_its_user_and_its_organisation_only(kept: tuple[Store, Responses]) -> None:
    store, responses_ = kept
    who = await ids(store)
    await responses_.put(made("mine", "x"), said("x"), Owner(user=who["ada"], org=who["acme"]), None)
    await responses_.put(made("master", "y"), said("y"), Owner(key="master"), None)
    assert await responses_.get("mine", Owner(user=who["ada"])) is not None
    assert await responses_.get("mine", Owner(org=who["acme"])) is not None  # a service key of acme
    assert await responses_.get("mine", Owner(user=who["bob"])) is None  # as for an unknown id
    assert await responses_.conversation("mine", Owner(user=who["bob"])) is None
    assert not await responses_.delete("mine", Owner(user=who["bob"]))
    assert await responses_.get("master", Owner(user=who["ada"])) is None
    assert await responses_.get("master", Owner(everyone=True)) is not None
    assert await responses_.delete("mine", Owner(org=who["acme"]))
    assert await responses_.get("mine", Owner(everyone=True)) is None


async def test_a_users_responses_go_with_the_user(kept: tuple[Store, Responses]) -> None:
    store, responses_ = kept
    who = await ids(store)
    await responses_.put(made("r1", "x"), said("x"), Owner(user=who["bob"]), None)
    await store.accounts.delete_user("bob")
    assert await responses_.get("r1", Owner(everyone=True)) is None


async def test_responses_older_than_the_retention_are_deleted(kept: tuple[Store, Responses]) -> None:
    store, responses_ = kept
    old = int((datetime.now(UTC) - timedelta(days=31)).timestamp())
    await responses_.put(made("old", "x", old), said("x"), Owner(key="master"), None)
    await responses_.put(made("new", "y"), said("y"), Owner(key="master"), None)
    assert await responses_.purge() == 1
    async with store.engine.connect() as conn:
        assert [r.id for r in await conn.execute(sa.select(responses.c.id))] == ["new"]


async def test_a_failed_write_is_told_without_what_it_wrote(kept: tuple[Store, Responses]) -> None:
    """A store error as the log says it (`store.reason`): the driver's message; and SQLAlchemy's own,
    as a traceback would print it, without the statement's parameters (here, a user's conversation)."""
    from hubroute.store import reason

    store, responses_ = kept
    who = await ids(store)
    ada = Owner(user=who["ada"])
    await responses_.put(made("twice", "the first answer"), said("a private question"), ada, None)
    with pytest.raises(sa.exc.IntegrityError) as caught:
        await responses_.put(made("twice", "a private answer"), said("a private question"), ada, None)
    assert "private" not in str(caught.value) and "INSERT" in str(caught.value)
    told = reason(caught.value)
    assert "private" not in told and "INSERT" not in told
    assert told.startswith(("IntegrityError", "UniqueViolationError")) and ("UNIQUE" in told or "unique" in told)
