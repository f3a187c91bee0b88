"""Users, organisations, their members, and API keys, in the store.

Every call is one short transaction. Users and organisations are named by their id or their unique
name wherever one is expected (`ref`). Answers are JSON-ready dicts, as the admin API gives them; a key's
secret is returned once, by `create_key` and `rotate_key`, and only its digest is kept.

Errors: `NotFound` (404) for what does not exist, `Conflict` (409) for a name taken, `Unavailable`
(503) when the database cannot be reached, `InvalidRequest` for a value the schema refuses.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from hubroute.errors import Conflict, InvalidRequest, NotFound, Unavailable
from hubroute.money import usd
from hubroute.store import keys as key_format
from hubroute.store.schema import api_keys, budgets, credit_entries, members, orgs, usage, users

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

ROLES = ("admin", "member")
#: the rate limits a key, a user or an organisation may have
LIMITS = ("rpm", "tpm", "concurrency")
PERIODS = ("day", "week", "month", "total")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive datetimes: they were stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@dataclass(slots=True, frozen=True)
class KeyRecord:
    """A stored key as authentication needs it: the key, its owner's standing, what it may do."""

    id: str
    hash: str
    name: str
    user_id: str | None
    org_id: str | None
    bill_to: str | None
    models: tuple[str, ...] | None
    providers: tuple[str, ...] | None
    surfaces: tuple[str, ...] | None
    limits: Mapping[str, int]
    #: the limits of its user, and of its organisation (its owner, else the one it bills by default)
    user_limits: Mapping[str, int]
    org_limits: Mapping[str, int]
    budget: Mapping[Any, Any] | None
    #: the key, its user or its organisation is blocked
    blocked: bool
    #: its user administers the deployment
    admin: bool
    expires_at: datetime | None
    revoked: bool


class Accounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; database failures as our errors."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except sa_exc.IntegrityError as exc:
            raise Conflict(f"already exists ({_constraint(exc)})") from None
        except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, ConnectionError) as exc:
            # (what the database said stays in the log: it may quote SQL; the client learns only this)
            raise Unavailable("the store cannot be reached: try again shortly") from exc

    # --- users and organisations: the same operations over two tables --------------------------------
    async def _create(self, table: sa.Table, kind: str, name: str, **values: Any) -> dict[str, Any]:
        _check_name(name, "name")
        row = {"id": key_format.new_id(), "name": name, "blocked": False, "created_at": now(), **values}
        async with self.transaction() as conn:
            if await _find(conn, table, name) is not None:
                raise Conflict(f"{kind} named '{name}' exists already", param="name")
            await conn.execute(table.insert().values(row))
        return _RENDER[table.name](row)

    async def _one(self, table: sa.Table, kind: str, ref: str) -> dict[str, Any]:
        async with self.transaction() as conn:
            return _RENDER[table.name](await _get(conn, table, ref, kind))

    async def _all(self, table: sa.Table) -> list[dict[str, Any]]:
        async with self.transaction() as conn:
            rows = (await conn.execute(table.select().order_by(table.c.created_at, table.c.id))).mappings()
            return [_RENDER[table.name](r) for r in rows]

    async def _update(self, table: sa.Table, kind: str, ref: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Set the `changes` that are not None (`limits`: those it names, None removing one)."""
        async with self.transaction() as conn:
            row = await _get(conn, table, ref, kind)
            values = {k: v for k, v in changes.items() if v is not None and k != "limits"}
            values.update({k: v for k, v in (changes.get("limits") or {}).items() if k in LIMITS})
            if values:
                await conn.execute(table.update().where(table.c.id == row["id"]).values(values))
            return _RENDER[table.name]({**row, **values})

    async def _delete(self, table: sa.Table, kind: str, ref: str) -> None:
        async with self.transaction() as conn:
            row = await _get(conn, table, ref, kind)
            await conn.execute(table.delete().where(table.c.id == row["id"]))

    async def create_user(self, name: str, *, admin: bool = False, metadata: Mapping[Any, Any] | None = None,
                          limits: Mapping[str, int | None] | None = None) -> dict[str, Any]:
        return await self._create(users, "a user", name, admin=admin, metadata=dict(metadata or {}),
                                  **{k: (limits or {}).get(k) for k in LIMITS})

    async def user(self, ref: str) -> dict[str, Any]:
        return await self._one(users, "user", ref)

    async def users(self) -> list[dict[str, Any]]:
        return await self._all(users)

    async def update_user(self, ref: str, **changes: Any) -> dict[str, Any]:
        return await self._update(users, "user", ref, changes)

    async def delete_user(self, ref: str) -> None:
        await self._delete(users, "user", ref)

    async def create_org(self, name: str, *, metadata: Mapping[Any, Any] | None = None,
                         limits: Mapping[str, int | None] | None = None) -> dict[str, Any]:
        return await self._create(orgs, "an organisation", name, metadata=dict(metadata or {}),
                                  **{k: (limits or {}).get(k) for k in LIMITS})

    async def org(self, ref: str) -> dict[str, Any]:
        return await self._one(orgs, "organisation", ref)

    async def orgs(self) -> list[dict[str, Any]]:
        return await self._all(orgs)

    async def update_org(self, ref: str, **changes: Any) -> dict[str, Any]:
        return await self._update(orgs, "organisation", ref, changes)

    async def delete_org(self, ref: str) -> None:
        await self._delete(orgs, "organisation", ref)

    async def add_member(self, org: str, user: str, role: str = "member") -> dict[str, Any]:
        """Make `user` a member of `org` with `role` (a member already: its role changes)."""
        if role not in ROLES:
            raise InvalidRequest(f"'role' must be one of {', '.join(ROLES)}", param="role")
        async with self.transaction() as conn:
            o = await _get(conn, orgs, org, "organisation")
            u = await _get(conn, users, user, "user")
            where = (members.c.org_id == o["id"]) & (members.c.user_id == u["id"])
            if (await conn.execute(sa.select(members.c.role).where(where))).first() is None:
                await conn.execute(members.insert().values(org_id=o["id"], user_id=u["id"], role=role,
                                                           created_at=now()))
            else:
                await conn.execute(members.update().where(where).values(role=role))
        return {"org": o["name"], "user": u["name"], "role": role}

    async def remove_member(self, org: str, user: str) -> None:
        async with self.transaction() as conn:
            o = await _get(conn, orgs, org, "organisation")
            u = await _get(conn, users, user, "user")
            done = await conn.execute(members.delete().where((members.c.org_id == o["id"]) &
                                                             (members.c.user_id == u["id"])))
            if not done.rowcount:
                raise NotFound(f"user '{u['name']}' is not a member of '{o['name']}'")

    async def members(self, org: str) -> list[dict[str, Any]]:
        async with self.transaction() as conn:
            o = await _get(conn, orgs, org, "organisation")
            rows = await conn.execute(
                sa.select(users.c.name, members.c.role, members.c.created_at)
                .join(users, users.c.id == members.c.user_id)
                .where(members.c.org_id == o["id"]).order_by(users.c.name))
            return [{"user": r.name, "role": r.role, "since": iso(r.created_at)} for r in rows]

    async def memberships(self, user_id: str) -> dict[str, str]:
        """The organisations `user_id` belongs to: org id -> role."""
        async with self.transaction() as conn:
            rows = await conn.execute(sa.select(members.c.org_id, members.c.role).where(members.c.user_id == user_id))
            return {r.org_id: r.role for r in rows}

    async def billable_org(self, ref: str) -> tuple[str, dict[str, int]] | None:
        """The id and rate limits of the organisation `ref` names (None: there is none)."""
        async with self.transaction() as conn:
            row = await _find(conn, orgs, ref)
        if row is None:
            return None
        return str(row["id"]), {k: row[k] for k in LIMITS if row[k] is not None}

    async def limits_in_force(self) -> list[str]:
        """What the store holds that a router enforces in its process: rate limits (of keys not revoked,
        users, organisations) and budgets, as phrases ("2 keys with limits or a budget", ...)."""
        limited = sa.or_(*(api_keys.c[k].isnot(None) for k in LIMITS), api_keys.c.budget_nano.isnot(None))
        counts = [
            ("keys with limits or a budget", sa.select(sa.func.count()).select_from(api_keys)
             .where(limited, api_keys.c.revoked_at.is_(None))),
            *((f"{table.name} with limits", sa.select(sa.func.count()).select_from(table)
               .where(sa.or_(*(table.c[k].isnot(None) for k in LIMITS)))) for table in (users, orgs)),
            ("budgets", sa.select(sa.func.count()).select_from(budgets)),
        ]
        found = []
        async with self.transaction() as conn:
            for what, query in counts:
                n = (await conn.execute(query)).scalar_one()
                if n:
                    found.append(f"{n} {what}")
        return found

    # --- credits and budgets ------------------------------------------------------------------------
    async def account(self, user: str | None, org: str | None) -> tuple[str, dict[str, Any]]:
        """("user" | "org", its row) for a request body naming one of them (exactly one)."""
        if (user is None) == (org is None):
            raise InvalidRequest("give a 'user' or an 'org'", param="user")
        if user is not None:
            return "user", await self.user(user)
        assert org is not None
        return "org", await self.org(org)

    async def credits(self, account: tuple[str, str]) -> int:
        """An account's credits left as the database has them (charges written with the ledger)."""
        table = users if account[0] == "user" else orgs
        async with self.transaction() as conn:
            found = (await conn.execute(sa.select(table.c.credits_nano).where(table.c.id == account[1]))).first()
        return int(found[0]) if found is not None else 0

    async def grant(self, kind: str, account_id: str, amount_nano: int, note: str, by: str | None) -> int:
        """Add (or, negative, deduct) credits; the balance after."""
        table = users if kind == "user" else orgs
        async with self.transaction() as conn:
            await conn.execute(credit_entries.insert().values(
                user_id=account_id if kind == "user" else None, org_id=account_id if kind == "org" else None,
                amount_nano=amount_nano, note=note, by=by, created_at=now()))
            await conn.execute(table.update().where(table.c.id == account_id)
                               .values(credits_nano=table.c.credits_nano + amount_nano))
            found = (await conn.execute(sa.select(table.c.credits_nano).where(table.c.id == account_id))).first()
        return int(found[0]) if found is not None else 0

    async def grants(self, kind: str, account_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        column = credit_entries.c.user_id if kind == "user" else credit_entries.c.org_id
        async with self.transaction() as conn:
            rows = await conn.execute(credit_entries.select().where(column == account_id)
                                      .order_by(credit_entries.c.id.desc()).limit(limit))
            return [{"usd": usd(r.amount_nano), "note": r.note, "by": r.by, "at": iso(r.created_at)} for r in rows]

    async def set_budget(self, kind: str, account_id: str, usd_nano: int, period: str,
                         include_byok: bool = True) -> dict[str, Any]:
        """Set (or replace) an account's budget for `period`."""
        column = budgets.c.user_id if kind == "user" else budgets.c.org_id
        async with self.transaction() as conn:
            await conn.execute(budgets.delete().where((column == account_id) & (budgets.c.period == period)))
            await conn.execute(budgets.insert().values(
                user_id=account_id if kind == "user" else None, org_id=account_id if kind == "org" else None,
                usd_nano=usd_nano, period=period, include_byok=include_byok, created_at=now()))
        return {"usd": usd(usd_nano), "period": period, "include_byok": include_byok}

    async def delete_budget(self, kind: str, account_id: str, period: str) -> None:
        column = budgets.c.user_id if kind == "user" else budgets.c.org_id
        async with self.transaction() as conn:
            done = await conn.execute(budgets.delete().where((column == account_id) & (budgets.c.period == period)))
            if not done.rowcount:
                raise NotFound(f"no {period} budget")

    async def budgets_of(self, account: tuple[str, str]) -> list[dict[str, Any]]:
        column = budgets.c.user_id if account[0] == "user" else budgets.c.org_id
        async with self.transaction() as conn:
            rows = (await conn.execute(budgets.select().where(column == account[1])
                                       .order_by(budgets.c.period))).mappings()
            return [{"usd_nano": r["usd_nano"], "period": r["period"], "include_byok": bool(r["include_byok"])}
                    for r in rows]

    async def spent(self, kind: str, scope_id: str, since: datetime | None) -> int:
        """What a key, user or organisation has spent since `since` (all time: None), as the ledger has it."""
        column = {"key": usage.c.key_id, "user": usage.c.user_id, "org": usage.c.org_id}[kind]
        query = sa.select(sa.func.coalesce(sa.func.sum(usage.c.cost_nano), 0)).where(column == scope_id)
        if since is not None:
            query = query.where(usage.c.created_at >= since)
        async with self.transaction() as conn:
            return int((await conn.execute(query)).scalar_one())

    # --- keys -----------------------------------------------------------------------------------
    async def create_key(
        self, *, user: str | None = None, org: str | None = None, name: str = "",
        models: Iterable[str] | None = None, providers: Iterable[str] | None = None,
        surfaces: Iterable[str] | None = None, limits: Mapping[str, int | None] | None = None,
        budget_nano: int | None = None, budget_period: str | None = None, bill_to: str | None = None,
        expires_at: datetime | None = None, metadata: Mapping[Any, Any] | None = None,
    ) -> tuple[dict[str, Any], str]:
        """A new key owned by `user` or `org` (exactly one); its record and the secret key."""
        if (user is None) == (org is None):
            raise InvalidRequest("a key is owned by a 'user' or an 'org': give one of them", param="user")
        key_id = key_format.new_id()
        secret = key_format.new_key(key_id)
        limits = limits or {}
        async with self.transaction() as conn:
            owner_user = await _get(conn, users, user, "user") if user is not None else None
            owner_org = await _get(conn, orgs, org, "organisation") if org is not None else None
            billed = await _get(conn, orgs, bill_to, "organisation") if bill_to is not None else None
            if billed is not None and owner_user is not None and billed["id"] not in await _member_of(
                    conn, owner_user["id"]):
                raise InvalidRequest(f"user '{owner_user['name']}' is not a member of '{billed['name']}'",
                                     param="bill_to")
            row = {
                "id": key_id, "hash": key_format.digest(secret), "name": name,
                "user_id": owner_user["id"] if owner_user else None, "org_id": owner_org["id"] if owner_org else None,
                "bill_to": billed["id"] if billed else None,
                "models": _list(models), "providers": _list(providers), "surfaces": _list(surfaces),
                "rpm": limits.get("rpm"), "tpm": limits.get("tpm"), "concurrency": limits.get("concurrency"),
                "budget_nano": budget_nano, "budget_period": budget_period if budget_nano is not None else None,
                "metadata": dict(metadata or {}), "blocked": False, "created_at": now(), "expires_at": expires_at,
                "revoked_at": None, "rotated_at": None,
            }
            await conn.execute(api_keys.insert().values(row))
            return await self._key(conn, key_id), secret

    async def key(self, key_id: str) -> dict[str, Any]:
        async with self.transaction() as conn:
            return await self._key(conn, key_id)

    async def keys(self, *, user: str | None = None, org: str | None = None,
                   revoked: bool = False) -> list[dict[str, Any]]:
        """Keys, newest first: all, or a user's or an organisation's; revoked ones if asked."""
        async with self.transaction() as conn:
            query = _key_query().order_by(api_keys.c.created_at.desc(), api_keys.c.id)
            if user is not None:
                query = query.where(api_keys.c.user_id == (await _get(conn, users, user, "user"))["id"])
            if org is not None:
                query = query.where(api_keys.c.org_id == (await _get(conn, orgs, org, "organisation"))["id"])
            if not revoked:
                query = query.where(api_keys.c.revoked_at.is_(None))
            return [_key(r) for r in (await conn.execute(query)).mappings()]

    async def update_key(self, key_id: str, **changes: Any) -> dict[str, Any]:
        """Change the key's settings named in `changes` (`name`, `blocked`, `models`, `limits`, ...; in
        `limits`, the limits named); None removes one (`models`: any model; `budget_nano`: no budget)."""
        values: dict[str, Any] = {}
        for field, value in changes.items():
            if field == "limits":
                values.update({k: v for k, v in (value or {}).items() if k in LIMITS})
            elif field in ("models", "providers", "surfaces"):
                values[field] = _list(value)
            elif field in ("name", "blocked", "metadata", "expires_at", "budget_nano", "budget_period"):
                values[field] = value
            else:
                raise TypeError(f"update_key: no setting '{field}'")
        async with self.transaction() as conn:
            row = await self._get_key(conn, key_id)
            if values.get("budget_nano") is not None and "budget_period" not in values:
                values["budget_period"] = row["budget_period"] or "month"  # (a new amount: the same period)
            if values:
                await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(values))
            return await self._key(conn, key_id)

    async def revoke_key(self, key_id: str) -> dict[str, Any]:
        async with self.transaction() as conn:
            row = await self._get_key(conn, key_id)
            if row["revoked_at"] is None:
                await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=now()))
            return await self._key(conn, key_id)

    async def rotate_key(self, key_id: str) -> tuple[dict[str, Any], str]:
        """A new secret for the key (same id, settings and usage); the old one stops working at once."""
        secret = key_format.new_key(key_id)
        async with self.transaction() as conn:
            row = await self._get_key(conn, key_id)
            if row["revoked_at"] is not None:
                raise InvalidRequest(f"key {key_id} is revoked: make a new one", param="id")
            await conn.execute(api_keys.update().where(api_keys.c.id == key_id)
                               .values(hash=key_format.digest(secret), rotated_at=now()))
            return await self._key(conn, key_id), secret

    async def key_record(self, key_id: str) -> KeyRecord | None:
        """What authentication needs of key `key_id` (one query), or None when there is no such key."""
        owner = users.alias("owner")
        company = orgs.alias("company")
        limited = orgs.alias("limited")  # the organisation whose limits hold: its owner, else its default bill-to
        query = (
            sa.select(api_keys, owner.c.blocked.label("user_blocked"), owner.c.admin.label("user_admin"),
                      company.c.blocked.label("org_blocked"), *[owner.c[k].label(f"user_{k}") for k in LIMITS],
                      *[limited.c[k].label(f"org_{k}") for k in LIMITS])
            .select_from(api_keys.outerjoin(owner, owner.c.id == api_keys.c.user_id)
                         .outerjoin(company, company.c.id == api_keys.c.org_id)
                         .outerjoin(limited, limited.c.id == sa.func.coalesce(api_keys.c.org_id, api_keys.c.bill_to)))
            .where(api_keys.c.id == key_id)
        )
        async with self.transaction() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return KeyRecord(
            id=row["id"], hash=row["hash"], name=row["name"], user_id=row["user_id"], org_id=row["org_id"],
            bill_to=row["bill_to"], models=_tuple(row["models"]), providers=_tuple(row["providers"]),
            surfaces=_tuple(row["surfaces"]),
            limits={k: row[k] for k in LIMITS if row[k] is not None},
            user_limits={k: row[f"user_{k}"] for k in LIMITS if row[f"user_{k}"] is not None},
            org_limits={k: row[f"org_{k}"] for k in LIMITS if row[f"org_{k}"] is not None},
            budget=_budget(row),
            blocked=bool(row["blocked"] or row["user_blocked"] or row["org_blocked"]),
            admin=bool(row["user_admin"]), expires_at=aware(row["expires_at"]), revoked=row["revoked_at"] is not None,
        )

    async def _get_key(self, conn: AsyncConnection, key_id: str) -> Mapping[Any, Any]:
        row = (await conn.execute(api_keys.select().where(api_keys.c.id == key_id))).mappings().first()
        if row is None:
            raise NotFound(f"no key {key_id}", param="id")
        return row

    async def _key(self, conn: AsyncConnection, key_id: str) -> dict[str, Any]:
        row = (await conn.execute(_key_query().where(api_keys.c.id == key_id))).mappings().first()
        if row is None:
            raise NotFound(f"no key {key_id}", param="id")
        return _key(row)


# --- rows as answers ---------------------------------------------------------------------------------
def _user(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "admin": bool(row["admin"]), "blocked": bool(row["blocked"]),
            "limits": {k: row.get(k) for k in LIMITS}, "metadata": row["metadata"] or {},
            "created_at": iso(row["created_at"])}


def _org(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "blocked": bool(row["blocked"]),
            "limits": {k: row.get(k) for k in LIMITS}, "metadata": row["metadata"] or {},
            "created_at": iso(row["created_at"])}


_RENDER = {"users": _user, "orgs": _org}


def _key_query() -> sa.Select[Any]:
    owner, company, billed = users.alias("owner"), orgs.alias("company"), orgs.alias("billed")
    return (
        sa.select(api_keys, owner.c.name.label("user_name"), company.c.name.label("org_name"),
                  billed.c.name.label("bill_to_name"))
        .select_from(api_keys.outerjoin(owner, owner.c.id == api_keys.c.user_id)
                     .outerjoin(company, company.c.id == api_keys.c.org_id)
                     .outerjoin(billed, billed.c.id == api_keys.c.bill_to))
    )


def _key(row: Mapping[Any, Any]) -> dict[str, Any]:
    expires = aware(row["expires_at"])
    if row["revoked_at"] is not None:
        status = "revoked"
    elif expires is not None and expires <= now():
        status = "expired"
    elif row["blocked"]:
        status = "blocked"
    else:
        status = "active"
    return {
        "id": row["id"], "prefix": key_format.shown(row["id"]), "name": row["name"],
        "user": row["user_name"], "org": row["org_name"], "bill_to": row["bill_to_name"],
        "models": row["models"], "providers": row["providers"], "surfaces": row["surfaces"],
        "limits": {k: row[k] for k in ("rpm", "tpm", "concurrency")},
        "budget": _budget(row), "metadata": row["metadata"] or {}, "blocked": bool(row["blocked"]),
        "status": status, "created_at": iso(row["created_at"]), "expires_at": iso(expires),
        "revoked_at": iso(row["revoked_at"]), "rotated_at": iso(row["rotated_at"]),
    }


def _budget(row: Mapping[Any, Any]) -> dict[str, Any] | None:
    if row["budget_nano"] is None:
        return None
    return {"usd": usd(row["budget_nano"]), "period": row["budget_period"] or "total"}


# --- helpers -------------------------------------------------------------------------------------------
async def _find(conn: AsyncConnection, table: sa.Table, ref: str) -> Mapping[Any, Any] | None:
    """The row whose id or name is `ref` (an id first: names cannot take another row's id)."""
    row = (await conn.execute(table.select().where(table.c.id == ref))).mappings().first()
    if row is None:
        row = (await conn.execute(table.select().where(table.c.name == ref))).mappings().first()
    return row


async def _get(conn: AsyncConnection, table: sa.Table, ref: str, kind: str) -> Mapping[Any, Any]:
    row = await _find(conn, table, ref)
    if row is None:
        raise NotFound(f"no {kind} '{ref}'")
    return row


async def _member_of(conn: AsyncConnection, user_id: str) -> set[str]:
    rows = await conn.execute(sa.select(members.c.org_id).where(members.c.user_id == user_id))
    return {r.org_id for r in rows}


def _check_name(name: str, param: str) -> None:
    if not name or len(name) > 128 or not name.isprintable() or name != name.strip() or "/" in name:
        raise InvalidRequest(f"'{param}' must be 1 to 128 printable characters, without '/' or spaces around "
                             "(a name goes in the admin API's paths)", param=param)


def _list(values: Iterable[str] | None) -> list[str] | None:
    return None if values is None else [str(v) for v in values]


def _tuple(values: Any) -> tuple[str, ...] | None:
    return None if values is None else tuple(str(v) for v in values)


def _constraint(exc: sa_exc.IntegrityError) -> str:
    text = str(exc.orig)
    return text.splitlines()[0][:200] if text else "a constraint"
