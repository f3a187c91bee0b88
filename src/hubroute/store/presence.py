"""Which routers use the store now, so that several of them cannot each hold limits of their own.

    presence = Presence(engine, deployment, shared=redis_configured)
    await presence.start()          # its row in `routers`, refreshed every `interval` seconds
    others = await presence.others()   # the live routers of other deployments
    await presence.close()          # its row deleted

Rate limits, credits and budgets kept in one process's memory hold only if that process (with its
--workers, one deployment) is the only router on the store. Each router keeps a row in `routers`
while it runs; another deployment whose row was refreshed within `stale` seconds is alive (a row of
this machine whose process is gone is not: a router killed and started again is not refused by its
own ghost). `server.serve` refuses to start a deployment that would hold limits of its own beside
another one, and the admin API refuses to set limits while another deployment runs without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubroute.store import stop
from hubroute.store.schema import routers

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("hubroute.store")

HOST = socket.gethostname()[:255]


def new_deployment() -> str:
    return uuid.uuid4().hex


class Presence:
    #: seconds between two refreshes of this router's row
    interval = 5.0
    #: a row older than this is a router that is gone
    stale = 15.0

    def __init__(self, engine: AsyncEngine, deployment: str, *, shared: bool) -> None:
        self.engine = engine
        self.deployment = deployment
        self.shared = shared
        self.id = uuid.uuid4().hex
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(routers).where(routers.c.seen_at < now - timedelta(days=1)))  # (the long dead)
            await conn.execute(routers.insert().values(
                id=self.id, deployment=self.deployment, host=HOST, pid=os.getpid(), shared=self.shared,
                started_at=now, seen_at=now))
        self._task = asyncio.get_running_loop().create_task(self._refresh(), name="hubroute-presence")

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            with contextlib.suppress(Exception):  # (the store down: said by the ledger and the keys)
                async with self.engine.begin() as conn:
                    await conn.execute(routers.update().where(routers.c.id == self.id)
                                       .values(seen_at=datetime.now(UTC)))

    async def others(self) -> list[dict[str, Any]]:
        return await others(self.engine, self.deployment, self.stale)

    async def close(self) -> None:
        await stop(self._task)
        self._task = None
        with contextlib.suppress(Exception):
            async with self.engine.begin() as conn:
                await conn.execute(sa.delete(routers).where(routers.c.id == self.id))


async def others(engine: AsyncEngine, deployment: str, stale: float = Presence.stale) -> list[dict[str, Any]]:
    """The routers of other deployments alive on the store (host, pid, shared), one per deployment."""
    since = datetime.now(UTC) - timedelta(seconds=stale)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(routers).where(
            routers.c.seen_at >= since, routers.c.deployment != deployment))).mappings().all()
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["host"] == HOST and not _alive(row["pid"]):
            continue
        found.setdefault(row["deployment"], dict(row))
    return list(found.values())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def described(router: dict[str, Any]) -> str:
    return f"another router (host {router['host']}, pid {router['pid']})"
