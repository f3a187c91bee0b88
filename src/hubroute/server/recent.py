"""What reads of the store gave lately, kept so that requests do not wait for the database.

    budgets = Recent(accounts.budgets_of, ttl=1.0)
    found = await budgets.get(owner)      # the last read; past `ttl`, a new read starts behind it
    found = budgets.known(owner, None)    # the same without waiting: None when never read yet

A value younger than `ttl` is used as it is; an older one is still used while one read in the
background replaces it (one read per key at a time, however many requests want it), so a change
made elsewhere is seen about `ttl` later and no request waits for a read but the first for its key.
While the store cannot be read, the values read before stay in use; a key never read raises the
read's error. At most `bound` keys are kept (the oldest read goes first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from hubroute.errors import Unavailable

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

log = logging.getLogger("hubroute.store")
_MISSING: Any = object()


class Recent(Generic[K, V]):
    def __init__(self, read: Callable[[K], Awaitable[V]], *, ttl: float = 1.0, bound: int = 100_000) -> None:
        self.read = read
        self.ttl = ttl
        self.bound = bound
        self._values: dict[K, tuple[float, V]] = {}
        self._reading: dict[K, asyncio.Task[V]] = {}

    async def get(self, key: K) -> V:
        found = self.known(key, _MISSING)
        if found is _MISSING:
            return await asyncio.shield(self._refresh(key))
        return found

    def known(self, key: K, default: D) -> V | D:
        """`get` for a key read before, without a coroutine (a request's hot path calls this first);
        `default` for one never read, which the caller then awaits with `get`."""
        found = self._values.get(key)
        if found is None:
            return default
        if time.monotonic() - found[0] > self.ttl:
            self._refresh(key)
        return found[1]

    def clear(self) -> None:
        """Forget every value: the next request for each reads it anew (and waits for it)."""
        self._values.clear()

    def _refresh(self, key: K) -> asyncio.Task[V]:
        task = self._reading.get(key)
        if task is None:
            task = self._reading[key] = asyncio.get_running_loop().create_task(self._read(key))
            task.add_done_callback(_retrieved)
        return task

    async def _read(self, key: K) -> V:
        try:
            value = await self.read(key)
        finally:
            self._reading.pop(key, None)
        if key not in self._values and len(self._values) >= self.bound:
            del self._values[next(iter(self._values))]
        self._values[key] = (time.monotonic(), value)
        return value


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A read's outcome taken, so that a failed one in the background is not reported as never seen
    (the store being down is said once, where it is detected); anything else is logged."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, Unavailable):
        log.error("a read of the store failed", exc_info=exc)
