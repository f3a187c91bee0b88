"""What the usage ledger says: totals grouped by day, model, provider, user, organisation or key, and
the rows themselves, for the admin API (`GET /admin/v1/usage`) and a key's own view (`GET /v1/key`).

A group's figures: requests, errors (status 400 and above), input / output / cached / reasoning tokens,
images, seconds, characters, and cost in dollars; grouped by several dimensions at once
(`group_by=day,model`). Days are UTC. Periods: a calendar day, a week from Monday, a calendar month,
all UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubroute.errors import InvalidRequest
from hubroute.money import usd
from hubroute.store.accounts import iso
from hubroute.store.schema import orgs, usage, users

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

GROUPS = ("day", "model", "provider", "user", "org", "key", "surface", "task", "status")
_SUMS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "images", "seconds", "characters")
#: the most rows one answer lists (groups are never that many; raw rows are paged with `limit`)
MAX_ROWS = 100_000


def period_start(period: str, now: datetime | None = None) -> datetime | None:
    """When the current `period` began (UTC): `day`, `week` (Monday), `month`; None for `total`."""
    now = now or datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return None


def period_end(period: str, now: datetime | None = None) -> datetime | None:
    """When the current `period` ends (the next one begins); None for `total`."""
    start = period_start(period, now)
    if start is None:
        return None
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _day(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", usage.c.created_at), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", usage.c.created_at)


async def report(
    conn: AsyncConnection, *, group_by: Sequence[str] = (), start: datetime | None = None,
    end: datetime | None = None, user_id: str | None = None, org_id: str | None = None, key_id: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Totals per group (`group_by`), or, with no group, the rows themselves (newest first, `limit`)."""
    for name in group_by:
        if name not in GROUPS:
            raise InvalidRequest(f"'group_by': unknown '{name}' (one of {', '.join(GROUPS)})", param="group_by")
    where = []
    if start is not None:
        where.append(usage.c.created_at >= start)
    if end is not None:
        where.append(usage.c.created_at < end)
    for column, value in ((usage.c.user_id, user_id), (usage.c.org_id, org_id), (usage.c.key_id, key_id)):
        if value is not None:
            where.append(column == value)
    owner, company = users.alias("owner"), orgs.alias("company")
    joined = usage.outerjoin(owner, owner.c.id == usage.c.user_id).outerjoin(company, company.c.id == usage.c.org_id)
    if not group_by:
        query = (sa.select(usage, owner.c.name.label("user"), company.c.name.label("org")).select_from(joined)
                 .where(*where).order_by(usage.c.created_at.desc()).limit(min(limit, MAX_ROWS)))
        return [_row(r) for r in (await conn.execute(query)).mappings()]
    dimensions = {
        "day": _day(conn), "model": usage.c.model, "provider": usage.c.provider, "user": owner.c.name,
        "org": company.c.name, "key": usage.c.key_id, "surface": usage.c.surface, "task": usage.c.task,
        "status": usage.c.status,
    }
    keys = [dimensions[name].label(name) for name in group_by]
    sums = [sa.func.count().label("requests"),
            sa.func.sum(sa.case((usage.c.status >= 400, 1), else_=0)).label("errors"),
            *[sa.func.sum(usage.c[name]).label(name) for name in _SUMS],
            sa.func.sum(usage.c.cost_nano).label("cost_nano")]
    query = (sa.select(*keys, *sums).select_from(joined).where(*where).group_by(*keys)
             .order_by(*keys).limit(MAX_ROWS))
    return [_group(r, group_by) for r in (await conn.execute(query)).mappings()]


_ROW_COLUMNS = ("id", "request_id", "created_at", "key_id", "user", "org", "surface", "provider", "model",
                "provider_model", "task", "status", "error", "attempts", "duration_ms", "ttfb_ms", "usage_source",
                "byok", *_SUMS, "cost_usd", "charged_usd")


def columns(group_by: Sequence[str]) -> list[str]:
    """The fields of a report's items: a group's (its dimensions, then its figures), or a row's."""
    if group_by:
        return [*group_by, "requests", "errors", *_SUMS, "cost_usd"]
    return list(_ROW_COLUMNS)


def _group(row: Any, group_by: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {name: row[name] for name in group_by}
    out["requests"] = int(row["requests"])
    out["errors"] = int(row["errors"] or 0)
    for name in _SUMS:
        value = row[name]
        out[name] = (float(value) if name == "seconds" else int(value)) if value is not None else 0
    out["cost_usd"] = usd(int(row["cost_nano"] or 0))
    return out


def _row(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _ROW_COLUMNS:
        if name == "created_at":
            out[name] = iso(row["created_at"])
        elif name in ("cost_usd", "charged_usd"):
            value = row[name.replace("_usd", "_nano")]
            out[name] = usd(value) if value is not None else None
        else:
            out[name] = row[name]
    return out


async def key_usage(conn: AsyncConnection, key_id: str, now: datetime | None = None) -> dict[str, Any]:
    """A key's totals this day, week and month (UTC): requests, tokens in and out, cost."""
    return {period: await _totals(conn, key_id, period_start(period, now)) for period in ("day", "week", "month")}


async def _totals(conn: AsyncConnection, key_id: str, start: datetime | None) -> dict[str, Any]:
    query = sa.select(sa.func.count().label("requests"),
                      *[sa.func.sum(usage.c[name]).label(name) for name in ("input_tokens", "output_tokens")],
                      sa.func.sum(usage.c.cost_nano).label("cost_nano")).where(usage.c.key_id == key_id)
    if start is not None:
        query = query.where(usage.c.created_at >= start)
    row = (await conn.execute(query)).mappings().one()
    return {"requests": int(row["requests"]), "input_tokens": int(row["input_tokens"] or 0),
            "output_tokens": int(row["output_tokens"] or 0), "cost_usd": usd(int(row["cost_nano"] or 0))}

