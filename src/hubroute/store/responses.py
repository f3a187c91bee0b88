"""The Responses API's stored responses: kept for `previous_response_id` and `GET /v1/responses/{id}`.

    kept = Responses(engine, retention_days=30, trips=Trips.of(engine))
    await kept.put(response, input_items, owner, previous_id)
    items = await kept.conversation(previous_id, viewer)   # the chain's input and output items, oldest first
    response = await kept.get(response_id, viewer)

Each response is stored once, with its own input items only: a conversation is the chain of its
`previous_id`s, read in one query (a recursive CTE), so a long conversation costs storage linear in
its length. A response is its owner's: the user whose key made it, and the organisation billed for
it (or owning the service key); a viewer who is neither gets None, as for an unknown id (no
enumeration). Responses older than `retention_days` are deleted hourly. A database that cannot be
reached is a 503 (`Unavailable`) for a read; a response that cannot be kept is the caller's to handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from hubroute.errors import Unavailable
from hubroute.store import reason, stop
from hubroute.store.retention import delete_older
from hubroute.store.schema import responses
from hubroute.store.trips import Trips

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("hubroute.store")

#: the most responses a conversation may chain (a bound on the recursive query)
MAX_CHAIN = 10_000


@dataclass(frozen=True)
class Owner:
    """Who made a response, or who asks for one."""

    user: str | None = None
    org: str | None = None
    key: str | None = None
    #: the master key or a keyless deployment: sees every response
    everyone: bool = False

    def sees(self, user: str | None, org: str | None) -> bool:
        return self.everyone or (user is not None and user == self.user) or (org is not None and org == self.org)


@contextlib.asynccontextmanager
async def _reached() -> AsyncIterator[None]:
    """Database failures as our error: 503, the client told to try again (what the database said stays
    in the log's traceback, never in an answer)."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError) as exc:
        raise Unavailable("the store of responses cannot be reached: try again shortly") from exc


class Responses:
    purge_interval = 3600.0

    def __init__(self, engine: AsyncEngine, *, retention_days: float = 30.0, trips: Trips | None = None) -> None:
        self.engine = engine
        #: reads and writes on a request's path, each in one trip to the database (`store.trips`)
        self.trips = trips or Trips(engine)
        self.retention = timedelta(days=retention_days)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._purge_every())

    async def close(self) -> None:
        await stop(self._task)
        self._task = None

    async def put(self, body: dict[str, Any], items: list[dict[str, Any]], owner: Owner,
                  previous_id: str | None) -> None:
        row = {"id": body["id"], "user_id": owner.user, "org_id": owner.org, "key_id": owner.key,
               "previous_id": previous_id, "body": body, "input": items,
               "created_at": datetime.fromtimestamp(body["created_at"], UTC)}
        await self.trips.insert(responses, row)

    async def get(self, response_id: str, viewer: Owner) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The response and its input items, if `viewer` may see it."""
        if "\x00" in response_id:  # (no id holds one, and PostgreSQL's text refuses it)
            return None
        query = (sa.select(responses.c.body, responses.c.input, responses.c.user_id, responses.c.org_id)
                 .where(responses.c.id == response_id))
        async with _reached():
            row = await self.trips.run(lambda conn: conn.execute(query).first())
        if row is None or not viewer.sees(row.user_id, row.org_id):
            return None
        return row.body, row.input

    async def delete(self, response_id: str, viewer: Owner) -> bool:
        if "\x00" in response_id:
            return False

        def delete(conn: sa.Connection) -> bool:
            row = conn.execute(sa.select(responses.c.user_id, responses.c.org_id)
                               .where(responses.c.id == response_id)).first()
            if row is None or not viewer.sees(row.user_id, row.org_id):
                return False
            conn.execute(responses.delete().where(responses.c.id == response_id))
            return True

        async with _reached():
            return await self.trips.run(delete)

    async def conversation(self, response_id: str, viewer: Owner) -> list[dict[str, Any]] | None:
        """The items of the conversation `response_id` ends, oldest first: each response's input
        items then its output; None if there is no such response for `viewer`."""
        if "\x00" in response_id:
            return None
        chain = (sa.select(responses.c.id, responses.c.previous_id, responses.c.user_id, responses.c.org_id,
                           responses.c.body, responses.c.input, sa.literal(0).label("depth"))
                 .where(responses.c.id == response_id).cte("chain", recursive=True))
        earlier = responses.alias("earlier")
        chain = chain.union_all(
            sa.select(earlier.c.id, earlier.c.previous_id, earlier.c.user_id, earlier.c.org_id, earlier.c.body,
                      earlier.c.input, chain.c.depth + 1)
            .where(earlier.c.id == chain.c.previous_id, chain.c.depth < MAX_CHAIN))
        query = sa.select(chain.c.user_id, chain.c.org_id, chain.c.body, chain.c.input,
                          chain.c.depth).order_by(chain.c.depth.desc())
        async with _reached():
            rows = await self.trips.run(lambda conn: conn.execute(query).all())
        if not rows or not viewer.sees(rows[-1].user_id, rows[-1].org_id):
            return None
        items: list[dict[str, Any]] = []
        for row in rows:
            items += _json(row.input)
            items += _json(row.body).get("output") or []
        return items

    async def purge(self) -> int:
        """Delete the responses older than the retention, in bounded statements as the ledger's
        retention does (`store.retention.delete_older`); how many."""
        return await delete_older(self.engine, responses, responses.c.created_at, datetime.now(UTC) - self.retention)

    async def _purge_every(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception as exc:  # (the database is down: the next round will do it)
                log.warning("could not delete the expired responses: %s", reason(exc))
            await asyncio.sleep(self.purge_interval)


def _json(value: Any) -> Any:
    """A JSON column read through the CTE (SQLite hands it back as text there)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value
