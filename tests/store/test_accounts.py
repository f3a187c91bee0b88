"""The store against real SQLite files and a real PostgreSQL database: its migrations, and the
accounts and keys the admin API and authentication stand on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hubroute.errors import ConfigError, Conflict, InvalidRequest, NotFound
from hubroute.store import Store, create_engine, driver_url, keys, migrate
from hubroute.store.migrate import HEAD, SCRIPTS, current, ensure_latest
from hubroute.store.schema import VERSION_TABLE, api_keys, metadata


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    yield opened
    await opened.close()


# --- migrations ------------------------------------------------------------------------------------
async def test_a_new_database_is_migrated_to_the_latest_schema_once(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        assert await current(engine) is None
        assert await ensure_latest(engine) is None
        assert await current(engine) == HEAD
        assert await ensure_latest(engine) == HEAD  # nothing to do the second time
    finally:
        await engine.dispose()


def test_head_is_the_latest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


async def test_the_migrations_build_exactly_the_schema_of_schema_py(store_url: str) -> None:
    """What the migrations make and what the code queries are one schema: Alembic finds no difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(store_url)
    try:
        async with engine.begin() as conn:  # every migration from an empty database (not create_all)
            await conn.run_sync(migrate._upgrade)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True, "version_table": VERSION_TABLE,
                                                    "include_name": migrate.include_name}), metadata))
        assert diff == []
    finally:
        await engine.dispose()


async def test_an_older_database_is_migrated_with_its_rows(store_url: str) -> None:
    from alembic import command

    engine = create_engine(store_url)
    try:
        async with engine.begin() as conn:  # a database left by the first hubroute with accounts
            await conn.run_sync(lambda c: command.upgrade(_config(c), "0001_accounts"))
            await conn.execute(sa.text("INSERT INTO users (id, name, admin, blocked, metadata, created_at) "
                                       "VALUES ('u1', 'ada', false, false, '{}', CURRENT_TIMESTAMP)"))
        assert await ensure_latest(engine) == "0001_accounts"
        assert await current(engine) == HEAD
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text("SELECT name, credits_nano FROM users"))).one()
        assert tuple(row) == ("ada", 0)  # kept, with the columns added since
    finally:
        await engine.dispose()


async def test_the_ledger_keeps_its_rows_when_its_key_becomes_a_number(store_url: str) -> None:
    from alembic import command

    engine = create_engine(store_url)
    columns = ("id, request_id, created_at, surface, byok, status, attempts, key_id, cost_nano")
    try:
        async with engine.begin() as conn:  # a ledger whose rows had random strings for ids
            await conn.run_sync(lambda c: command.upgrade(_config(c), "0005_account_limits"))
            for rid, minute, key in (("zz", 2, "k1"), ("aa", 1, None)):
                await conn.execute(sa.text(f"INSERT INTO usage ({columns}) VALUES (:id, :req, :at, 'chat', false, "  # noqa: S608
                                           "200, 1, :key, 5)"),
                                   {"id": rid, "req": f"req-{rid}", "key": key,
                                    "at": datetime(2026, 12, 1, 0, minute, tzinfo=UTC)})
        assert await ensure_latest(engine) == "0005_account_limits"
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT id, request_id, key_id FROM usage ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "req-aa", None), (2, "req-zz", "k1")]  # numbered in time order
    finally:
        await engine.dispose()


def _config(connection: Any) -> Any:
    return migrate._config(connection)


async def test_routers_starting_together_migrate_once(postgres_url: str) -> None:
    engines = [create_engine(postgres_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(ensure_latest(e) for e in engines))
        assert sorted(results, key=str) == [None, None, None] or HEAD in results
        assert await current(engines[0]) == HEAD
    finally:
        for e in engines:
            await e.dispose()


async def test_a_database_from_a_newer_hubroute_is_refused(store_url: str) -> None:
    (await Store.open(store_url)).engine  # noqa: B018
    engine = create_engine(store_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0999_future'"))  # noqa: S608
    await engine.dispose()
    with pytest.raises(ConfigError, match=r"store.url: the database's schema \(0999_future\) is newer"):
        await Store.open(store_url)


def test_store_urls() -> None:
    assert driver_url("sqlite:////var/lib/hubroute.db") == "sqlite+aiosqlite:////var/lib/hubroute.db"
    assert driver_url("postgres://u:p@db/x") == "postgresql+asyncpg://u:p@db/x"
    with pytest.raises(ConfigError, match=r"store\.url"):
        driver_url("mysql://db/x")
    with pytest.raises(ConfigError, match=r"store\.url"):
        driver_url("hubroute.db")


# --- users and organisations ------------------------------------------------------------------------
async def test_users_and_organisations(store: Store) -> None:
    a = store.accounts
    ada = await a.create_user("ada", metadata={"team": "ml"})
    assert ada["name"] == "ada" and ada["admin"] is False and ada["metadata"] == {"team": "ml"}
    assert ada["created_at"].endswith("Z")
    with pytest.raises(Conflict):
        await a.create_user("ada")
    assert (await a.user(ada["id"])) == (await a.user("ada")) == ada
    with pytest.raises(NotFound):
        await a.user("nobody")
    acme = await a.create_org("acme")
    assert await a.add_member("acme", "ada", "admin") == {"org": "acme", "user": "ada", "role": "admin"}
    assert await a.add_member(acme["id"], ada["id"], "member") == {"org": "acme", "user": "ada", "role": "member"}
    [member] = await a.members("acme")
    assert member["user"] == "ada" and member["role"] == "member"
    assert await a.memberships(ada["id"]) == {acme["id"]: "member"}
    with pytest.raises(InvalidRequest):
        await a.add_member("acme", "ada", "owner")
    assert (await a.update_user("ada", blocked=True))["blocked"] is True
    assert [u["name"] for u in await a.users()] == ["ada"]
    await a.remove_member("acme", "ada")
    with pytest.raises(NotFound):
        await a.remove_member("acme", "ada")
    for bad in ("", " ada", "x" * 129, "tab\tname", "a/b"):
        with pytest.raises(InvalidRequest):
            await a.create_user(bad)


# --- keys --------------------------------------------------------------------------------------------
async def test_a_key_is_shown_once_and_stored_as_a_digest(store: Store) -> None:
    a = store.accounts
    await a.create_user("ada")
    record, secret = await a.create_key(user="ada", name="laptop", models=["meta-llama/*"],
                                        limits={"rpm": 60, "tpm": None, "concurrency": 2})
    assert keys.parse(secret) == record["id"] and secret.startswith(record["prefix"] + "_")
    assert record["status"] == "active" and record["user"] == "ada" and record["org"] is None
    assert record["limits"] == {"rpm": 60, "tpm": None, "concurrency": 2} and "key" not in record
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(api_keys))).mappings().all()
    stored = " ".join(str(v) for row in rows for v in row.values())
    assert secret not in stored and secret.rsplit("_", 1)[1] not in stored  # neither the key nor its secret
    assert rows[0]["hash"] == keys.digest(secret)
    found = await a.key_record(record["id"])
    assert found is not None and keys.matches(secret, found.hash)
    assert found.models == ("meta-llama/*",) and found.limits == {"rpm": 60, "concurrency": 2}


async def test_revoking_and_rotating(store: Store) -> None:
    a = store.accounts
    await a.create_org("acme")
    record, first = await a.create_key(org="acme", name="ci")
    rotated, second = await a.rotate_key(record["id"])
    assert rotated["id"] == record["id"] and rotated["rotated_at"] and second != first
    found = await a.key_record(record["id"])
    assert found is not None and keys.matches(second, found.hash) and not keys.matches(first, found.hash)
    assert (await a.revoke_key(record["id"]))["status"] == "revoked"
    assert (await a.key_record(record["id"])).revoked  # type: ignore[union-attr]
    assert await a.keys(org="acme") == [] and len(await a.keys(org="acme", revoked=True)) == 1
    with pytest.raises(InvalidRequest, match="revoked"):
        await a.rotate_key(record["id"])
    with pytest.raises(NotFound):
        await a.revoke_key("nosuchkey000")


async def test_a_key_is_blocked_with_its_owner_and_deleted_with_it(store: Store) -> None:
    a = store.accounts
    await a.create_user("bob")
    await a.create_org("acme")
    mine, _ = await a.create_key(user="bob")
    ours, _ = await a.create_key(org="acme")
    await a.update_user("bob", blocked=True)
    await a.update_org("acme", blocked=True)
    assert (await a.key_record(mine["id"])).blocked  # type: ignore[union-attr]
    assert (await a.key_record(ours["id"])).blocked  # type: ignore[union-attr]
    await a.delete_user("bob")
    assert await a.key_record(mine["id"]) is None


async def test_key_owners_and_billing_targets_are_checked(store: Store) -> None:
    a = store.accounts
    await a.create_user("ada")
    await a.create_org("acme")
    await a.create_org("other")
    await a.add_member("acme", "ada")
    with pytest.raises(InvalidRequest):
        await a.create_key()
    with pytest.raises(InvalidRequest):
        await a.create_key(user="ada", org="acme")
    with pytest.raises(InvalidRequest, match="not a member of 'other'"):
        await a.create_key(user="ada", bill_to="other")
    record, _ = await a.create_key(user="ada", bill_to="acme",
                                   expires_at=datetime.now(UTC) + timedelta(days=1))
    assert record["bill_to"] == "acme" and record["expires_at"]
    past, _ = await a.create_key(user="ada", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert past["status"] == "expired"
